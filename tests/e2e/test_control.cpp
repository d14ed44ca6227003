// Reports on demand while targets run: the control socket, signals, the
// report directory, runtime attach/detach.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include "control/client.h"
#include "core/errors.h"
#include "harness.h"
#include "services.h"

using namespace e2e;
using nlohmann::json;

namespace {

std::string socket_path(const std::string& what) {
  return "/tmp/leakscope-e2e-" + what + "-" + std::to_string(::getpid()) + ".sock";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') out.push_back(e->d_name);
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string make_temp_dir() {
  char tmpl[] = "/tmp/leakscope-e2e-dir-XXXXXX";
  return ::mkdtemp(tmpl);
}

template <typename Pred>
bool eventually(double seconds, Pred pred) {
  auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < seconds) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return pred();
}

long long live_bytes_at(const json& report, const std::string& site) {
  const json* s = find_stack(report, site);
  return s ? (*s)["live_bytes"].get<long long>() : -1;
}

}  // namespace

TEST(ControlE2E, ReportsOverTheSocketWhileTheTargetRuns) {
  Fixture fx("patterns", {"steady"});
  std::string sock = socket_path("report");
  Leakscope ls({"trace", "-p", std::to_string(fx.pid()), "--tick", "200ms", "--control", sock});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  struct stat st {};
  ASSERT_EQ(::stat(sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, 0u);
  fx.go();
  std::this_thread::sleep_for(std::chrono::seconds(2));

  std::string first = "/tmp/leakscope-e2e-first.json", second = "/tmp/leakscope-e2e-second.json";
  auto [c1, e1] = run_leakscope({"report", "--control", sock, "--format", "json", "-o", first});
  ASSERT_EQ(c1, 0) << e1;
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto [c2, e2] = run_leakscope({"report", "--control", sock, "--format", "json", "-o", second});
  ASSERT_EQ(c2, 0) << e2;
  long long a = live_bytes_at(json::parse(slurp(first)), "leak_steadily");
  long long b = live_bytes_at(json::parse(slurp(second)), "leak_steadily");
  EXPECT_GT(a, 0);
  EXPECT_GT(b, a + 10 * 1024) << "the second report must show the growth";

  // Several formats at once, readable by the tools people use.
  std::string prefix = "/tmp/leakscope-e2e-multi";
  auto [c3, e3] = run_leakscope(
      {"report", "--control", sock, "--format", "text,folded,pprof,html", "-o", prefix});
  ASSERT_EQ(c3, 0) << e3;
  EXPECT_NE(slurp(prefix + ".txt").find("leak_steadily"), std::string::npos);
  EXPECT_NE(slurp(prefix + ".folded").find("leak_steadily"), std::string::npos);
  EXPECT_NE(slurp(prefix + ".html").find("leak_steadily"), std::string::npos);
  // A Go heap profile to pprof: its own -inuse_space and -alloc_space read it.
  for (const char* index : {"-inuse_space", "-alloc_space", "-inuse_objects", "-alloc_objects"}) {
    auto [pc, pout] = run_command("HOME=/tmp GOCACHE=/tmp/leakscope-e2e-gocache GOPATH=/tmp/leakscope-e2e-gopath "
                                  "go tool pprof " + std::string(index) + " -top " + prefix + ".pb.gz");
    EXPECT_EQ(pc, 0) << index << "\n" << pout;
    EXPECT_NE(pout.find(std::string("Type: ") + (index + 1)), std::string::npos) << pout;
    EXPECT_NE(pout.find("leak_steadily"), std::string::npos) << index << "\n" << pout;
  }
  for (const char* ext : {".txt", ".folded", ".html", ".pb.gz"}) std::remove((prefix + ext).c_str());
  std::remove(first.c_str());
  std::remove(second.c_str());

  EXPECT_EQ(ls.stop(), 0);
  EXPECT_TRUE(fx.running());
  EXPECT_NE(::access(sock.c_str(), F_OK), 0) << "the socket is removed on exit";
}

// One raw line to the socket, the reply's header line back ("" when none).
std::string raw_request(const std::string& sock, const std::string& line) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "";
  }
  (void)!::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
  std::string reply;
  char c;
  while (::recv(fd, &c, 1, 0) == 1 && c != '\n') reply += c;
  ::close(fd);
  return reply;
}

TEST(ControlE2E, MalformedRequestsGetAnErrorAndTheTraceGoesOn) {
  Fixture fx("patterns", {"steady"});
  std::string sock = socket_path("malformed");
  std::string report_path = "/tmp/leakscope-e2e-malformed-" + std::to_string(::getpid()) + ".json";
  Leakscope ls({"trace", "-p", std::to_string(fx.pid()), "--tick", "200ms", "-q", "--control", sock, "--json",
                report_path});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  const std::vector<std::string> lines = {
      R"({"cmd":123})",
      R"({"cmd":null})",
      R"({"cmd":"report","top":"x"})",
      R"({"cmd":"report","formats":"json"})",
      R"({"cmd":"attach","pid":"1"})",
      R"({"cmd":"detach","pid":-5})",
      R"({"cmd":"shutdown"})",
      R"([1,2,3])",
      "not json at all",
      "{\"cmd\":\"\xff\xfe\"}",
  };
  for (const std::string& line : lines) {
    json reply = json::parse(raw_request(sock, line + "\n"), nullptr, false);
    ASSERT_TRUE(reply.is_object()) << "no reply to " << line << "\n" << ls.err();
    EXPECT_EQ(reply["ok"], false) << line;
    EXPECT_TRUE(reply["error"].is_string()) << line;
  }
  // Still tracing, and answering.
  leakscope::ClientReply status = leakscope::control_request(sock, {{"cmd", "status"}});
  EXPECT_EQ(status.header["ok"], true);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(ls.stop(), 0) << ls.err();
  json report = take_json(report_path);
  ASSERT_FALSE(report.is_null()) << "the final report is written";
  EXPECT_GT(live_bytes_at(report, "leak_steadily"), 0);
  EXPECT_TRUE(fx.running());
}

// A tracer killed with -9 leaves its socket in /run/leakscope: the next
// tracer removes it, and `leakscope status` finds the live one meanwhile.
TEST(ControlE2E, StaleSocketsOfDeadTracersAreNotTakenForLiveOnes) {
  Fixture fx("patterns", {"steady"});
  Leakscope first({"trace", "-p", std::to_string(fx.pid()), "-q"});
  ASSERT_TRUE(first.wait_tracing()) << first.err();
  const std::string first_sock = "/run/leakscope/leakscope-" + std::to_string(first.pid()) + ".sock";
  ASSERT_EQ(::access(first_sock.c_str(), F_OK), 0);
  ASSERT_EQ(::kill(first.pid(), SIGKILL), 0);
  first.wait();
  ASSERT_EQ(::access(first_sock.c_str(), F_OK), 0) << "kill -9 leaves the socket behind";

  // Another stale one, of a PID that is no leakscope, made by hand.
  // PIDs above pid_max are never a process.
  const std::string fake_sock = "/run/leakscope/leakscope-99999999.sock";
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", fake_sock.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    ::close(fd);
  }
  auto [status_code, status_err] = run_leakscope({"status"});
  EXPECT_EQ(status_err.find("several"), std::string::npos) << status_err;
  EXPECT_EQ(status_code, 8) << "none is running (NotRunning): " << status_err;

  Leakscope second({"trace", "-p", std::to_string(fx.pid()), "-q"});
  ASSERT_TRUE(second.wait_tracing()) << second.err();
  EXPECT_NE(::access(first_sock.c_str(), F_OK), 0) << "the next tracer removes a dead one's socket";
  EXPECT_NE(::access(fake_sock.c_str(), F_OK), 0);
  auto [code, err] = run_leakscope({"status"});
  EXPECT_EQ(code, 0) << err;
  EXPECT_EQ(second.stop(), 0) << second.err();
}

TEST(ControlE2E, AttachAndDetachAtRunTime) {
  Fixture a("patterns", {"steady"}), b("leaky");
  std::string sock = socket_path("attach");
  Leakscope ls({"trace", "-p", std::to_string(a.pid()), "--tick", "200ms", "--control", sock});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  a.go();

  auto [code, err] = run_leakscope({"attach", std::to_string(b.pid()), "--control", sock});
  ASSERT_EQ(code, 0) << err;
  b.go();
  auto expects = b.wait_done();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));

  std::string status_file = "/tmp/leakscope-e2e-status.json";
  {
    Leakscope st({"status", "--control", sock, "--json"});
    ASSERT_EQ(st.wait(), 0) << st.err();
    json s = json::parse(st.out());
    ASSERT_EQ(s["targets"].size(), 2u);
    for (const auto& t : s["targets"]) EXPECT_EQ(t["state"], "traced");
    EXPECT_GT(s["probes"].get<int>(), 0);
  }
  std::string report = "/tmp/leakscope-e2e-attach.json";
  ASSERT_EQ(run_leakscope({"report", "--control", sock, "--format", "json", "-o", report}).first, 0);
  json r = json::parse(slurp(report));
  const json* leak = find_stack(r, "cache_put", b.pid());
  ASSERT_NE(leak, nullptr) << r.dump();
  EXPECT_EQ((*leak)["live_bytes"], expects.at("cache_put").bytes);

  // Detach the first: it keeps running, its ledger stays, tracing goes on.
  auto [dc, derr] = run_leakscope({"detach", std::to_string(a.pid()), "--control", sock});
  ASSERT_EQ(dc, 0) << derr;
  {
    Leakscope st({"status", "--control", sock, "--json"});
    ASSERT_EQ(st.wait(), 0);
    json s = json::parse(st.out());
    for (const auto& t : s["targets"])
      EXPECT_EQ(t["state"], t["pid"] == a.pid() ? "detached" : "traced") << t.dump();
  }
  ASSERT_EQ(run_leakscope({"report", "--control", sock, "--format", "json", "-o", report}).first, 0);
  r = json::parse(slurp(report));
  std::remove(report.c_str());
  bool found = false;
  for (const auto& p : r["processes"])
    if (p["pid"] == a.pid()) {
      found = true;
      EXPECT_TRUE(p["detached"].get<bool>());
      EXPECT_FALSE(p["exited"].get<bool>());
    }
  EXPECT_TRUE(found);
  EXPECT_NE(find_stack(r, "leak_steadily", a.pid()), nullptr);
  // Detaching an unknown PID is a clear error.
  auto [bad, berr] = run_leakscope({"detach", "1", "--control", sock});
  EXPECT_NE(bad, 0);
  EXPECT_NE(berr.find("not being traced"), std::string::npos) << berr;
  EXPECT_EQ(ls.stop(), 0);
  EXPECT_TRUE(a.running());
  EXPECT_TRUE(b.running());
}

TEST(ControlE2E, Sigusr1WritesReportsAtomicallyAndPrunesOldOnes) {
  Fixture fx("patterns", {"steady"});
  std::string dir = make_temp_dir();
  std::string victim = "/tmp/leakscope-e2e-victim";
  std::ofstream(victim) << "precious\n";
  // Plant symlinks where the next reports may be written: a writer that
  // followed them would overwrite the victim.
  std::time_t now = std::time(nullptr);
  for (int dt = 0; dt < 20; ++dt) {
    std::time_t t = now + dt;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    for (int seq = 1; seq <= 3; ++seq) {
      char name[128];
      std::snprintf(name, sizeof name, "%s/leakscope-report-%s-%04d.json", dir.c_str(), stamp, seq);
      ASSERT_EQ(::symlink(victim.c_str(), name), 0);
    }
  }
  Leakscope ls({"trace", "-p", std::to_string(fx.pid()), "--tick", "200ms", "--no-control",
                "--report-dir", dir, "--format", "json,folded", "--report-keep", "2"});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(::kill(ls.pid(), SIGUSR1), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
  }
  EXPECT_EQ(ls.stop(), 0) << ls.err();
  EXPECT_EQ(slurp(victim), "precious\n") << "a planted symlink was followed";

  std::vector<std::string> reports;
  for (const auto& name : list_dir(dir)) {
    struct stat st {};
    ASSERT_EQ(::lstat((dir + "/" + name).c_str(), &st), 0);
    if (S_ISREG(st.st_mode)) reports.push_back(name);
  }
  // Three reports in two formats, the oldest pruned: two reports remain.
  ASSERT_EQ(reports.size(), 4u) << ls.err();
  for (const auto& name : reports) {
    std::string body = slurp(dir + "/" + name);
    if (name.ends_with(".json")) {
      EXPECT_NE(find_stack(json::parse(body), "leak_steadily"), nullptr);
    } else {
      EXPECT_TRUE(name.ends_with(".folded")) << name;
      EXPECT_NE(body.find("leak_steadily"), std::string::npos);
    }
  }
  std::remove(victim.c_str());
  (void)std::system(("rm -rf '" + dir + "'").c_str());
}

TEST(ControlE2E, ReportDirThatIsASymlinkIsRefused) {
  Fixture fx("patterns", {"steady"});
  std::string dir = make_temp_dir();
  std::string link = dir + "-link";
  ASSERT_EQ(::symlink(dir.c_str(), link.c_str()), 0);
  auto [code, err] = run_leakscope(
      {"trace", "-p", std::to_string(fx.pid()), "--no-control", "--report-dir", link});
  EXPECT_EQ(code, 2) << err;
  EXPECT_NE(err.find("symlink"), std::string::npos) << err;
  ::unlink(link.c_str());
  ::rmdir(dir.c_str());
}

TEST(ControlE2E, NonRootPeersAreRefused) {
  Fixture fx("patterns", {"steady"});
  std::string sock = socket_path("perm");
  Leakscope ls({"trace", "-p", std::to_string(fx.pid()), "--tick", "200ms", "--control", sock});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  // The socket's mode keeps others out...
  auto [code, err] = run_leakscope({"status", "--control", sock}, /*as_nobody=*/true);
  EXPECT_EQ(code, 4) << err;
  // ...and were it opened up, the peer-credential check still refuses.
  ASSERT_EQ(::chmod(sock.c_str(), 0666), 0);
  auto [code2, err2] = run_leakscope({"report", "--control", sock}, /*as_nobody=*/true);
  EXPECT_EQ(code2, 4) << err2;
  EXPECT_NE(err2.find("only root"), std::string::npos) << err2;
  EXPECT_TRUE(eventually(3, [&] { return ls.err().find("refused a request from uid") != std::string::npos; }))
      << ls.err();
  // Root still gets answers.
  EXPECT_EQ(run_leakscope({"status", "--control", sock}).first, 0);
  EXPECT_EQ(ls.stop(), 0);
}

TEST(ControlE2E, NoTracerRunningIsAClearError) {
  auto [code, err] = run_leakscope({"status", "--control", "/tmp/leakscope-e2e-nobody-here.sock"});
  EXPECT_EQ(code, 8) << err;
  EXPECT_NE(err.find("no running leakscope"), std::string::npos) << err;
}

TEST(ControlE2E, ReportEveryWritesPeriodically) {
  Fixture fx("patterns", {"steady"});
  std::string dir = make_temp_dir();
  Leakscope ls({"trace", "-p", std::to_string(fx.pid()), "--tick", "200ms", "--no-control",
                "--report-dir", dir, "--report-every", "1s", "--format", "html"});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  EXPECT_EQ(ls.stop(), 0) << ls.err();
  auto files = list_dir(dir);
  EXPECT_GE(files.size(), 2u) << ls.err();
  for (const auto& name : files) EXPECT_TRUE(name.ends_with(".html")) << name;
  if (!files.empty()) {
    EXPECT_NE(slurp(dir + "/" + files.back()).find("leak_steadily"), std::string::npos);
  }
  (void)std::system(("rm -rf '" + dir + "'").c_str());
}

namespace {

// Something that listens on a control socket and answers each connection
// with `reply`, whatever was asked: a tracer of another version, or no
// tracer at all.
class FakeTracer {
 public:
  FakeTracer(const std::string& path, std::string reply) : path_(path), reply_(std::move(reply)) {
    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ::unlink(path.c_str());
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listener_, 4), 0);
    thread_ = std::thread([this] {
      for (;;) {
        int conn = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn < 0) return;  // shut down
        (void)!::send(conn, reply_.data(), reply_.size(), MSG_NOSIGNAL);
        ::close(conn);
      }
    });
  }
  ~FakeTracer() {
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
    ::unlink(path_.c_str());
  }

 private:
  std::string path_, reply_;
  int listener_ = -1;
  std::thread thread_;
};

}  // namespace

TEST(ControlE2E, AMalformedReplyIsAOneLineErrorNeverACrash) {
  std::string sock = socket_path("malformed");
  {
    FakeTracer tracer(sock, R"({"ok":true,"status":{"ticks":"x"}})" "\n");
    auto [code, err] = run_leakscope({"status", "--control", sock});
    EXPECT_EQ(code, 1) << err;
    EXPECT_EQ(err, "leakscope: error: the tracer's reply is malformed: status.ticks is not an integer in range\n");
  }
  {
    // A part named like a path, for a report asked into a file: nothing written.
    FakeTracer tracer(sock, R"({"ok":true,"parts":[{"name":"../x","size":2}]})" "\n{}");
    std::string out = "/tmp/leakscope-e2e-malformed-" + std::to_string(::getpid()) + ".json";
    auto [code, err] = run_leakscope({"report", "--control", sock, "--format", "json", "-o", out});
    EXPECT_EQ(code, 1) << err;
    EXPECT_EQ(err, "leakscope: error: the tracer's reply is malformed: part 1 is \"../x\", not the json asked for\n");
    EXPECT_NE(::access(out.c_str(), F_OK), 0);
  }
}
