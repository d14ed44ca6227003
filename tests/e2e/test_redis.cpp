// A real service as the proof (issue 14): Debian's redis-server (linked
// against libjemalloc2, no frame pointers, symbols from its .dynsym: redis
// links with -rdynamic) on a loopback port, traced by `leakscope trace -p`
// while redis-benchmark stores new keys without end. With no maxmemory the
// keys are a heap leak whose stack goes through redis's key-adding code; with
// maxmemory and allkeys-lru memory levels off and nothing is called a leak;
// redis answers throughout and after leakscope exits; and -v names jemalloc
// and lists the functions probed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "services.h"

using namespace e2e;
using nlohmann::json;

namespace {

// A frame's function is `name`, or `name` with a compiler's suffix
// ("dbAdd.part.0").
bool is_function(const json& frame, const std::string& name) {
  const std::string f = frame.value("function", "");
  return f == name || f.rfind(name + ".", 0) == 0;
}

// Whether `frames` hold `callee <- caller <- ...` as consecutive frames.
bool has_calls(const json& frames, const std::vector<std::string>& chain) {
  for (size_t i = 0; i + chain.size() <= frames.size(); ++i) {
    bool all = true;
    for (size_t j = 0; j < chain.size() && all; ++j) all = is_function(frames[i + j], chain[j]);
    if (all) return true;
  }
  return false;
}

// Redis's heap stacks judged a leak.
std::vector<const json*> heap_leaks(const json& report, pid_t pid) {
  std::vector<const json*> leaks;
  for (const json& s : report["stacks"])
    if (s["pid"] == pid && s["kind"] == "heap" && s["verdict"] == "leak") leaks.push_back(&s);
  return leaks;
}

std::string all_heap_stacks(const json& report, pid_t pid) {
  std::ostringstream out;
  for (const json& s : report["stacks"])
    if (s["pid"] == pid && s["kind"] == "heap")
      out << s["verdict"].get<std::string>() << " " << s["live_bytes"] << " B: " << chain_text(s)
          << "\n";
  return out.str();
}

// Traces `redis` for `seconds` (judging a 30 s window, ticking each second),
// pinging it every 2 s while it does; returns the final report.
json trace_redis(const RedisServer& redis, const Program& fill, int seconds) {
  const std::string json_path = "/tmp/leakscope-e2e-redis-" + std::to_string(::getpid()) + ".json";
  std::remove(json_path.c_str());
  Leakscope ls({"trace", "-p", std::to_string(redis.pid()), "--kinds", "heap", "--tick", "1s",
                "--window", "30s", "--interval", "10s", "--json", json_path});
  EXPECT_TRUE(ls.wait_tracing(60)) << ls.err();
  for (int i = 0; i < seconds; i += 2) {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    EXPECT_TRUE(redis.ping()) << "redis stopped answering " << i << " s into the trace";
    EXPECT_TRUE(fill.running()) << "redis-benchmark stopped: " << fill.output();
  }
  EXPECT_EQ(ls.stop(60), 0) << ls.err();
  // Still serving once leakscope has taken its probes off.
  EXPECT_TRUE(redis.running());
  EXPECT_TRUE(redis.ping()) << "redis does not answer after leakscope exited";
  EXPECT_GT(redis.info_field("used_memory"), 0)
      << "redis's INFO does not answer after leakscope exited";
  return take_json(json_path);
}

}  // namespace

// New keys without end and no maxmemory: a heap leak. Its stack goes through
// redis's SET path into the keyspace: `dictAddRaw <- dbAdd <- setKey <-
// setGenericCommand <- setCommand` (the dict entry of each new key) or
// `_sdsnewlen <- dbAdd <- setKey` (the key's name copied into the keyspace).
// The leak site itself is the frame above those: redis's allocator wrapper
// (`zmalloc` or `zmalloc_usable` in redis-check-rdb, which Debian's
// redis-server links to), a function of redis's own executable that calls
// jemalloc's malloc; it is asserted to be in redis's executable, not named.
TEST(RedisE2E, NewKeysWithoutEndAreAHeapLeakThroughSetKey) {
  RedisServer redis;
  std::unique_ptr<Program> fill = redis.fill();
  json report = trace_redis(redis, *fill, 36);
  ASSERT_TRUE(report.is_object());
  const std::vector<const json*> leaks = heap_leaks(report, redis.pid());
  ASSERT_FALSE(leaks.empty()) << "no heap leak verdict for redis's new keys:\n"
                              << all_heap_stacks(report, redis.pid());
  const json* keyspace = nullptr;
  for (const json* s : leaks)
    if (has_calls((*s)["frames"], {"dictAddRaw", "dbAdd", "setKey"}) ||
        has_calls((*s)["frames"], {"_sdsnewlen", "dbAdd", "setKey"}))
      keyspace = s;
  ASSERT_NE(keyspace, nullptr) << "no leak through dbAdd <- setKey:\n"
                               << all_heap_stacks(report, redis.pid());
  const json& site = (*keyspace)["frames"][(*keyspace)["leak_site"].get<size_t>()];
  EXPECT_NE(site.value("module", "").find("redis"), std::string::npos) << chain_text(*keyspace);
  EXPECT_GT((*keyspace)["live_bytes"].get<long long>(), 0);
  std::printf("redis leak: %s\n", chain_text(*keyspace).c_str());
}

// jemalloc maps new extents as the keys grow (1 KiB values: tens of MiB in
// seconds). Those mmaps are made by libjemalloc's own code, reached through
// a malloc that tail-jumps to its slow path, in a stripped library: with
// the mmap kind on as well, they are the heap leak's allocator footprint,
// never a leak of their own.
TEST(RedisE2E, JemallocsOwnMappingsAreTheHeapStacksFootprintNotAStackOfTheirOwn) {
  RedisServer redis;
  std::unique_ptr<Program> fill = redis.fill(1024);
  const std::string json_path = "/tmp/leakscope-e2e-redis-mmap-" + std::to_string(::getpid()) + ".json";
  std::remove(json_path.c_str());
  Leakscope ls({"trace", "-p", std::to_string(redis.pid()), "--kinds", "heap,mmap", "--tick", "1s",
                "--window", "30s", "--interval", "10s", "--json", json_path});
  ASSERT_TRUE(ls.wait_tracing(60)) << ls.err();
  std::this_thread::sleep_for(std::chrono::seconds(12));
  EXPECT_TRUE(fill->running()) << "redis-benchmark stopped: " << fill->output();
  ASSERT_EQ(ls.stop(60), 0) << ls.err();
  EXPECT_TRUE(redis.ping()) << "redis does not answer after leakscope exited";
  const json report = take_json(json_path);
  ASSERT_TRUE(report.is_object());
  long long footprint = 0;
  for (const json& s : report["stacks"]) {
    if (s["pid"] != redis.pid()) continue;
    if (s["kind"] == "mmap" && !s["frames"].empty()) {
      EXPECT_EQ(s["frames"][0].value("module", "").find("libjemalloc"), std::string::npos)
          << "jemalloc's own mapping judged as a stack: " << s["verdict"] << " " << chain_text(s);
    }
    if (s["kind"] == "heap" && s.contains("allocator_footprint"))
      footprint += s["allocator_footprint"]["held_bytes"].get<long long>();
  }
  EXPECT_GT(footprint, 4ll << 20) << "jemalloc's extents were not put under the heap stacks they serve:\n"
                                  << all_heap_stacks(report, redis.pid());
  std::printf("jemalloc extents under redis's heap stacks: %lld bytes\n", footprint);
}

// The same load under maxmemory 8mb with allkeys-lru: redis evicts old keys
// as new ones come, its memory stays at the cap, and none of its heap stacks
// is called a leak. The cap is reached before the trace starts (redis
// untraced fills 8 MiB in about a second), so the 45 s traced see keys come
// and go: the trace's own view levels off once the keys it saw allocated
// are the ones being evicted.
TEST(RedisE2E, TheSameLoadUnderMaxmemoryLevelsOffAndIsNoLeak) {
  RedisServer redis({"--maxmemory", "8mb", "--maxmemory-policy", "allkeys-lru"});
  std::unique_ptr<Program> fill = redis.fill();
  for (int i = 0; i < 300 && redis.info_field("evicted_keys") <= 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_GT(redis.info_field("evicted_keys"), 0) << "redis did not reach maxmemory in 30 s";
  const long long cap = 8ll << 20;
  json report = trace_redis(redis, *fill, 46);
  ASSERT_TRUE(report.is_object());
  EXPECT_TRUE(heap_leaks(report, redis.pid()).empty()) << all_heap_stacks(report, redis.pid());
  // Levelled off: still evicting, still at the cap (redis evicts before each
  // command, so it overshoots by at most one pipeline's keys).
  EXPECT_GT(redis.info_field("evicted_keys"), 0);
  const long long used = redis.info_field("used_memory");
  EXPECT_GT(used, cap / 2);
  EXPECT_LT(used, cap + (1ll << 20));
  std::printf("redis at maxmemory: used_memory %lld, %lld keys evicted\n", used,
              redis.info_field("evicted_keys"));
}

// `leakscope trace -p $(pidof redis-server) -v`: the start line names
// jemalloc as what serves redis's malloc, and -v lists what was probed in
// libjemalloc.so.2, its own API (mallocx, sdallocx) among the C one.
TEST(RedisE2E, VerboseNamesJemallocAndListsTheProbedFunctions) {
  RedisServer redis;
  Leakscope ls({"trace", "-p", std::to_string(redis.pid()), "-v", "--kinds", "heap"});
  ASSERT_TRUE(ls.wait_tracing(60)) << ls.err();
  EXPECT_TRUE(redis.ping());
  EXPECT_EQ(ls.stop(60), 0) << ls.err();
  const std::string err = ls.err();
  EXPECT_NE(err.find("PID " + std::to_string(redis.pid()) +
                     " (redis-server): allocator jemalloc in libjemalloc.so.2 serves malloc"),
            std::string::npos)
      << err;
  const size_t at = err.find("probed in libjemalloc.so.2:");
  ASSERT_NE(at, std::string::npos) << err;
  std::istringstream line(err.substr(at + 27, err.find('\n', at) - at - 27));
  std::vector<std::string> probed;
  for (std::string word; line >> word;) probed.push_back(word);
  for (const char* fn :
       {"malloc", "calloc", "realloc", "posix_memalign", "free", "mallocx", "rallocx", "sdallocx"})
    EXPECT_NE(std::find(probed.begin(), probed.end(), fn), probed.end()) << fn << " not listed:\n"
                                                                         << err;
  EXPECT_TRUE(redis.ping());
}
