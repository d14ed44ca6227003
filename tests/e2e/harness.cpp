#include "harness.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace e2e {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<char*> c_args(const std::vector<std::string>& args) {
  std::vector<char*> out;
  for (const auto& a : args) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

// Waits for `pid` up to `timeout_s`; returns the wait status or -1.
int wait_for(pid_t pid, double timeout_s) {
  auto t0 = Clock::now();
  int status = 0;
  while (since(t0) < timeout_s) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

int exit_code(int status) {
  if (status < 0) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

void drop_to_nobody() {
  struct passwd* pw = ::getpwnam("nobody");
  if (!pw) ::_exit(126);
  if (::setgroups(0, nullptr) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0)
    ::_exit(126);
}

}  // namespace

std::string fixture_path(const std::string& name) {
  return std::string(LEAKSCOPE_FIXTURE_DIR) + "/fixture_" + name;
}
std::string leakscope_path() { return LEAKSCOPE_BIN; }

Fixture::Fixture(const std::string& name, std::vector<std::string> args) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC)) throw std::runtime_error("pipe");
  args.insert(args.begin(), fixture_path(name));
  auto argv = c_args(args);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  in_fd_ = in[1];
  out_fd_ = out[0];
  auto line = read_line(10);
  if (!line || line->rfind("ready ", 0) != 0)
    throw std::runtime_error("fixture " + name + " did not get ready");
}

Fixture::~Fixture() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (in_fd_ >= 0) ::close(in_fd_);
  if (out_fd_ >= 0) ::close(out_fd_);
}

std::optional<std::string> Fixture::read_line(double timeout_s) {
  auto t0 = Clock::now();
  for (;;) {
    auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    double left = timeout_s - since(t0);
    if (left <= 0) return std::nullopt;
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left * 1000) + 1) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

void Fixture::go() { send("go"); }

void Fixture::send(const std::string& line) {
  std::string l = line + "\n";
  if (::write(in_fd_, l.data(), l.size()) != static_cast<ssize_t>(l.size()))
    throw std::runtime_error("cannot write to the fixture");
}

std::map<std::string, Expect> Fixture::wait_done(double timeout_s) {
  std::map<std::string, Expect> expects;
  auto t0 = Clock::now();
  while (auto line = read_line(timeout_s - since(t0))) {
    if (*line == "done") return expects;
    if (line->rfind("expect ", 0) != 0) lines_.push_back(*line);
    if (line->rfind("expect ", 0) == 0) {
      // The function name may contain spaces (C++): the last two fields are numbers.
      std::string rest = line->substr(7);
      // An optional trailing armed=N field is not a count.
      long long armed = -1;
      if (auto sp = rest.rfind(' '); sp != std::string::npos && rest.compare(sp + 1, 6, "armed=") == 0) {
        armed = std::stoll(rest.substr(sp + 7));
        rest.resize(sp);
      }
      auto b = rest.rfind(' ');
      auto a = rest.rfind(' ', b - 1);
      Expect e{std::stoll(rest.substr(a + 1, b - a - 1)), std::stoll(rest.substr(b + 1)), armed};
      expects[rest.substr(0, a)] = e;
    }
  }
  throw std::runtime_error("fixture did not finish its work");
}

bool Fixture::running() const {
  if (pid_ <= 0 || ::kill(pid_, 0) != 0) return false;
  std::string stat = slurp("/proc/" + std::to_string(pid_) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return false;
  char state = stat[close + 2];
  return state != 'Z' && state != 'T' && state != 't' && state != 'X';
}

void Fixture::finish() {
  if (in_fd_ >= 0) ::close(in_fd_);
  in_fd_ = -1;
  if (pid_ > 0 && wait_for(pid_, 10) < 0) ::kill(pid_, SIGKILL), ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

Leakscope::Leakscope(std::vector<std::string> args, bool as_nobody) {
  char tmpl[] = "/tmp/leakscope-e2e-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
  dir_ = tmpl;
  ::chmod(dir_.c_str(), 0777);
  json_path_ = dir_ + "/report.json";
  args.insert(args.begin(), leakscope_path());
  auto argv = c_args(args);
  std::string out = dir_ + "/stdout", err = dir_ + "/stderr";
  pid_ = ::fork();
  if (pid_ == 0) {
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
    int n = ::open("/dev/null", O_RDONLY);
    ::dup2(n, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    ::setpgid(0, 0);  // our own group: a SIGINT for it is not ours
    if (as_nobody) drop_to_nobody();
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
}

Leakscope::~Leakscope() {
  if (pid_ > 0 && status_ < 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::string cmd = "rm -rf '" + dir_ + "'";
  if (std::getenv("LEAKSCOPE_KEEP_E2E") == nullptr) (void)std::system(cmd.c_str());
}

bool Leakscope::wait_tracing(double timeout_s) {
  auto t0 = Clock::now();
  while (since(t0) < timeout_s) {
    if (err().find("leakscope: tracing") != std::string::npos) return true;
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      status_ = status;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int Leakscope::stop(double timeout_s) {
  if (status_ < 0) {
    ::kill(pid_, SIGINT);
    status_ = wait_for(pid_, timeout_s);
  }
  return exit_code(status_);
}

int Leakscope::wait(double timeout_s) {
  if (status_ < 0) status_ = wait_for(pid_, timeout_s);
  return exit_code(status_);
}

std::string Leakscope::out() const { return slurp(dir_ + "/stdout"); }
std::string Leakscope::err() const { return slurp(dir_ + "/stderr"); }

nlohmann::json take_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) return nlohmann::json();
  nlohmann::json j = nlohmann::json::parse(in);
  std::remove(path.c_str());
  return j;
}

nlohmann::json Leakscope::json() const {
  std::ifstream in(json_path_);
  if (!in) throw std::runtime_error("no JSON report at " + json_path_ + "; stderr: " + err());
  return nlohmann::json::parse(in);
}

std::pair<int, std::string> run_leakscope(const std::vector<std::string>& args, bool as_nobody,
                                          double timeout_s) {
  Leakscope ls(args, as_nobody);
  int code = ls.wait(timeout_s);
  return {code, ls.err()};
}

const nlohmann::json* find_stack(const nlohmann::json& report, const std::string& function,
                                 pid_t pid, const std::string& kind) {
  for (const auto& s : report.at("stacks")) {
    if (pid && s.at("pid").get<pid_t>() != pid) continue;
    if (!kind.empty() && s.at("kind") != kind) continue;
    const auto& frames = s.at("frames");
    if (!frames.empty() && frames[0].at("function").get<std::string>() == function) return &s;
  }
  return nullptr;
}

std::vector<std::string> leftover_bpf_objects() {
  static const std::set<std::string> ours = {
      "malloc_enter",   "calloc_enter",    "realloc_enter",   "reallocarray_en",
      "posix_memalign_", "aligned_alloc_e", "memalign_enter", "valloc_enter",
      "pvalloc_enter",  "operator_new_en", "alloc_return",   "free_enter"};
  std::vector<std::string> found;
  FILE* p = ::popen("bpftool -j prog show 2>/dev/null", "r");
  if (!p) return {"<bpftool did not run>"};
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  ::pclose(p);
  auto progs = nlohmann::json::parse(text, nullptr, false);
  if (!progs.is_array()) return {"<bpftool output unreadable>"};
  for (const auto& prog : progs) {
    std::string name = prog.value("name", "");
    if (ours.count(name)) found.push_back(name);
  }
  return found;
}

}  // namespace e2e
