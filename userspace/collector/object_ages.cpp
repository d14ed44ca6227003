#include "collector/object_ages.h"

#include <time.h>

#include <algorithm>
#include <random>
#include <vector>

#include "leakscope.h"
#include "probes/map_iter.h"

namespace leakscope {

namespace {
// Births kept per stack for the median: a uniform reservoir sample.
constexpr size_t kReservoir = 1024;

struct Births {
  uint64_t oldest = UINT64_MAX;
  uint64_t seen = 0;
  std::vector<uint64_t> sample;
};
}  // namespace

uint64_t monotonic_now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::map<SeriesKey, AgeProfile> read_object_ages(int objects_fd, const std::set<uint32_t>& ids,
                                                 uint64_t now_ns) {
  std::map<SeriesKey, Births> births;
  std::mt19937_64 rng(42);
  for_each_entry(objects_fd, sizeof(ls_obj_key), sizeof(ls_obj_val),
                 [&](const void* k, const void* v) {
                   auto* key = static_cast<const ls_obj_key*>(k);
                   auto* val = static_cast<const ls_obj_val*>(v);
                   if (!ids.count(key->trace_id)) return;
                   SeriesKey sk{key->trace_id, key->kind, val->stack_id, val->fn};
                   Births& b = births[sk];
                   b.oldest = std::min<uint64_t>(b.oldest, val->birth_ns);
                   ++b.seen;
                   if (b.sample.size() < kReservoir) {
                     b.sample.push_back(static_cast<uint64_t>(val->birth_ns));
                   } else {
                     uint64_t j = rng() % b.seen;
                     if (j < kReservoir) b.sample[j] = val->birth_ns;
                   }
                 });
  std::map<SeriesKey, AgeProfile> out;
  for (auto& [key, b] : births) {
    auto mid = b.sample.begin() + static_cast<long>(b.sample.size() / 2);
    std::nth_element(b.sample.begin(), mid, b.sample.end());
    auto age = [now_ns](uint64_t birth) {
      return birth < now_ns ? static_cast<double>(now_ns - birth) / 1e9 : 0.0;
    };
    out[key] = AgeProfile{age(b.oldest), age(*mid), b.seen};
  }
  return out;
}

}  // namespace leakscope
