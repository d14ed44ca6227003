// What leakscope reads of a target goes through the target's root: a
// chrooted process whose /tmp is a symlink to an absolute path must not
// make leakscope read the file that path names on the host; and what it
// reads is bounded, the bound said in the report (issue 15, point 5).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

using namespace e2e;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Where fixture_jit_leaky puts its JIT thunk (tests/fixtures/jit_leaky.c).
constexpr uint64_t kJitAddr = 0x3a3a3a000000ull;

constexpr const char* kLegitName = "LegitJit:root_escape_handler";
constexpr const char* kPlantedName = "PlantedOnTheHost:never_to_be_read";

// A directory tree removed however the test ends. Not under /tmp: the
// chroot's /tmp points into it, and a link from /tmp to /tmp/... would
// resolve into itself inside the root.
class TempTree {
 public:
  TempTree() {
    char tmpl[] = "/var/tmp/leakscope-rootesc-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp in /var/tmp");
    path_ = tmpl;
  }
  ~TempTree() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return buf;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// Copies `file` to the same path under `root`.
void copy_into(const std::string& root, const std::string& file) {
  const fs::path to = root + file;
  fs::create_directories(to.parent_path());
  fs::copy_file(fs::canonical(file), to, fs::copy_options::overwrite_existing);
}

// A root holding the fixture and the libraries it loads (as ldd lists them),
// at `root`.
void make_root(const std::string& root) {
  fs::create_directories(root);
  const std::string fixture = fixture_path("jit_leaky");
  fs::copy_file(fixture, root + "/fixture_jit_leaky");
  FILE* ldd = ::popen(("ldd '" + fixture + "'").c_str(), "r");
  ASSERT_NE(ldd, nullptr);
  char line[1024];
  size_t libs = 0;
  while (std::fgets(line, sizeof line, ldd) != nullptr) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
    // "/lib64/ld-linux-x86-64.so.2 (0x...)"
    std::string text(line);
    const size_t slash = text.find('/');
    if (slash == std::string::npos) continue;  // linux-vdso.so.1
    const std::string path = text.substr(slash, text.find(' ', slash) - slash);
    copy_into(root, path);
    ++libs;
  }
  ::pclose(ldd);
  ASSERT_GE(libs, 2u) << "ldd listed no libc and loader for " << fixture;
}

// The perf map line naming the whole JIT page.
std::string jit_line(const std::string& name) { return hex(kJitAddr) + " 1000 " + name + "\n"; }

struct Traced {
  json report;
  std::string text;
  std::string err;
};

// Runs the fixture chrooted in `root`; `plant(pid)` writes the perf maps
// before leakscope starts.
template <typename Plant>
Traced trace_chrooted(const std::string& root, Plant plant) {
  Fixture fx("/usr/sbin/chroot", {root, "/fixture_jit_leaky"});
  plant(fx.pid());
  const std::string json_path = root + "-report.json";
  Leakscope ls({"trace", "--tick", "200ms", "--interval", "1s", "--json", json_path, "-p",
                std::to_string(fx.pid())});
  Traced run;
  EXPECT_TRUE(ls.wait_tracing()) << ls.err();
  fx.go();
  const auto expects = fx.wait_done();
  EXPECT_TRUE(expects.contains("leak_one")) << "the fixture did not run its JIT code";
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_EQ(ls.stop(), 0) << ls.err();
  run.text = ls.out();
  run.err = ls.err();
  run.report = take_json(json_path);
  fx.finish();
  return run;
}

// Every function name in the report's frames.
std::vector<std::string> functions(const json& report) {
  std::vector<std::string> out;
  if (!report.is_object()) return out;
  for (const json& s : report["stacks"])
    for (const json& f : s["frames"]) out.push_back(f.value("function", ""));
  return out;
}

bool names(const Traced& run, const std::string& name) {
  for (const std::string& f : functions(run.report))
    if (f == name) return true;
  return run.text.find(name) != std::string::npos;
}

}  // namespace

// The root's /tmp is a symlink to an absolute path. On the host that path is
// a directory holding a perf map of planted names; inside the root it leads
// to a directory holding the process's real perf map. Only the real one may
// be read.
TEST(RootEscape, PerfMapThroughASymlinkedTmpIsReadInsideTheRoot) {
  TempTree tree;
  const std::string root = tree.path() + "/root";
  const std::string host_dir = tree.path() + "/host";  // absolute, also a path inside the root
  ASSERT_NO_FATAL_FAILURE(make_root(root));
  fs::create_directories(host_dir);
  fs::create_directories(root + host_dir);
  fs::create_symlink(host_dir, root + "/tmp");

  const Traced run = trace_chrooted(root, [&](pid_t pid) {
    const std::string map = "/perf-" + std::to_string(pid) + ".map";
    write_file(host_dir + map, jit_line(kPlantedName));
    write_file(root + host_dir + map, jit_line(kLegitName));
  });
  ASSERT_TRUE(run.report.is_object()) << run.err;
  EXPECT_FALSE(names(run, kPlantedName))
      << "leakscope read a perf map of the host through the target's /tmp symlink\n"
      << run.text;
  EXPECT_TRUE(names(run, kLegitName)) << "the perf map inside the root was not used\n"
                                      << run.text << run.err;
  const json* s = find_stack(run.report, "leak_one");
  ASSERT_NE(s, nullptr) << run.text;
  EXPECT_TRUE(has_chain(*s, {"leak_one", kLegitName}));
  EXPECT_EQ(run.report["input_limits"]["total"], 0) << run.report["input_limits"].dump();
}

// A perf map over the read cap: what lies within it is used, and the report
// says the cap was hit, for that file.
TEST(RootEscape, PerfMapOverTheCapIsReadInPartAndSaid) {
  TempTree tree;
  const std::string root = tree.path() + "/root";
  ASSERT_NO_FATAL_FAILURE(make_root(root));
  fs::create_directories(root + "/tmp");

  std::string map_name;
  const Traced run = trace_chrooted(root, [&](pid_t pid) {
    map_name = "perf-" + std::to_string(pid) + ".map";
    std::ofstream out(root + "/tmp/" + map_name, std::ios::binary);
    out << jit_line(kLegitName);
    // 17 MiB of other symbols, far from the JIT page.
    std::string lines;
    uint64_t addr = 0x100000000ull;
    while (lines.size() < (size_t{17} << 20)) {
      lines += hex(addr) + " 10 filler_" + hex(addr) + "\n";
      addr += 0x10;
    }
    out << lines;
    ASSERT_TRUE(out.good());
  });
  ASSERT_TRUE(run.report.is_object()) << run.err;
  EXPECT_TRUE(names(run, kLegitName)) << run.text;

  const json& limits = run.report["input_limits"];
  ASSERT_GE(limits["total"].get<int>(), 1) << limits.dump();
  bool said = false;
  for (const json& hit : limits["hits"]) {
    if (hit["file"].get<std::string>().ends_with("/tmp/" + map_name) &&
        hit["limit"].get<std::string>().find("perf map read cap") != std::string::npos)
      said = true;
  }
  EXPECT_TRUE(said) << limits.dump(2);
  EXPECT_NE(run.text.find("Input limits hit"), std::string::npos) << run.text;
  EXPECT_NE(run.text.find(map_name), std::string::npos) << run.text;
  EXPECT_NE(run.err.find(map_name), std::string::npos) << "no warning on stderr: " << run.err;
}
