#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

#include "target/node_process.h"

namespace leakscope {
namespace {

InspectorOptions cmd(std::vector<std::string> args, std::string_view node_options = "") {
  args.insert(args.begin(), "/usr/bin/node");
  return parse_inspector_options(args, node_options);
}

TEST(NodeProcessOptions, NothingGivenLeavesDefaults) {
  auto options = cmd({"server.js", "--inspect-port=1234"});  // the script's own argument
  EXPECT_FALSE(options.port);
  EXPECT_FALSE(options.host);
  EXPECT_FALSE(options.disable_sigusr1);
  EXPECT_FALSE(cmd({}).port);
  EXPECT_FALSE(parse_inspector_options({}, "").port);
}

TEST(NodeProcessOptions, EveryForm) {
  EXPECT_EQ(cmd({"--inspect-port=1234", "a.js"}).port, 1234);
  EXPECT_EQ(cmd({"--inspect-port", "1235", "a.js"}).port, 1235);
  EXPECT_EQ(cmd({"--inspect=4000"}).port, 4000);
  EXPECT_EQ(cmd({"--inspect-brk=4001", "a.js"}).port, 4001);
  EXPECT_EQ(cmd({"--inspect-wait=4002"}).port, 4002);
  EXPECT_EQ(cmd({"--debug-port=4003"}).port, 4003);
  EXPECT_EQ(cmd({"--inspect_port=4004"}).port, 4004);
  EXPECT_EQ(cmd({"--inspect-port=0"}).port, 0);
  EXPECT_FALSE(cmd({"--inspect"}).port);

  auto host_port = cmd({"--inspect=0.0.0.0:9230"});
  EXPECT_EQ(host_port.port, 9230);
  EXPECT_EQ(host_port.host, "0.0.0.0");
  auto brk = cmd({"--inspect-brk=10.1.2.3:9331", "app.js"});
  EXPECT_EQ(brk.port, 9331);
  EXPECT_EQ(brk.host, "10.1.2.3");
  auto host_only = cmd({"--inspect=localhost"});
  EXPECT_FALSE(host_only.port);
  EXPECT_EQ(host_only.host, "localhost");
  auto v6 = cmd({"--inspect=[::1]:9555"});
  EXPECT_EQ(v6.port, 9555);
  EXPECT_EQ(v6.host, "::1");
  auto separate = cmd({"--inspect-port", "127.0.0.2:7000"});
  EXPECT_EQ(separate.port, 7000);
  EXPECT_EQ(separate.host, "127.0.0.2");

  EXPECT_TRUE(cmd({"--disable-sigusr1", "x.js"}).disable_sigusr1);
  EXPECT_TRUE(cmd({"--disable_sigusr1"}).disable_sigusr1);
  EXPECT_FALSE(cmd({"x.js", "--disable-sigusr1"}).disable_sigusr1);
}

TEST(NodeProcessOptions, OptionsWithValuesDoNotEndTheList) {
  // Node keeps parsing its options after -e CODE (measured: node 20).
  EXPECT_EQ(cmd({"-e", "setInterval(()=>{},1000)", "--inspect-port=5000"}).port, 5000);
  EXPECT_EQ(cmd({"-r", "dotenv/config", "--inspect=5001", "app.js"}).port, 5001);
  EXPECT_FALSE(cmd({"--", "--inspect=5002"}).port);
  EXPECT_EQ(cmd({"--inspect=5003", "--inspect=5004"}).port, 5004);  // the last wins
}

TEST(NodeProcessOptions, NodeOptionsAndTheCmdlineWins) {
  EXPECT_EQ(cmd({"app.js"}, "--inspect-port=4444").port, 4444);
  EXPECT_EQ(cmd({"--inspect-port=5555", "app.js"}, "--inspect-port=4444").port, 5555);
  auto mixed = cmd({"--inspect-port=5555"}, "--inspect=10.0.0.1:4444 --disable-sigusr1");
  EXPECT_EQ(mixed.port, 5555);
  EXPECT_EQ(mixed.host, "10.0.0.1");
  EXPECT_TRUE(mixed.disable_sigusr1);
  // NODE_OPTIONS has no script: a non-option word ends it as it would a cmdline.
  EXPECT_EQ(cmd({}, "--max-old-space-size=100   --inspect-port=6000").port, 6000);
}

TEST(NodeProcessOptions, NodeOptionsQuoting) {
  EXPECT_EQ(split_node_options(R"(--require "./a b.js" --inspect-port=6001)"),
            (std::vector<std::string>{"--require", "./a b.js", "--inspect-port=6001"}));
  EXPECT_EQ(split_node_options(R"("--title=a \"q\" b")"),
            (std::vector<std::string>{R"(--title=a "q" b)"}));
  EXPECT_EQ(split_node_options(R"(--inspect-port="6002")"),
            (std::vector<std::string>{"--inspect-port=6002"}));
  EXPECT_EQ(cmd({}, R"(--require "./a b.js" --inspect-port="6003")").port, 6003);
  EXPECT_TRUE(split_node_options(R"(--inspect-port=1 "unterminated)").empty());
  EXPECT_TRUE(split_node_options("    ").empty());
}

TEST(NodeProcessOptions, GarbageIsIgnored) {
  EXPECT_FALSE(cmd({"--inspect-port=70000"}).port);
  EXPECT_FALSE(cmd({"--inspect-port=12ab"}).port);
  EXPECT_FALSE(cmd({"--inspect-port=-1"}).port);
  EXPECT_FALSE(cmd({"--inspect-port=99999999999999999999999"}).port);
  EXPECT_FALSE(cmd({"--inspect=host:"}).port);
  EXPECT_FALSE(cmd({"--inspect=[::1"}).port);
  EXPECT_FALSE(cmd({"--inspect-port"}).port);  // no value at the end
  EXPECT_FALSE(cmd({"--inspect="}).port);
  EXPECT_FALSE(parse_host_port(":80"));
  EXPECT_FALSE(parse_host_port(std::string(1000, '1')));

  std::mt19937 rng(42);
  for (int round = 0; round < 2000; ++round) {
    std::string junk(rng() % 300, '\0');
    for (char& c : junk) c = "-=:[]\"\\ 0123456789inspectport\t\n"[rng() % 31];
    parse_inspector_options({"node", junk, junk}, junk);
    parse_host_port(junk);
  }
  std::string huge(1 << 20, '"');
  EXPECT_TRUE(split_node_options(huge).empty() || split_node_options(huge).size() < 2);
  std::string huge_words;
  for (int i = 0; i < 100000; ++i) huge_words += "--inspect-port=1 ";
  EXPECT_LE(split_node_options(huge_words).size(), kMaxNodeOptionsBytes / 2);
}

TEST(NodeProcessEnviron, FindsTheValue) {
  constexpr char kEnviron[] = "PATH=/bin\0NODE_OPTIONS=--inspect-port=9300\0NODE_OPTIONSX=1\0";
  std::string environ(kEnviron, sizeof kEnviron - 1);
  EXPECT_EQ(environ_value(environ, "NODE_OPTIONS"), "--inspect-port=9300");
  EXPECT_FALSE(environ_value(environ, "HOME"));
  EXPECT_FALSE(environ_value("", "NODE_OPTIONS"));
  EXPECT_EQ(environ_value(std::string("NODE_OPTIONS=", 13), "NODE_OPTIONS"), "");
}

TEST(NodeProcessStatus, SigCgt) {
  // Node 20.20.2 as measured here: SIGUSR1 (10) among those caught.
  std::string status =
      "Name:\tnode\nSigQ:\t0/63439\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n"
      "SigBlk:\t0000000000000000\nSigIgn:\t0000000001001000\nSigCgt:\t0000000100004602\n";
  auto mask = parse_sigcgt(status);
  ASSERT_TRUE(mask);
  EXPECT_EQ(*mask, 0x100004602u);
  EXPECT_TRUE(mask_has_signal(*mask, SIGUSR1));
  EXPECT_TRUE(mask_has_signal(*mask, SIGINT));
  EXPECT_FALSE(mask_has_signal(*mask, SIGUSR2));
  auto without = parse_sigcgt("SigCgt:\t0000000100004002\n");
  ASSERT_TRUE(without);
  EXPECT_FALSE(mask_has_signal(*without, SIGUSR1));
  EXPECT_FALSE(parse_sigcgt("Name:\tx\n"));
  EXPECT_FALSE(parse_sigcgt("SigCgt:\tzz\n"));
  EXPECT_FALSE(parse_sigcgt("SigCgt:\t00000000000000000000001\n"));
  EXPECT_FALSE(mask_has_signal(~0ull, 0));
  EXPECT_FALSE(mask_has_signal(~0ull, 65));
  // Our own status parses.
  EXPECT_TRUE(parse_sigcgt("SigCgt:\t0000000000000400"));
}

TEST(NodeProcessName, ExecutableNames) {
  EXPECT_TRUE(is_node_executable_name("node"));
  EXPECT_TRUE(is_node_executable_name("nodejs"));
  EXPECT_TRUE(is_node_executable_name("node-20"));
  EXPECT_TRUE(is_node_executable_name("node (deleted)"));
  EXPECT_FALSE(is_node_executable_name("node-"));
  EXPECT_FALSE(is_node_executable_name("node-x"));
  EXPECT_FALSE(is_node_executable_name("nodemon"));
  EXPECT_FALSE(is_node_executable_name("python3"));
  EXPECT_FALSE(is_node_executable_name(""));
  EXPECT_TRUE(maps_line_is_libnode(
      "7f1c2a000000-7f1c2b000000 r-xp 00000000 08:01 1234   /usr/lib/x86_64-linux-gnu/"
      "libnode.so.108"));
  EXPECT_TRUE(maps_line_is_libnode("7f00-7f01 r--p 00000000 08:01 1 /opt/n/libnode.so"));
  EXPECT_FALSE(maps_line_is_libnode("7f00-7f01 r--p 00000000 08:01 1 /usr/lib/libc.so.6"));
  EXPECT_FALSE(maps_line_is_libnode("7f00-7f01 r--p 00000000 08:01 1 /x/libnode.so/libc.so"));
  EXPECT_FALSE(maps_line_is_libnode("7f00-7f01 rw-p 00000000 00:00 0 [heap]"));
}

// Real lines (this machine, 2026-12-01), with the port changed to 9229 (0x240D).
constexpr const char* kTcp =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
    "timeout inode                                                     \n"
    "   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0   "
    "     0 116 1 00000000d7d8b81f 100 0 0 10 0                       \n"
    "   1: 0100007F:240D 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000   "
    "     0 987654 1 0000000000000000 100 0 0 10 0\n"
    "   2: 0100007F:D064 0100007F:240D 06 00000000:00000000 03:0000123C 00000000     0   "
    "     0 0 3 000000003b128a67                                      \n"
    "   3: 0100007F:240D 0100007F:D068 01 00000000:00000000 00:00000000 00000000     0   "
    "     0 55555 1 0000000000000000 20 4 30 10 -1\n";
constexpr const char* kTcp6 =
    "  sl  local_address                         remote_address                        st "
    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000001000000:240D 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 424242 1 0000000000000000 100 0 0 "
    "10 0\n"
    "   1: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 "
    "10 0\n";

TEST(NodeProcessNetTcp, ListenSocketsOnThePort) {
  EXPECT_EQ(parse_proc_net_tcp(kTcp, 9229), (std::set<uint64_t>{987654}));
  EXPECT_EQ(parse_proc_net_tcp(kTcp, 2024), (std::set<uint64_t>{116}));
  EXPECT_TRUE(parse_proc_net_tcp(kTcp, 53348).empty());  // 0xD064: not listening
  EXPECT_EQ(parse_proc_net_tcp(kTcp6, 9229), (std::set<uint64_t>{424242}));
  EXPECT_EQ(parse_proc_net_tcp(kTcp6, 22), (std::set<uint64_t>{31337}));
  EXPECT_TRUE(parse_proc_net_tcp("", 9229).empty());
  EXPECT_FALSE(parse_proc_net_tcp_line("   1: 0100007F:240D 00000000:0000 0A", 9229));
  EXPECT_FALSE(parse_proc_net_tcp_line(
      "   1: 0100007F:240D 00000000:0000 0A 0:0 0:0 0 0 0 notanumber 1", 9229));
  EXPECT_FALSE(parse_proc_net_tcp_line(
      "   1: 0100007F:240D 00000000:0000 0A 0:0 0:0 0 0 0 0 1", 9229));  // inode 0
  EXPECT_FALSE(parse_proc_net_tcp_line(
      "   1: 0100007F:1240D 00000000:0000 0A 0:0 0:0 0 0 0 7 1", 9229));
  EXPECT_FALSE(parse_proc_net_tcp_line(
      "   1: 0100ZZ7F:240D 00000000:0000 0A 0:0 0:0 0 0 0 7 1", 9229));

  std::mt19937 rng(7);
  std::string junk(1 << 20, ' ');
  for (char& c : junk) c = "0A: \n240D1F"[rng() % 12];
  parse_proc_net_tcp(junk, 9229);  // does not crash
}

TEST(NodeProcessNetTcp, SocketLinks) {
  EXPECT_EQ(parse_socket_link("socket:[987654]"), 987654u);
  EXPECT_FALSE(parse_socket_link("socket:[]"));
  EXPECT_FALSE(parse_socket_link("socket:[12x]"));
  EXPECT_FALSE(parse_socket_link("pipe:[1234]"));
  EXPECT_FALSE(parse_socket_link("/dev/null"));
  EXPECT_FALSE(parse_socket_link("socket:[99999999999999999999999]"));
}

TEST(NodeProcessLive, OurselvesAndGoneProcesses) {
  EXPECT_FALSE(read_node_process(::getpid()));  // unit_tests is not node
  EXPECT_FALSE(read_node_process(0));
  EXPECT_FALSE(read_node_process(-5));
  EXPECT_EQ(listener_on_port(0, 9229), PortHolder::None);
}

}  // namespace
}  // namespace leakscope
