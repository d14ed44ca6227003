#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include "target/elf_file.h"

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
  if (name.starts_with("/")) return name;
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

Leakscope::Leakscope(std::vector<std::string> args, bool as_nobody) : before_(our_bpf_ids()) {
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
  expect_no_garbage_frames(j);
  return j;
}

nlohmann::json Leakscope::json() const {
  std::ifstream in(json_path_);
  if (!in) throw std::runtime_error("no JSON report at " + json_path_ + "; stderr: " + err());
  nlohmann::json j = nlohmann::json::parse(in);
  expect_no_garbage_frames(j);
  return j;
}

namespace {

// Whether file offset `offset` of the object at `path` lies in a page the
// loader maps executable; nullopt when the file cannot be opened (it may
// have gone since the report was made: not judged).
std::optional<bool> in_executable_segment(const std::string& path, uint64_t offset) {
  struct Known {
    bool elf = false;
    std::vector<std::pair<uint64_t, uint64_t>> code;  // file ranges mapped executable
  };
  static std::map<std::string, std::optional<Known>> cache;
  auto it = cache.find(path);
  if (it == cache.end()) {
    std::optional<Known> known;
    if (::access(path.c_str(), R_OK) == 0) {
      known.emplace();
      std::string error;
      if (auto elf = leakscope::ElfFile::open(path, &error)) {
        known->elf = true;
        const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
        for (const auto& s : elf->load_segments())
          if (s.executable)
            known->code.emplace_back(s.offset / page * page,
                                     (s.offset + s.filesz + page - 1) / page * page);
      }
    }
    it = cache.emplace(path, std::move(known)).first;
  }
  if (!it->second) return std::nullopt;
  for (const auto& [begin, end] : it->second->code)
    if (offset >= begin && offset < end) return true;
  return false;
}

}  // namespace

std::vector<std::string> garbage_frames(const nlohmann::json& report) {
  std::vector<std::string> out;
  if (!report.is_object() || !report.contains("stacks")) return out;
  for (const auto& s : report.at("stacks")) {
    size_t i = 0;
    for (const auto& f : s.value("frames", nlohmann::json::array())) {
      ++i;
      const std::string module = f.value("module", "");
      bool garbage = false;
      if (s.value("kind", "") == "js") {
        // Named by V8, not read off a stack: every frame is one of V8's.
        garbage = module != "[js]" || f.value("function", "").empty();
      } else if (module.starts_with("/")) {
        // Every frame but a fault's first is a return address: the call
        // before it is one byte back.
        uint64_t offset = std::stoull(f.value("module_offset", "0x0"), nullptr, 16);
        garbage = !in_executable_segment(module, offset > 0 ? offset - 1 : 0).value_or(true);
      } else {
        garbage = module != "[jit]" && module != "[vdso]";
      }
      if (garbage)
        out.push_back("stack #" + std::to_string(s.value("rank", 0)) + " (" + s.value("kind", "") +
                      ") frame #" + std::to_string(i) + ": " + f.value("function", "") + " in " +
                      (module.empty() ? "\"\"" : module));
    }
  }
  return out;
}

void expect_no_garbage_frames(const nlohmann::json& report) {
  // find_stack sees the same report many times: one failure per report.
  static std::unordered_set<size_t> checked;
  if (!report.is_object() || !report.contains("stacks")) return;
  if (!checked.insert(std::hash<std::string>{}(report.dump())).second) return;
  const std::vector<std::string> garbage = garbage_frames(report);
  if (garbage.empty()) return;
  std::string lines;
  for (const std::string& g : garbage) lines += "\n  " + g;
  ADD_FAILURE() << garbage.size()
                << " frame(s) of the report are no code of their process:" << lines;
}

std::pair<int, std::string> run_leakscope(const std::vector<std::string>& args, bool as_nobody,
                                          double timeout_s) {
  Leakscope ls(args, as_nobody);
  int code = ls.wait(timeout_s);
  return {code, ls.err()};
}

const nlohmann::json* find_stack(const nlohmann::json& report, const std::string& function,
                                 pid_t pid, const std::string& kind) {
  expect_no_garbage_frames(report);
  for (const auto& s : report.at("stacks")) {
    if (pid && s.at("pid").get<pid_t>() != pid) continue;
    if (!kind.empty() && s.at("kind") != kind) continue;
    const auto& frames = s.at("frames");
    if (!frames.empty() && frames[0].at("function").get<std::string>() == function) return &s;
  }
  return nullptr;
}

namespace {

// "run_mod.lto_priv.0" is run_mod, "foo.part.0" is foo: GCC's clones keep
// the name of their source function before the first dot.
bool names(const std::string& function, const std::string& name) {
  return function == name || (function.size() > name.size() && function.starts_with(name) &&
                              function[name.size()] == '.');
}

}  // namespace

std::string chain_text(const nlohmann::json& stack) {
  std::string out;
  for (const auto& f : stack.value("frames", nlohmann::json::array())) {
    if (!out.empty()) out += " <- ";
    out += f.value("function", "?");
  }
  return out.empty() ? "(no frames)" : out;
}

::testing::AssertionResult has_chain(const nlohmann::json& stack,
                                     const std::vector<std::string>& chain) {
  const nlohmann::json frames = stack.value("frames", nlohmann::json::array());
  auto listing = [&] {
    std::string out;
    for (size_t i = 0; i < frames.size(); ++i)
      out += "\n    #" + std::to_string(i) + " " + frames[i].value("function", "?") + "  (" +
             frames[i].value("module", "?") + ")";
    return out;
  };
  std::string wanted;
  for (const auto& c : chain) wanted += (wanted.empty() ? "" : " <- ") + c;
  for (size_t at = 0; at < chain.size(); ++at) {
    if (at >= frames.size() || !names(frames[at].value("function", ""), chain[at])) {
      std::string where = at >= frames.size()
                              ? "the stack has only " + std::to_string(frames.size()) + " frame(s)"
                              : "frame #" + std::to_string(at) + " is " +
                                    frames[at].value("function", "?");
      return ::testing::AssertionFailure()
             << "expected the chain " << wanted
             << "; " << chain[at] << " is missing: " << where
             << (stack.value("truncated", false) ? " (the stack is marked truncated)" : "")
             << ". Frames:" << listing();
    }
  }
  return ::testing::AssertionSuccess();
}

const std::vector<std::string>& our_bpf_program_names() {
  static const std::vector<std::string> names = {
      // bpf/heap.bpf.c: an entry program per allocator shape, the return
      "malloc_enter", "calloc_enter", "realloc_enter", "reallocarray_enter", "posix_memalign_enter",
      "aligned_alloc_enter", "pvalloc_enter", "alloc_return", "free_enter",
      // ... and the OpenTelemetry memory probes' (USDT)
      "otel_memory_alloc", "otel_memory_free",
      // bpf/syscalls.bpf.c
      "sys_enter_tp", "sys_exit_tp", "sys_enter_raw", "sys_exit_raw",
      // bpf/lifecycle.bpf.c
      "lifecycle_fork", "lifecycle_exec", "lifecycle_exit",
      // bpf/faults.bpf.c
      "fault_user",
      // bpf/signals.bpf.c (loaded on the first Kernel::signal_handler)
      "sig_disposition"};
  return names;
}

namespace {

// Kernel object names keep 15 characters (BPF_OBJ_NAME_LEN - 1).
bool is_our_prog_name(const std::string& name) {
  for (const auto& full : our_bpf_program_names())
    if (name == full || (name.size() == 15 && full.compare(0, 15, name) == 0)) return true;
  return false;
}

nlohmann::json bpftool_json(const std::string& what) {
  FILE* p = ::popen(("bpftool -j " + what + " show 2>/dev/null").c_str(), "r");
  if (!p) throw std::runtime_error("bpftool did not run");
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  ::pclose(p);
  // With nothing loaded bpftool prints an empty array (or nothing at all).
  if (text.find_first_not_of(" \t\n") == std::string::npos) return nlohmann::json::array();
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_array()) throw std::runtime_error("bpftool " + what + " show: unreadable output");
  return j;
}

struct OurObjects {
  std::map<unsigned, std::string> progs;                      // id -> name
  std::map<unsigned, std::pair<std::string, unsigned>> links;  // id -> {type, prog id}
};

OurObjects list_our_objects() {
  OurObjects o;
  for (const auto& prog : bpftool_json("prog")) {
    std::string name = prog.value("name", "");
    if (is_our_prog_name(name)) o.progs[prog.value("id", 0u)] = name;
  }
  for (const auto& link : bpftool_json("link")) {
    unsigned prog_id = link.value("prog_id", 0u);
    if (!o.progs.count(prog_id)) continue;
    // A bpftool older than the kernel gives a link type it has no name for
    // as its number (Debian 12's, for uprobe_multi: 12).
    const nlohmann::json type = link.value("type", nlohmann::json("?"));
    o.links[link.value("id", 0u)] = {type.is_string() ? type.get<std::string>() : "type " + type.dump(), prog_id};
  }
  return o;
}

// Who holds BPF programs and links: bpftool here is built without its
// pids feature, so read every process's descriptors ourselves.
struct Holders {
  std::map<unsigned, std::set<pid_t>> progs, links;
};

Holders bpf_holders() {
  Holders h;
  DIR* proc = ::opendir("/proc");
  if (!proc) return h;
  while (dirent* d = ::readdir(proc)) {
    pid_t pid = static_cast<pid_t>(std::atoi(d->d_name));
    if (pid <= 0) continue;
    std::string fd_dir = std::string("/proc/") + d->d_name + "/fd";
    DIR* fds = ::opendir(fd_dir.c_str());
    if (!fds) continue;
    while (dirent* f = ::readdir(fds)) {
      if (f->d_name[0] == '.') continue;
      char target[128];
      ssize_t n = ::readlink((fd_dir + "/" + f->d_name).c_str(), target, sizeof target - 1);
      if (n <= 0) continue;
      target[n] = 0;
      bool prog = std::strcmp(target, "anon_inode:bpf-prog") == 0;
      bool link = std::strcmp(target, "anon_inode:bpf_link") == 0;
      if (!prog && !link) continue;
      std::ifstream info(std::string("/proc/") + d->d_name + "/fdinfo/" + f->d_name);
      std::string key;
      unsigned id = 0;
      while (info >> key) {
        if ((prog && key == "prog_id:") || (link && key == "link_id:")) {
          info >> id;
          break;
        }
      }
      if (id) (prog ? h.progs : h.links)[id].insert(pid);
    }
    ::closedir(fds);
  }
  ::closedir(proc);
  return h;
}

std::string comm_of(pid_t pid) {
  std::string c = slurp("/proc/" + std::to_string(pid) + "/comm");
  while (!c.empty() && c.back() == '\n') c.pop_back();
  return c;
}

// "" when another running leakscope holds it (a concurrent run's object);
// otherwise who holds it, for the message.
std::optional<std::string> foreign_or_holders(const std::set<pid_t>& holders) {
  std::string who;
  for (pid_t pid : holders) {
    std::string comm = comm_of(pid);
    if (comm == "leakscope") return std::nullopt;
    who += (who.empty() ? "" : ", ") + comm + "[" + std::to_string(pid) + "]";
  }
  return who.empty() ? std::string("no process (pinned?)") : who;
}

}  // namespace

BpfIds our_bpf_ids() {
  OurObjects o = list_our_objects();
  BpfIds ids;
  for (const auto& [id, name] : o.progs) ids.progs.insert(id);
  for (const auto& [id, link] : o.links) ids.links.insert(id);
  return ids;
}

BpfIds bpf_ids_held_by(pid_t pid) {
  Holders h = bpf_holders();
  BpfIds ids;
  for (const auto& [id, pids] : h.progs)
    if (pids.count(pid)) ids.progs.insert(id);
  for (const auto& [id, pids] : h.links)
    if (pids.count(pid)) ids.links.insert(id);
  return ids;
}

std::vector<std::string> Leakscope::leftover_bpf_objects(double timeout_s) const {
  if (status_ < 0) return {"<leakscope has not exited: call stop() or wait() first>"};
  auto t0 = Clock::now();
  for (;;) {
    std::vector<std::string> found;
    OurObjects o = list_our_objects();
    Holders h = bpf_holders();
    for (const auto& [id, name] : o.progs) {
      if (before_.progs.count(id)) continue;
      std::set<pid_t> holders = h.progs[id];
      // A link holds its program: whoever holds the link holds it too.
      for (const auto& [link_id, link] : o.links)
        if (link.second == id) holders.insert(h.links[link_id].begin(), h.links[link_id].end());
      if (auto who = foreign_or_holders(holders))
        found.push_back("prog " + name + " id " + std::to_string(id) + " held by " + *who);
    }
    for (const auto& [id, link] : o.links) {
      if (before_.links.count(id)) continue;
      if (auto who = foreign_or_holders(h.links[id]))
        found.push_back("link " + link.first + " id " + std::to_string(id) + " to prog " +
                        o.progs[link.second] + " held by " + *who);
    }
    // Links and their programs are released by a kernel work item after
    // the last descriptor closes: give it a moment.
    if (found.empty() || since(t0) >= timeout_s) return found;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace e2e
