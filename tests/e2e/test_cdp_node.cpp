// Node's inspector for real (/usr/bin/node): opened by SIGUSR1, spoken to
// over the DevTools protocol, closed again by process._debugEnd(), in our
// network namespace and in one of its own. Root (setns, unshare).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "runtimes/cdp_connection.h"
#include "target/node_process.h"
#include "services.h"

namespace leakscope {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kNode = "/usr/bin/node";
constexpr const char* kIdle = "setInterval(()=>{},1000)";

// Children: e2e::Program (services.h), killed and reaped whatever path the test takes.
using Child = e2e::Program;

InspectorEndpoint in_netns_of(pid_t pid) {
  InspectorEndpoint endpoint;
  endpoint.netns_pid = pid;
  return endpoint;
}

bool poll_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

// Node as read from /proc once it has set its signal handlers (before that,
// SIGUSR1 would kill it).
std::optional<NodeProcess> wait_node_ready(pid_t pid) {
  std::optional<NodeProcess> node;
  poll_until(
      [&] {
        node = read_node_process(pid);
        return node && node->sigusr1_caught;
      },
      5s);
  return node;
}

// The whole exchange with a Node whose inspector SIGUSR1 opens.
void inspect_and_close(const Child& child, pid_t netns_pid) {
  ASSERT_EQ(listener_on_port(child.pid(), 9229), PortHolder::None)
      << "port 9229 is already taken in the target's network namespace";
  ASSERT_EQ(::kill(child.pid(), SIGUSR1), 0);
  ASSERT_TRUE(
      poll_until([&] { return listener_on_port(child.pid(), 9229) == PortHolder::Target; }, 5s));

  std::string error;
  auto cdp = CdpConnection::open(in_netns_of(netns_pid), 5s, &error);
  ASSERT_TRUE(cdp) << error;
  EXPECT_EQ(cdp->runtime_version().rfind("v20", 0), 0u) << cdp->runtime_version();

  auto sum = cdp->call("Runtime.evaluate", {{"expression", "1+2"}, {"returnByValue", true}}, 5s);
  ASSERT_TRUE(sum.ok) << sum.error;
  EXPECT_EQ(sum.result["result"]["value"], 3) << sum.result.dump();

  auto start = cdp->call("HeapProfiler.startSampling", {{"samplingInterval", 32768}}, 5s);
  ASSERT_TRUE(start.ok) << start.error;
  auto grow = cdp->call(
      "Runtime.evaluate",
      {{"expression", "globalThis.kept = Array.from({length: 20000}, (_, i) => ({i})); 0"}}, 5s);
  ASSERT_TRUE(grow.ok) << grow.error;
  auto profile = cdp->call("HeapProfiler.getSamplingProfile", json::object(), 10s);
  ASSERT_TRUE(profile.ok) << profile.error;
  ASSERT_TRUE(profile.result.contains("profile")) << profile.result.dump().substr(0, 300);
  EXPECT_TRUE(profile.result["profile"]["head"].contains("callFrame"));
  EXPECT_TRUE(profile.result["profile"]["samples"].is_array());
  EXPECT_FALSE(profile.result["profile"]["samples"].empty());
  auto unknown = cdp->call("Nothing.here", json::object(), 5s);
  EXPECT_FALSE(unknown.ok);
  EXPECT_FALSE(unknown.error.empty());
  EXPECT_TRUE(cdp->is_open());

  EXPECT_TRUE(cdp->send("Runtime.evaluate", {{"expression", "process._debugEnd()"}}));
  EXPECT_TRUE(
      poll_until([&] { return listener_on_port(child.pid(), 9229) == PortHolder::None; }, 5s));
  cdp->close();
  EXPECT_FALSE(cdp->is_open());
  EXPECT_TRUE(child.running());
}

TEST(CdpNode, Sigusr1OpensTheInspectorAndDebugEndClosesIt) {
  Child child({kNode, "-e", kIdle});
  auto node = wait_node_ready(child.pid());
  ASSERT_TRUE(node);
  EXPECT_EQ(node->exe, kNode);
  EXPECT_EQ(node->inspector_port, 9229);
  EXPECT_EQ(node->inspector_host, "127.0.0.1");
  EXPECT_FALSE(node->sigusr1_disabled);
  EXPECT_TRUE(node->sigusr1_caught);
  inspect_and_close(child, 0);
}

// Node 20 refuses --disable-sigusr1 ("bad option": it came with Node 22.14),
// so the process that does not catch SIGUSR1 is a copy of sleep named node,
// the options in its NODE_OPTIONS (sleep would refuse them as arguments).
TEST(CdpNode, DisableSigusr1LeavesTheSignalUncaught) {
  char dir_template[] = "/tmp/leakscope-node-XXXXXX";
  ASSERT_TRUE(::mkdtemp(dir_template));
  std::string dir = dir_template;
  std::string fake = dir + "/node";
  ASSERT_EQ(std::system(("cp /bin/sleep " + fake).c_str()), 0);
  {
    ::setenv("NODE_OPTIONS", "--disable-sigusr1 --inspect=0.0.0.0:9339", 1);
    Child child({fake, "30"});
    ::unsetenv("NODE_OPTIONS");
    std::optional<NodeProcess> node;
    ASSERT_TRUE(poll_until([&] { return (node = read_node_process(child.pid())).has_value(); }, 5s));
    EXPECT_EQ(node->exe, fake);
    EXPECT_TRUE(node->sigusr1_disabled);
    EXPECT_FALSE(node->sigusr1_caught);
    EXPECT_EQ(node->inspector_port, 9339);
    EXPECT_EQ(node->inspector_host, "0.0.0.0");
    EXPECT_EQ(listener_on_port(child.pid(), 9339), PortHolder::None);
  }
  std::system(("rm -rf " + dir).c_str());
}

// The port from NODE_OPTIONS in /proc/PID/environ, and the cmdline winning over it.
TEST(CdpNode, InspectorPortFromNodeOptions) {
  ::setenv("NODE_OPTIONS", "--inspect-port=9444", 1);
  Child from_env({kNode, "-e", kIdle});
  Child from_cmdline({kNode, "--inspect-port=9339", "-e", kIdle});
  ::unsetenv("NODE_OPTIONS");
  auto env_node = wait_node_ready(from_env.pid());
  auto cmd_node = wait_node_ready(from_cmdline.pid());
  ASSERT_TRUE(env_node);
  ASSERT_TRUE(cmd_node);
  EXPECT_EQ(env_node->inspector_port, 9444);
  EXPECT_EQ(cmd_node->inspector_port, 9339);
  EXPECT_TRUE(env_node->sigusr1_caught);
}

TEST(CdpNode, InspectorInTheTargetsOwnNetworkNamespace) {
  std::string script = std::string("ip link set lo up && exec ") + kNode + " -e '" + kIdle + "'";
  Child child({"/usr/bin/unshare", "--net", "/bin/sh", "-c", script});
  auto node = wait_node_ready(child.pid());
  ASSERT_TRUE(node) << "node did not start inside unshare --net";
  ASSERT_EQ(::kill(child.pid(), SIGUSR1), 0);
  ASSERT_TRUE(
      poll_until([&] { return listener_on_port(child.pid(), 9229) == PortHolder::Target; }, 5s));
  // Its 127.0.0.1:9229 is not ours.
  EXPECT_NE(listener_on_port(::getpid(), 9229), PortHolder::Target);
  if (listener_on_port(::getpid(), 9229) == PortHolder::None) {
    std::string error;
    EXPECT_FALSE(CdpConnection::open(InspectorEndpoint{}, 2s, &error));
    EXPECT_NE(error.find("Connection refused"), std::string::npos) << error;
  }
  // From inside its namespace; the port is closed again by _debugEnd.
  std::string error;
  auto cdp = CdpConnection::open(in_netns_of(child.pid()), 5s, &error);
  ASSERT_TRUE(cdp) << error;
  auto sum = cdp->call("Runtime.evaluate", {{"expression", "6*7"}, {"returnByValue", true}}, 5s);
  ASSERT_TRUE(sum.ok) << sum.error;
  EXPECT_EQ(sum.result["result"]["value"], 42);
  EXPECT_TRUE(cdp->send("Runtime.evaluate", {{"expression", "process._debugEnd()"}}));
  EXPECT_TRUE(
      poll_until([&] { return listener_on_port(child.pid(), 9229) == PortHolder::None; }, 5s));
  cdp.reset();
  EXPECT_TRUE(child.running());
}

}  // namespace
}  // namespace leakscope
