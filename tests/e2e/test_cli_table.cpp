// Malformed command lines, one table: each is refused before tracing starts
// with exactly one line on stderr, "leakscope: error: ...", nothing on
// stdout, and the exit code README "Exit codes" gives it (issue 15).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "harness.h"

using namespace e2e;

namespace {

struct Case {
  std::vector<std::string> args;  // {pid}, {gone}, {dir}, {file}, {busy} are filled in
  int code;
  std::string says;  // a piece of the message, "" when any will do
  bool as_nobody = false;
};

// A trace given no --duration gets --duration 30: a refusal that came only
// after tracing started would take that long, not a moment.
constexpr double kQuick = 5;

pid_t unused_pid() {
  for (pid_t p = 4000000; p > 1000; --p)
    if (::kill(p, 0) != 0 && errno == ESRCH) return p;
  return 4194303;
}

// A TCP port on 127.0.0.1 that this test listens on, so no one else can.
class BusyPort {
 public:
  BusyPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
        ::listen(fd_, 1) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("cannot listen on 127.0.0.1");
    port_ = ntohs(a.sin_port);
  }
  ~BusyPort() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

std::string shown(const std::vector<std::string>& args) {
  std::string out = "leakscope";
  for (const auto& a : args) out += " '" + a + "'";
  return out;
}

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST(CliTableE2E, MalformedInvocationsAreRefusedInOneLineBeforeTracing) {
  Fixture fx("leaky");
  BusyPort busy;
  char tmpl[] = "/tmp/leakscope-cli-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string file = dir + "/a-file";
  std::ofstream(file) << "not a socket, not a directory\n";
  const std::string long_name = dir + "/" + std::string(120, 's') + ".sock";

  const std::vector<Case> cases = {
      // No command, unknown commands and flags.
      {{}, 2, "subcommand"},
      {{"bogus"}, 2, ""},
      {{"--bogus"}, 2, ""},
      {{"trace"}, 2, "give -p PID"},
      {{"trace", "--"}, 2, "give -p PID"},
      {{"trace", "-p", "{pid}", "--no-such-flag"}, 2, "--no-such-flag"},
      {{"trace", "-p", "{pid}", "stray"}, 2, "after --"},
      // -p: missing, empty, not a number, out of range; gone, kernel thread; not root.
      {{"trace", "-p"}, 2, ""},
      {{"trace", "-p", ""}, 2, "empty"},
      {{"trace", "-p", "abc"}, 2, "not a PID"},
      {{"trace", "-p", "0"}, 2, "not a PID"},
      {{"trace", "-p", "-5"}, 2, ""},
      {{"trace", "-p", "12,,13"}, 2, "not a PID"},
      {{"trace", "-p", "+12"}, 2, "not a PID"},
      {{"trace", "-p", "99999999999"}, 2, "not a PID"},
      {{"trace", "-p", "4194304"}, 2, "not a PID"},
      {{"trace", "-p", "{gone}"}, 3, "no process"},
      {{"trace", "-p", "2"}, 7, "kernel thread"},
      {{"trace", "-p", "{pid}"}, 4, "root", /*as_nobody=*/true},
      // Durations: junk, empty, negative, zero, overflow, past their bounds.
      {{"trace", "-p", "{pid}", "--tick", "fast"}, 2, "not a duration"},
      {{"trace", "-p", "{pid}", "--tick", ""}, 2, ""},
      {{"trace", "-p", "{pid}", "--tick", "0"}, 2, "too short"},
      {{"trace", "-p", "{pid}", "--tick", "10ms"}, 2, "too short"},
      {{"trace", "-p", "{pid}", "--tick", "-1s"}, 2, "not a duration"},
      {{"trace", "-p", "{pid}", "--tick", "61s"}, 2, "at most 1m"},
      {{"trace", "-p", "{pid}", "--tick", "2m"}, 2, "too long"},
      {{"trace", "-p", "{pid}", "--tick", "1s5"}, 2, "not a duration"},
      {{"trace", "-p", "{pid}", "--duration", ""}, 2, ""},
      {{"trace", "-p", "{pid}", "--duration", "0"}, 2, "too short"},
      {{"trace", "-p", "{pid}", "--duration", "-5"}, 2, "not a duration"},
      {{"trace", "-p", "{pid}", "--duration", "5x"}, 2, "not a duration"},
      {{"trace", "-p", "{pid}", "--duration", "1e400"}, 2, "not a duration"},
      {{"trace", "-p", "{pid}", "--duration", "99999999999999999999h"}, 2, "too long"},
      {{"trace", "-p", "{pid}", "--interval", "0"}, 2, "too short"},
      {{"trace", "-p", "{pid}", "--window", "9999999h"}, 2, "too long"},
      // Numbers.
      {{"trace", "-p", "{pid}", "--top", "0"}, 2, "--top"},
      {{"trace", "-p", "{pid}", "--top", "10x"}, 2, "--top"},
      {{"trace", "-p", "{pid}", "--top", "99999999999999999999"}, 2, "--top"},
      {{"trace", "-p", "{pid}", "--max-objects", "abc"}, 2, "--max-objects"},
      {{"trace", "-p", "{pid}", "--sample", "0"}, 2, "--sample"},
      {{"trace", "-p", "{pid}", "--js-interval", "1"}, 2, "--js-interval"},
      // Where output goes: empty, unwritable, the wrong kind of file.
      {{"trace", "-p", "{pid}", "--json", ""}, 2, "empty"},
      {{"trace", "-p", "{pid}", "--json", "/nonexistent/dir/report.json"}, 2, "/nonexistent/dir"},
      {{"trace", "-p", "{pid}", "--json", "{dir}"}, 2, "is a directory"},
      {{"trace", "-p", "{pid}", "--control", ""}, 2, "empty"},
      {{"trace", "-p", "{pid}", "--control", "/nonexistent/dir/x.sock"}, 2, "--control"},
      {{"trace", "-p", "{pid}", "--control", "{file}"}, 2, "not a socket"},
      {{"trace", "-p", "{pid}", "--control", long_name}, 2, "longer"},
      {{"trace", "-p", "{pid}", "--control", "{dir}/x.sock", "--no-control"}, 2, "--no-control"},
      {{"trace", "-p", "{pid}", "--report-dir", ""}, 2, "empty"},
      {{"trace", "-p", "{pid}", "--report-dir", "/nonexistent/a/b"}, 2, "--report-dir"},
      {{"trace", "-p", "{pid}", "--report-dir", "{file}"}, 2, "not a directory"},
      {{"trace", "-p", "{pid}", "--report-every", "10s"}, 2, "--report-dir"},
      {{"trace", "-p", "{pid}", "--format", "json"}, 2, "--report-dir"},
      {{"trace", "-p", "{pid}", "--report-dir", "{dir}", "--format", "xml"}, 2, "xml"},
      {{"trace", "-p", "{pid}", "--alert", ""}, 2, "empty"},
      {{"trace", "-p", "{pid}", "--alert", "bogus:x"}, 2, "alert sink"},
      {{"trace", "-p", "{pid}", "--alert", "jsonl:/nonexistent/dir/a.jsonl"}, 2, "cannot open"},
      // --metrics: malformed, no local address, a port in use.
      {{"trace", "-p", "{pid}", "--metrics", ""}, 2, "empty"},
      {{"trace", "-p", "{pid}", "--metrics", "nope"}, 2, "':PORT'"},
      {{"trace", "-p", "{pid}", "--metrics", "127.0.0.1:99999"}, 2, "port"},
      {{"trace", "-p", "{pid}", "--metrics", "192.0.2.1:9464"}, 2, "cannot listen"},
      {{"trace", "-p", "{pid}", "--metrics", "127.0.0.1:{busy}"}, 2, "in use"},
      // Choices and rates.
      {{"trace", "-p", "{pid}", "--kinds", "heap,bogus"}, 2, "bogus"},
      {{"trace", "-p", "{pid}", "--kinds", ""}, 2, ""},
      {{"trace", "-p", "{pid}", "--weight", "heavy"}, 2, "heavy"},
      {{"trace", "-p", "{pid}", "--min-rate", "fast"}, 2, "not a rate"},
      {{"trace", "-p", "{pid}", "--btf", ""}, 2, "empty"},
      {{"trace", "-p", "{pid}", "--btf", "/nonexistent/vmlinux"}, 5, "BTF"},
      // Flags that conflict or need another.
      {{"trace", "--all", "-p", "{pid}"}, 2, "--all"},
      {{"trace", "-p", "{pid}", "--comm", "x"}, 2, "--all"},
      {{"trace", "-p", "{pid}", "--drill-rate", "1KiB"}, 2, "--all"},
      {{"trace", "-p", "{pid}", "--drill-js"}, 2, "--all"},
      {{"trace", "-p", "{pid}", "--follow-children", "--no-follow-children"}, 2, ""},
      // A command that cannot start.
      {{"trace", "--", "/nonexistent/program"}, 7, "cannot run"},
      {{"trace", "--", "{dir}"}, 7, "cannot run"},
      {{"trace", "--", ""}, 2, "empty"},
      // The control clients.
      {{"report", "--format", "xml"}, 2, "xml"},
      {{"report", "--control", ""}, 2, "empty"},
      {{"report", "--top", "0"}, 2, "--top"},
      {{"report", "--top", "abc"}, 2, "--top"},
      {{"report", "--weight", "heavy"}, 2, "heavy"},
      {{"report", "--format", "json,text"}, 2, "-o"},
      {{"report", "-o", ""}, 2, "empty"},
      {{"report", "-o", "/nonexistent/dir/now.txt"}, 2, "/nonexistent/dir"},
      {{"attach"}, 2, "pid"},
      {{"attach", "abc"}, 2, "not a PID"},
      {{"attach", "0"}, 2, "not a PID"},
      {{"detach", "-5"}, 2, ""},
      {{"detach", "1", "2"}, 2, ""},
      {{"status", "--control", ""}, 2, "empty"},
      {{"status", "--bogus"}, 2, "--bogus"},
      {{"status", "extra"}, 2, "extra"},
      {{"status", "--control", "/nonexistent/x.sock"}, 8, ""},
  };
  ASSERT_GE(cases.size(), 40u);

  const std::string gone = std::to_string(unused_pid());
  for (const Case& c : cases) {
    std::vector<std::string> args;
    for (std::string a : c.args) {
      auto fill = [&a](const std::string& key, const std::string& value) {
        for (size_t at; (at = a.find(key)) != std::string::npos;) a.replace(at, key.size(), value);
      };
      fill("{pid}", std::to_string(fx.pid()));
      fill("{gone}", gone);
      fill("{dir}", dir);
      fill("{file}", file);
      fill("{busy}", std::to_string(busy.port()));
      args.push_back(a);
    }
    if (!args.empty() && args[0] == "trace" &&
        std::find(args.begin(), args.end(), "--duration") == args.end())
      args.insert(std::find(args.begin(), args.end(), "--"), {"--duration", "30"});

    const auto start = std::chrono::steady_clock::now();
    Leakscope ls(args, c.as_nobody);
    const int code = ls.wait(60);
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string err = ls.err(), out = ls.out();
    SCOPED_TRACE(shown(args) + "\nstderr: " + err);
    EXPECT_EQ(code, c.code);
    EXPECT_EQ(lines(err), 1);
    EXPECT_TRUE(err.starts_with("leakscope: error: "));
    if (!c.says.empty()) {
      EXPECT_NE(err.find(c.says), std::string::npos) << "expected: " << c.says;
    }
    EXPECT_EQ(out, "");
    EXPECT_LT(took, kQuick) << "refused only after " << took << " s: not before tracing";
  }
  EXPECT_TRUE(fx.running());
  (void)std::system(("rm -rf '" + dir + "'").c_str());
}

// A live process whose memory map is refused to leakscope is a permission
// error, not a process that "exited". PID 1 of a container that holds
// capabilities we do not is one; where /proc/1/maps is readable there is
// nothing to show (and PID 1 is not traced for it).
TEST(CliTableE2E, UnreadableProcessIsPermissionNotGone) {
  if (std::ifstream("/proc/1/maps").is_open()) GTEST_SKIP() << "/proc/1/maps is readable here";
  Leakscope ls({"trace", "-p", "1", "--duration", "30"});
  EXPECT_EQ(ls.wait(60), 4) << ls.err();
  EXPECT_EQ(lines(ls.err()), 1) << ls.err();
  EXPECT_TRUE(ls.err().starts_with("leakscope: error: permission denied")) << ls.err();
  EXPECT_EQ(ls.out(), "");
}
