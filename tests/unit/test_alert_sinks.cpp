#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "alerts/alert.h"
#include "alerts/dispatcher.h"
#include "alerts/tracker.h"
#include "core/errors.h"
#include "js_stack.h"

using namespace leakscope;
using Clock = std::chrono::system_clock;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/leakscope-alerts-XXXXXX";
    char* p = ::mkdtemp(tmpl);
    if (p) path = p;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

AlertSubject leak_subject() {
  AlertSubject s;
  s.host = "node1";
  s.pid = 42;
  s.comm = "svc";
  s.cmdline = {"/usr/bin/svc", "-v"};
  s.cgroup = "/system.slice/svc.service";
  s.kind = Kind::Heap;
  Frame a;
  a.address = 0x401020;
  a.function = "cache_put";
  a.file = "/src/cache.c";
  a.line = 20;
  a.module = "/usr/bin/svc";
  a.module_offset = 0x1020;
  Frame b = a;
  b.function = "main";
  b.line = 7;
  s.frames = {a, b};
  s.rate = 12288;
  s.rate_unit = "bytes/s";
  s.live_bytes = 1 << 20;
  s.live_objects = 1024;
  s.confidence = 0.9;
  s.is_leak = true;
  return s;
}

// A firing and then a resolved record, made by the tracker at real time.
std::pair<AlertRecord, AlertRecord> firing_and_resolved() {
  AlertOptions o;
  o.pending_seconds = 0;
  AlertTracker t(o);
  auto now = Clock::now();
  auto fired = t.update({leak_subject()}, now);
  auto resolved = t.resolve_all(now + std::chrono::milliseconds(10));
  return {fired.at(0), resolved.at(0)};
}

int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Parses a journald native-protocol datagram into fields.
std::map<std::string, std::string> parse_journal(const std::string& d) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i < d.size()) {
    size_t nl = d.find('\n', i);
    if (nl == std::string::npos) break;
    std::string line = d.substr(i, nl - i);
    auto eq = line.find('=');
    if (eq != std::string::npos) {
      out[line.substr(0, eq)] = line.substr(eq + 1);
      i = nl + 1;
    } else {  // binary form: KEY\n <le64 size> value \n
      uint64_t len = 0;
      for (int k = 0; k < 8; ++k)
        len |= static_cast<uint64_t>(static_cast<unsigned char>(d[nl + 1 + k])) << (8 * k);
      out[line] = d.substr(nl + 9, len);
      i = nl + 9 + len + 1;
    }
  }
  return out;
}

// A sink for dispatcher tests: scripted results, optional gate.
class FakeSink : public Sink {
 public:
  std::string name() const override { return "fake"; }
  bool deliver(const AlertRecord&, std::string* error) override {
    std::unique_lock lock(mu);
    ++calls;
    started.notify_all();
    gate_cv.wait(lock, [this] { return open; });
    if (fail_first > 0) {
      --fail_first;
      *error = "scripted failure";
      return false;
    }
    return true;
  }
  void release() {
    std::lock_guard lock(mu);
    open = true;
    gate_cv.notify_all();
  }

  std::mutex mu;
  std::condition_variable gate_cv, started;
  bool open = true;
  int calls = 0;
  int fail_first = 0;
};

}  // namespace

TEST(AlertSinkSpecTest, ParsesValidSpecs) {
  TempDir dir;
  EXPECT_EQ(make_sink("stdout")->name(), "stdout");
  EXPECT_EQ(make_sink("jsonl:" + (dir.path / "a.jsonl").string())->name(),
            "jsonl:" + (dir.path / "a.jsonl").string());
  EXPECT_EQ(make_sink("alertmanager:http://127.0.0.1:9093")->name(),
            "alertmanager:http://127.0.0.1:9093");
  EXPECT_NO_THROW(make_sink("alertmanager:http://am.example:9093/prefix/"));
  EXPECT_NO_THROW(make_sink("alertmanager:http://[::1]:9093"));
  EXPECT_EQ(make_sink("journald")->name(), "journald");
  EXPECT_EQ(make_sink("exec:logger hi")->name(), "exec:logger hi");
}

TEST(AlertSinkSpecTest, RejectsBadSpecsAsUsageErrors) {
  for (const char* spec :
       {"", "bogus", "stdout:x", "jsonl:", "exec:", "alertmanager:", "alertmanager:127.0.0.1:9093",
        "alertmanager:https://am:9093", "alertmanager:http://", "alertmanager:http://am:x",
        "alertmanager:http://am:70000", "journald:x"}) {
    try {
      make_sink(spec);
      ADD_FAILURE() << "accepted '" << spec << "'";
    } catch (const FatalError& e) {
      EXPECT_EQ(e.code(), ExitCode::Usage) << spec;
      std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos);
      if (std::string(spec).rfind("alertmanager:", 0) != 0) {
        EXPECT_NE(msg.find("jsonl:FILE"), std::string::npos) << msg;
      }
    }
  }
}

TEST(AlertSinkJsonlTest, LinesParseBack) {
  TempDir dir;
  auto file = dir.path / "alerts.jsonl";
  auto sink = make_sink("jsonl:" + file.string());
  auto [fired, resolved] = firing_and_resolved();
  std::string error;
  ASSERT_TRUE(sink->deliver(fired, &error)) << error;
  ASSERT_TRUE(sink->deliver(resolved, &error)) << error;
  std::ifstream in(file);
  std::string line;
  std::vector<nlohmann::json> lines;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["state"], "firing");
  EXPECT_EQ(lines[1]["state"], "resolved");
  EXPECT_EQ(lines[0]["fingerprint"], fired.fingerprint);
  EXPECT_EQ(lines[1]["leak_site"]["function"], "cache_put");
  EXPECT_EQ(lines[1]["ends_at"], resolved.ends_at);
}

TEST(AlertSinkJsonlTest, AppendsAndRefusesSymlinks) {
  TempDir dir;
  auto file = dir.path / "alerts.jsonl";
  { std::ofstream(file) << "{\"old\":1}\n"; }
  auto [fired, resolved] = firing_and_resolved();
  std::string error;
  ASSERT_TRUE(make_sink("jsonl:" + file.string())->deliver(fired, &error)) << error;
  EXPECT_EQ(read_file(file).rfind("{\"old\":1}\n", 0), 0u);
  fs::create_symlink(file, dir.path / "link.jsonl");
  try {
    make_sink("jsonl:" + (dir.path / "link.jsonl").string());
    ADD_FAILURE() << "followed a symlink";
  } catch (const FatalError& e) {
    EXPECT_EQ(e.code(), ExitCode::Usage);
  }
}

TEST(AlertSinkJournaldTest, FieldsArriveOnTheSocket) {
  TempDir dir;
  auto sock_path = dir.path / "journal.sock";
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock_path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  int rcvbuf = 1 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);

  ::setenv("LEAKSCOPE_JOURNAL_SOCKET", sock_path.c_str(), 1);
  auto sink = make_sink("journald");
  ::unsetenv("LEAKSCOPE_JOURNAL_SOCKET");
  auto [fired, resolved] = firing_and_resolved();
  std::string error;
  ASSERT_TRUE(sink->deliver(fired, &error)) << error;
  ASSERT_TRUE(sink->deliver(resolved, &error)) << error;

  std::vector<std::map<std::string, std::string>> got;
  for (int i = 0; i < 2; ++i) {
    pollfd p{fd, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 2000), 1);
    std::string buf(1 << 20, '\0');
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    ASSERT_GT(n, 0);
    buf.resize(static_cast<size_t>(n));
    got.push_back(parse_journal(buf));
  }
  ::close(fd);

  auto& f = got[0];
  EXPECT_EQ(f["MESSAGE"], "ALERT firing: " + fired.summary());
  EXPECT_EQ(f["MESSAGE_ID"].size(), 32u);
  EXPECT_EQ(f["PRIORITY"], "4");
  EXPECT_EQ(f["SYSLOG_IDENTIFIER"], "leakscope");
  EXPECT_EQ(f["LEAKSCOPE_FINGERPRINT"], fired.fingerprint);
  EXPECT_EQ(f["LEAKSCOPE_STATE"], "firing");
  EXPECT_EQ(f["LEAKSCOPE_PID"], "42");
  EXPECT_EQ(f["LEAKSCOPE_COMM"], "svc");
  EXPECT_EQ(f["LEAKSCOPE_KIND"], "heap");
  EXPECT_EQ(f["LEAKSCOPE_LEAK_SITE"], "cache_put");
  EXPECT_EQ(f["LEAKSCOPE_LIVE_BYTES"], std::to_string(1 << 20));
  EXPECT_EQ(std::stod(f["LEAKSCOPE_RATE"]), 12288.0);
  // A multi-line value, sent in the binary form.
  EXPECT_EQ(f["LEAKSCOPE_STACK"], "cache_put (/src/cache.c:20)\nmain (/src/cache.c:7)");
  EXPECT_EQ(got[1]["PRIORITY"], "6");
  EXPECT_EQ(got[1]["LEAKSCOPE_STATE"], "resolved");
  EXPECT_EQ(got[1]["MESSAGE_ID"], f["MESSAGE_ID"]);
}

TEST(AlertSinkJournaldTest, MissingSocketIsAFailureNotACrash) {
  TempDir dir;
  ::setenv("LEAKSCOPE_JOURNAL_SOCKET", (dir.path / "nothing.sock").c_str(), 1);
  auto sink = make_sink("journald");
  ::unsetenv("LEAKSCOPE_JOURNAL_SOCKET");
  std::string error;
  EXPECT_FALSE(sink->deliver(firing_and_resolved().first, &error));
  EXPECT_FALSE(error.empty());
}

TEST(AlertSinkExecTest, CommandGetsTheJsonOnStdin) {
  TempDir dir;
  auto out = dir.path / "got.json";
  auto sink = make_sink("exec:cat > '" + out.string() + "'");
  auto fired = firing_and_resolved().first;
  std::string error;
  ASSERT_TRUE(sink->deliver(fired, &error)) << error;
  auto j = nlohmann::json::parse(read_file(out));
  EXPECT_EQ(j["fingerprint"], fired.fingerprint);
  EXPECT_EQ(j["state"], "firing");
}

TEST(AlertSinkExecTest, NonzeroExitIsAFailure) {
  auto sink = make_sink("exec:exit 3");
  std::string error;
  EXPECT_FALSE(sink->deliver(firing_and_resolved().first, &error));
  EXPECT_NE(error.find("3"), std::string::npos) << error;
}

TEST(AlertSinkExecTest, HangingCommandIsKilledAndReaped) {
  TempDir dir;
  auto pidfile = dir.path / "pids";
  // The shell and a background child in its process group; both must die.
  auto sink = make_sink("exec:sleep 60 & echo $$ $! > '" + pidfile.string() + "'; wait");
  auto start = std::chrono::steady_clock::now();
  std::string error;
  EXPECT_FALSE(sink->deliver(firing_and_resolved().first, &error));
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(took, 4.5);
  EXPECT_LT(took, 6.5);
  EXPECT_NE(error.find("timed out"), std::string::npos) << error;
  pid_t sh = 0, sleeper = 0;
  std::ifstream(pidfile) >> sh >> sleeper;
  ASSERT_GT(sh, 0);
  ASSERT_GT(sleeper, 0);
  // The shell was reaped: not even a zombie is left.
  EXPECT_EQ(::kill(sh, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  // The background sleep got SIGKILL too (gone, or a zombie of its new parent).
  for (int i = 0; i < 100; ++i) {
    std::ifstream stat("/proc/" + std::to_string(sleeper) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) break;
    auto close = line.rfind(')');
    if (close != std::string::npos && line.substr(close + 2, 1) == "Z") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_LT(i, 99) << "background child still alive: " << line;
  }
}

TEST(AlertSinkAlertmanagerTest, PostsLabelsAndAnnotations) {
  httplib::Server server;
  std::mutex mu;
  std::vector<std::string> bodies;
  std::string content_type;
  server.Post("/am/api/v2/alerts", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    bodies.push_back(req.body);
    content_type = req.get_header_value("Content-Type");
    res.status = 200;
  });
  int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread th([&] { server.listen_after_bind(); });

  auto sink = make_sink("alertmanager:http://127.0.0.1:" + std::to_string(port) + "/am/");
  auto [fired, resolved] = firing_and_resolved();
  fired.subject.container_id = "abc123";
  std::string error;
  bool ok1 = sink->deliver(fired, &error);
  bool ok2 = sink->deliver(resolved, &error);
  server.stop();
  th.join();
  ASSERT_TRUE(ok1) << error;
  ASSERT_TRUE(ok2) << error;

  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(content_type, "application/json");
  auto arr = nlohmann::json::parse(bodies[0]);
  ASSERT_TRUE(arr.is_array());
  ASSERT_EQ(arr.size(), 1u);
  auto& a = arr[0];
  EXPECT_EQ(a["labels"]["alertname"], "MemoryLeak");
  EXPECT_EQ(a["labels"]["severity"], "warning");
  EXPECT_EQ(a["labels"]["host"], "node1");
  EXPECT_EQ(a["labels"]["pid"], "42");
  EXPECT_EQ(a["labels"]["comm"], "svc");
  EXPECT_EQ(a["labels"]["kind"], "heap");
  EXPECT_EQ(a["labels"]["fingerprint"], fired.fingerprint);
  EXPECT_EQ(a["labels"]["leak_site"], "cache_put");
  for (auto& [k, v] : a["labels"].items()) EXPECT_TRUE(v.is_string()) << k;
  for (auto& [k, v] : a["annotations"].items()) EXPECT_TRUE(v.is_string()) << k;
  EXPECT_EQ(a["annotations"]["summary"], fired.summary());
  EXPECT_NE(a["annotations"]["description"].get<std::string>().find("cache_put"),
            std::string::npos);
  EXPECT_NE(a["annotations"]["description"].get<std::string>().find('\n'), std::string::npos);
  EXPECT_EQ(a["annotations"]["growth_rate"], "+12.0 KiB/s");
  EXPECT_EQ(a["annotations"]["live_bytes"], std::to_string(1 << 20));
  EXPECT_EQ(a["annotations"]["live_objects"], "1024");
  EXPECT_TRUE(a["annotations"].contains("confidence"));
  EXPECT_EQ(a["annotations"]["first_seen"], fired.first_seen);
  EXPECT_EQ(a["annotations"]["cmdline"], "/usr/bin/svc -v");
  EXPECT_EQ(a["annotations"]["cgroup"], "/system.slice/svc.service");
  EXPECT_EQ(a["annotations"]["container_id"], "abc123");
  EXPECT_EQ(a["startsAt"], fired.starts_at);
  EXPECT_EQ(a["endsAt"], fired.ends_at);
  EXPECT_EQ(a["generatorURL"], "http://node1/leakscope");
  auto r = nlohmann::json::parse(bodies[1])[0];
  EXPECT_EQ(r["endsAt"], resolved.ends_at);
  EXPECT_EQ(r["labels"], a["labels"]);
}

TEST(AlertSinkAlertmanagerTest, HttpErrorIsAFailure) {
  httplib::Server server;
  server.Post("/api/v2/alerts", [](const httplib::Request&, httplib::Response& res) {
    res.status = 400;
    res.set_content("bad alert", "text/plain");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread th([&] { server.listen_after_bind(); });
  auto sink = make_sink("alertmanager:http://127.0.0.1:" + std::to_string(port));
  std::string error;
  bool ok = sink->deliver(firing_and_resolved().first, &error);
  server.stop();
  th.join();
  EXPECT_FALSE(ok);
  EXPECT_NE(error.find("400"), std::string::npos) << error;
}

TEST(AlertDispatcherTest, DeadAlertmanagerCountsFailuresAndDrops) {
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(make_sink("alertmanager:http://127.0.0.1:" + std::to_string(free_tcp_port())));
  DispatcherOptions o;
  o.max_attempts = 3;
  o.initial_backoff_seconds = 0.02;
  Dispatcher d(std::move(sinks), o);
  auto fired = firing_and_resolved().first;
  auto start = std::chrono::steady_clock::now();
  d.submit(fired);
  d.submit(fired);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
  EXPECT_TRUE(d.drain(8));
  auto h = d.health();
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].delivered, 0u);
  EXPECT_EQ(h[0].failures, 6u);
  EXPECT_EQ(h[0].dropped, 2u);
  EXPECT_EQ(h[0].queued, 0u);
  EXPECT_FALSE(h[0].last_error.empty());
}

TEST(AlertDispatcherTest, RetriesUntilDelivered) {
  auto fake = std::make_unique<FakeSink>();
  FakeSink* f = fake.get();
  f->fail_first = 2;
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::move(fake));
  DispatcherOptions o;
  o.initial_backoff_seconds = 0.01;
  Dispatcher d(std::move(sinks), o);
  d.submit(firing_and_resolved().first);
  EXPECT_TRUE(d.drain(5));
  auto h = d.health();
  EXPECT_EQ(h[0].delivered, 1u);
  EXPECT_EQ(h[0].failures, 2u);
  EXPECT_EQ(h[0].dropped, 0u);
  EXPECT_EQ(h[0].last_error, "scripted failure");
}

TEST(AlertDispatcherTest, FullQueueDropsNewest) {
  auto fake = std::make_unique<FakeSink>();
  FakeSink* f = fake.get();
  f->open = false;  // the worker blocks in its first delivery
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::move(fake));
  DispatcherOptions o;
  o.queue_capacity = 2;
  Dispatcher d(std::move(sinks), o);
  auto rec = firing_and_resolved().first;
  d.submit(rec);
  {
    std::unique_lock lock(f->mu);
    ASSERT_TRUE(f->started.wait_for(lock, std::chrono::seconds(5), [f] { return f->calls == 1; }));
  }
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) d.submit(rec);  // 2 fit, 2 dropped; never blocks
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
  auto h = d.health();
  EXPECT_EQ(h[0].dropped, 2u);
  EXPECT_EQ(h[0].queued, 3u);  // two queued plus the one in flight
  f->release();
  EXPECT_TRUE(d.drain(5));
  h = d.health();
  EXPECT_EQ(h[0].delivered, 3u);
  EXPECT_EQ(h[0].dropped, 2u);
}

TEST(AlertDispatcherTest, DestructorDoesNotWaitForLongBackoff) {
  auto fake = std::make_unique<FakeSink>();
  fake->fail_first = 1000;
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::move(fake));
  DispatcherOptions o;
  o.initial_backoff_seconds = 20;
  auto start = std::chrono::steady_clock::now();
  {
    Dispatcher d(std::move(sinks), o);
    d.submit(firing_and_resolved().first);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
}

TEST(AlertDispatcherTest, FansOutToEverySink) {
  TempDir dir;
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(make_sink("jsonl:" + (dir.path / "a.jsonl").string()));
  sinks.push_back(make_sink("jsonl:" + (dir.path / "b.jsonl").string()));
  {
    Dispatcher d(std::move(sinks));
    auto [fired, resolved] = firing_and_resolved();
    d.submit(fired);
    d.submit(resolved);
  }  // the destructor flushes
  for (const char* name : {"a.jsonl", "b.jsonl"}) {
    std::string text = read_file(dir.path / name);
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << name;
  }
}

// A js alert: the journald fields and the Alertmanager label name the leak
// site, the stack marks it.
TEST(AlertSinkJournaldTest, JsAlertNamesItsLeakSite) {
  TempDir dir;
  auto sock_path = dir.path / "journal.sock";
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock_path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::setenv("LEAKSCOPE_JOURNAL_SOCKET", sock_path.c_str(), 1);
  auto sink = make_sink("journald");
  ::unsetenv("LEAKSCOPE_JOURNAL_SOCKET");
  AlertRecord record;
  record.subject = leak_subject();
  record.subject.comm = "node";
  record.subject.kind = Kind::Js;
  record.subject.frames = js_test::js_frames();
  record.subject.leak_site = js_test::kJsLeakSite;
  record.state = AlertState::Firing;
  std::string error;
  ASSERT_TRUE(sink->deliver(record, &error)) << error;
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  std::string buf(1 << 20, '\0');
  ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
  ::close(fd);
  ASSERT_GT(n, 0);
  buf.resize(static_cast<size_t>(n));
  auto f = parse_journal(buf);
  EXPECT_EQ(f["LEAKSCOPE_KIND"], "js");
  EXPECT_EQ(f["LEAKSCOPE_LEAK_SITE"], "handler (/srv/app/app.js:42:13)");
  EXPECT_NE(f["MESSAGE"].find("js at handler (app.js:42:13)"), std::string::npos) << f["MESSAGE"];
  EXPECT_EQ(f["LEAKSCOPE_STACK"],
            "push (node:internal/fixed_queue:98:17)\n"
            "handler (/srv/app/app.js:42:13)  <- leak site\n"
            "(anonymous) (/srv/app/node_modules/express/lib/router/layer.js:95:5)");
}

TEST(AlertSinkAlertmanagerTest, JsAlertLabelsItsLeakSite) {
  httplib::Server server;
  std::mutex mu;
  std::vector<std::string> bodies;
  server.Post("/api/v2/alerts", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    bodies.push_back(req.body);
    res.status = 200;
  });
  int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread th([&] { server.listen_after_bind(); });
  auto sink = make_sink("alertmanager:http://127.0.0.1:" + std::to_string(port));
  AlertRecord record;
  record.subject = leak_subject();
  record.subject.kind = Kind::Js;
  record.subject.frames = js_test::js_frames();
  record.subject.leak_site = js_test::kJsLeakSite;
  record.state = AlertState::Firing;
  std::string error;
  const bool ok = sink->deliver(record, &error);
  server.stop();
  th.join();
  ASSERT_TRUE(ok) << error;
  ASSERT_EQ(bodies.size(), 1u);
  auto a = nlohmann::json::parse(bodies[0]).at(0);
  EXPECT_EQ(a["labels"]["kind"], "js");
  EXPECT_EQ(a["labels"]["leak_site"], "handler (app.js:42)");
  EXPECT_NE(a["annotations"]["summary"].get<std::string>().find("js at handler (app.js:42:13)"),
            std::string::npos);
  EXPECT_NE(a["annotations"]["description"].get<std::string>().find(
                "\nhandler (/srv/app/app.js:42:13)  <- leak site\n"),
            std::string::npos)
      << a["annotations"]["description"];
}
