// A real Debian program, built as Debian builds it (optimized, no frame
// pointers), leaking through its normal interface: the report names its own
// C frames down to the bottom of its stack (issue 12).
//
// The program is Debian's Python interpreter, /usr/bin/python3.11 (not the
// `python3` on PATH, which may be anyone's). Debian strips it to .dynsym: of
// the frames below, only PyObject_Malloc-like exported functions could be
// named from the binary alone. Its symbols come with the package
// python3.11-dbg (installed by tools/setup), whose /usr/lib/debug/.build-id
// file for the interpreter carries the full symbol table; leakscope reads
// that tree, as a user who installed it would expect. With it every frame
// of the walk has a name (GCC's LTO clones keep a suffix: "run_mod.lto_priv.0").
//
// Which frames: the script leaks strings made by `"x" * n` (1049-byte
// blocks, past pymalloc's 512-byte limit, so each is a malloc), appended to a
// global list. The interpreter's C stack for them, frame after frame, is the
// multiply (PyNumber_Multiply, into which LTO inlined unicode_repeat,
// PyUnicode_New, PyObject_Malloc and PyMem_RawMalloc: the allocator's caller,
// so the leak site), the bytecode loop (_PyEval_EvalFrameDefault; a call of a
// Python function from Python makes no C frame in 3.11), the code object's
// run (PyEval_EvalCode, run_eval_code_obj, run_mod), the script file's
// (pyrun_file, _PyRun_SimpleFileObject, _PyRun_AnyFileObject), Py_RunMain
// and Py_BytesMain: what gdb's CFI backtrace of this same interpreter at
// such a malloc gives, one return address per frame, and what leakscope's
// kind fault (whose stacks are walked another way) reports for the same
// leak. Not `main`: the
// interpreter's main is a 2-byte `jmp Py_BytesMain`, a tail call, so main is
// on no stack and Py_BytesMain's caller is the C library's start code. A
// Debian rebuild that inlines differently changes this chain: rederive it
// with gdb (`break malloc if $rdi == 1049`, `bt`, `info symbol` on each
// address).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "harness.h"
#include "services.h"

using namespace e2e;
using nlohmann::json;

namespace {

// Debian's interpreter, by its real name.
std::string debian_python() {
  char real[PATH_MAX];
  if (!::realpath("/usr/bin/python3", real)) return "";
  return real;
}

// The interpreter's build id, from `readelf -n`.
std::string build_id(const std::string& binary) {
  const std::string out = run_command("readelf -n '" + binary + "' 2>/dev/null").second;
  const std::string key = "Build ID: ";
  auto at = out.find(key);
  if (at == std::string::npos) return "";
  auto end = out.find_first_of("\n ", at + key.size());
  return out.substr(at + key.size(), end - at - key.size());
}

// Speaks the fixtures' protocol: "ready", waits for "go", leaks `seconds`
// at a steady rate, prints "done", then waits for its stdin to close.
constexpr const char* kScript = R"py(import os, sys, time
kept = []
def serve(seconds, per_tick, n):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(per_tick):
            kept.append("x" * n)
        time.sleep(0.02)
print("ready", os.getpid(), flush=True)
sys.stdin.readline()
serve(float(sys.argv[1]), 40, int(sys.argv[2]))
print("expect kept", 0, len(kept), flush=True)
print("done", flush=True)
sys.stdin.read()
)py";

// What the report says of the script's leak, traced for `kinds`.
struct Traced {
  json report;
  json top;                 // the interpreter's stack of `kinds` holding the most bytes
  long long strings = 0;    // strings the script kept
  std::string python, text;
};

// Runs the script in Debian's interpreter (6 s, ~1,700 strings of 1000
// characters a second: ~10 MiB), traced with `args` from before "go" until
// it is done; then stops leakscope and the interpreter.
void trace_python(const std::string& kind, const std::vector<std::string>& args, Traced* t) {
  t->python = debian_python();
  ASSERT_FALSE(t->python.empty()) << "no /usr/bin/python3 (tools/setup installs python3)";
  const std::string id = build_id(t->python);
  ASSERT_GE(id.size(), 3u) << t->python << " has no build id";
  const std::string debug =
      "/usr/lib/debug/.build-id/" + id.substr(0, 2) + "/" + id.substr(2) + ".debug";
  struct stat st;
  ASSERT_EQ(::stat(debug.c_str(), &st), 0)
      << "no symbols for " << t->python << " at " << debug
      << ": tools/setup installs python3.11-dbg, matching the interpreter's version";

  const std::string base = "/tmp/leakscope-e2e-python-" + std::to_string(::getpid()) + "-" + kind;
  const std::string script = base + ".py", path = base + ".json";
  {
    std::ofstream out(script);
    out << kScript;
  }
  Fixture py(t->python, {script, "6", "1000"});
  const pid_t pid = py.pid();
  std::vector<std::string> all = {"trace", "-p", std::to_string(pid), "--kinds", kind,
                                  "--json", path, "--no-control"};
  all.insert(all.end(), args.begin(), args.end());
  Leakscope ls(all);
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  py.go();
  auto expects = py.wait_done(60);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // two ticks see it all
  EXPECT_EQ(ls.stop(), 0) << ls.err();
  EXPECT_TRUE(py.running());
  t->report = take_json(path);
  t->text = ls.out();
  py.finish();
  std::remove(script.c_str());
  ASSERT_TRUE(t->report.is_object()) << ls.err();
  t->strings = expects.at("kept").objects;
  ASSERT_GT(t->strings, 5000);
  for (const json& s : t->report["stacks"])
    if (s["pid"] == pid && s["kind"] == kind &&
        (t->top.is_null() || s["live_bytes"].get<long long>() > t->top["live_bytes"].get<long long>()))
      t->top = s;
  ASSERT_FALSE(t->top.is_null()) << "no " << kind << " stack of the interpreter\n" << t->text;
}

// The interpreter's own frames, leak site first (see the top of the file).
const std::vector<std::string> kChain = {
    "PyNumber_Multiply", "_PyEval_EvalFrameDefault", "PyEval_EvalCode",
    "run_eval_code_obj", "run_mod",                  "pyrun_file",
    "_PyRun_SimpleFileObject", "_PyRun_AnyFileObject", "Py_RunMain",
    "Py_BytesMain"};

// Every frame above Py_BytesMain is the interpreter's.
void expect_frames_in(const json& stack, const std::string& python) {
  for (const json& f : stack["frames"]) {
    if (f["function"] == "Py_BytesMain") break;
    EXPECT_EQ(f["module"], python) << "a frame above Py_BytesMain outside the interpreter: "
                                   << chain_text(stack);
  }
}

}  // namespace

// Heap: the uprobe on malloc walks the interpreter's stack.
TEST(RealProgramE2E, DebianPythonHeapLeakNamesItsOwnFramesDownToPyBytesMain) {
  Traced t;
  ASSERT_NO_FATAL_FAILURE(trace_python("heap", {"--tick", "200ms", "--interval", "1s"}, &t));
  // The kept strings, every one of them.
  EXPECT_GE(t.top["live_objects"].get<long long>(), t.strings * 9 / 10) << t.top.dump();
  EXPECT_TRUE(has_chain(t.top, kChain));
  expect_frames_in(t.top, t.python);
}

// Fault: the same leak seen from its first-touch page faults, through the
// same interpreter frames (this kind's stacks are walked by another path
// than the heap probes': the two must agree).
TEST(RealProgramE2E, DebianPythonFaultStackNamesTheSameFrames) {
  Traced t;
  ASSERT_NO_FATAL_FAILURE(
      trace_python("fault", {"--tick", "500ms", "--fault-stacks", "4096", "-q"}, &t));
  // ~1 KiB per string, in pages first touched: most of them.
  EXPECT_GE(t.top["live_bytes"].get<long long>(), t.strings * 1000 / 2) << t.top.dump();
  EXPECT_TRUE(has_chain(t.top, kChain));
  expect_frames_in(t.top, t.python);
}

// Node.js with --perf-basic-prof, an HTTP server under load whose handler
// keeps a Buffer per request (issue 12's acceptance: no heap stack lost, JS
// frames named through the perf map). The script serves on loopback and
// loads itself (~150 requests a second through node's own HTTP client) for
// `seconds`, speaking the fixtures' protocol.
namespace {

constexpr const char* kNodeScript = R"js(const http = require('http');
const keep = [];
function remember(req) { keep.push(Buffer.alloc(8192, 1)); }
function handler(req, res) { remember(req); res.end('ok'); }
const server = http.createServer(handler);
server.listen(0, '127.0.0.1', () => {
  console.log('ready ' + process.pid);
  process.stdin.once('data', () => {
    const port = server.address().port, end = Date.now() + 1000 * Number(process.argv[2]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const timer = setInterval(() => {
      if (Date.now() > end) {
        clearInterval(timer);
        setTimeout(() => { console.log('expect kept 0 ' + keep.length); console.log('done'); }, 300);
        return;
      }
      for (let i = 0; i < 3; i++) http.get({ port, host: '127.0.0.1', agent }, r => r.resume());
    }, 20);
  });
});
)js";

}  // namespace

TEST(RealProgramE2E, NodeServerUnderLoadLosesNoStackAndNamesItsJavaScript) {
  const std::string base = "/tmp/leakscope-e2e-node-" + std::to_string(::getpid());
  const std::string script = base + ".js", path = base + ".json";
  {
    std::ofstream out(script);
    out << kNodeScript;
  }
  // --perf-basic-prof also makes V8 log to isolate-*.log in the working
  // directory: that log goes next to the script, and both go at the end.
  const std::string v8_log = base + ".v8.log";
  Fixture node("/usr/bin/node",
               {"--perf-basic-prof", "--no-logfile-per-isolate", "--logfile=" + v8_log, script, "8"});
  const pid_t pid = node.pid();
  Leakscope ls({"trace", "-p", std::to_string(pid), "--kinds", "heap", "--json", path, "--no-control",
                "--tick", "500ms"});
  ASSERT_TRUE(ls.wait_tracing()) << ls.err();
  node.go();
  auto expects = node.wait_done(60);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(ls.stop(), 0) << ls.err();
  const json report = take_json(path);
  node.finish();
  std::remove(script.c_str());
  std::remove(v8_log.c_str());
  std::remove(("/tmp/perf-" + std::to_string(pid) + ".map").c_str());  // node's own, not ours
  ASSERT_TRUE(report.is_object()) << ls.err();
  const long long kept = expects.at("kept").objects;
  ASSERT_GT(kept, 500) << "the load did not run";

  // Every allocation got its stack: none lost, for any reason.
  const json& health = report["health"];
  EXPECT_EQ(health["stacks_unreadable"], 0) << health.dump();
  EXPECT_EQ(health["stack_ids_full"], 0) << health.dump();
  EXPECT_EQ(health["stacks_full"], 0) << health.dump();

  // The kept Buffers' stacks: node's C++ allocator frames, then the
  // JavaScript that kept them, named from the perf map. (V8 runs the same
  // function interpreted, then compiled: one leak, a few stacks.)
  auto names_js = [&](const json& stack, const std::string& function) {
    for (const json& f : stack["frames"]) {
      const std::string fn = f["function"];
      if (f["module"] == "[jit]" && fn.find(script) != std::string::npos &&
          fn.find(function) != std::string::npos)
        return true;
    }
    return false;
  };
  const json* top = nullptr;
  long long remembered = 0;
  for (const json& s : report["stacks"]) {
    if (s["pid"] != pid || s["kind"] != "heap") continue;
    if (names_js(s, "remember")) remembered += s["live_objects"].get<long long>();
    if (!top || s["live_bytes"].get<long long>() > (*top)["live_bytes"].get<long long>()) top = &s;
  }
  ASSERT_NE(top, nullptr) << ls.out();
  EXPECT_TRUE(names_js(*top, "remember") && names_js(*top, "handler"))
      << "the top stack has no JS frames remember and handler of " << script << ": " << chain_text(*top);
  EXPECT_GE(remembered, kept * 9 / 10) << "of " << kept << " Buffers kept, " << remembered
                                       << " are under a stack naming remember";
}
