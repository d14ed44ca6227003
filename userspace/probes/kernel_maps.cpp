#include "probes/kernel_maps.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <tuple>

#include "core/errors.h"
#include "core/unique_fd.h"
#include "leakscope_bpf.skel.h"
#include "probes/map_iter.h"

namespace leakscope {

namespace {

// Births kept per stack for the median: a uniform reservoir sample.
constexpr size_t kReservoir = 1024;

// Deletes the entries of `fd` whose key's first 32 bits are `id`.
size_t delete_by_trace_id(int fd, size_t key_size, size_t value_size, TraceId id) {
  std::vector<uint8_t> doomed;
  for_each_entry(fd, key_size, value_size, [&](const void* k, const void*) {
    uint32_t key_id;
    std::memcpy(&key_id, k, sizeof key_id);
    if (key_id != id) return;
    auto* bytes = static_cast<const uint8_t*>(k);
    doomed.insert(doomed.end(), bytes, bytes + key_size);
  });
  delete_keys(fd, key_size, doomed);
  return doomed.size() / key_size;
}

LedgerValue ledger_value(const ls_ledger_val& v) {
  return LedgerValue{v.live_bytes, v.live_objects, v.allocs, v.frees, v.bytes_allocated, v.first_ns};
}

}  // namespace

uint64_t monotonic_now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

KernelMaps::KernelMaps(const BpfObject& object, uint32_t heap_scale)
    : object_(object), heap_scale_(heap_scale ? heap_scale : 1) {}

void KernelMaps::track(pid_t pid, TraceId id, bool follow_children) {
  uint32_t tgid = static_cast<uint32_t>(pid);
  ls_image value{id, follow_children ? LS_IMAGE_FOLLOW : 0u};
  if (bpf_map_update_elem(bpf_map__fd(object_.skel().maps.images), &tgid, &value, BPF_ANY))
    throw FatalError(ExitCode::Failure, "cannot trace PID " + std::to_string(pid) +
                                            ": images map full (" + std::strerror(errno) + ")");
}

void KernelMaps::untrack(pid_t pid) {
  uint32_t tgid = static_cast<uint32_t>(pid);
  bpf_map_delete_elem(bpf_map__fd(object_.skel().maps.images), &tgid);
}

std::map<pid_t, KernelImage> KernelMaps::read_images() const {
  std::map<pid_t, KernelImage> out;
  for_each_entry(bpf_map__fd(object_.skel().maps.images), sizeof(uint32_t), sizeof(ls_image),
                 [&](const void* k, const void* v) {
                   auto* image = static_cast<const ls_image*>(v);
                   out[static_cast<pid_t>(*static_cast<const uint32_t*>(k))] =
                       KernelImage{image->id, (image->flags & LS_IMAGE_FOLLOW) != 0};
                 });
  return out;
}

std::optional<std::vector<LedgerRow>> KernelMaps::read_ledger() const {
  std::vector<LedgerRow> rows;
  const int64_t n = heap_scale_;
  bool ok = for_each_entry(bpf_map__fd(object_.skel().maps.ledger), sizeof(ls_ledger_key),
                           sizeof(ls_ledger_val), [&](const void* k, const void* v) {
                             auto* key = static_cast<const ls_ledger_key*>(k);
                             LedgerRow row;
                             row.trace_id = key->trace_id;
                             row.kind = static_cast<Kind>(key->kind);
                             row.stack_id = key->stack_id;
                             row.fn = key->fn & ~LS_FN_FP_WALKED;
                             row.fp_walked = key->fn & LS_FN_FP_WALKED;
                             row.value = ledger_value(*static_cast<const ls_ledger_val*>(v));
                             const auto* value = static_cast<const ls_ledger_val*>(v);
                             // Sampled (--sample N, or weighted when the objects map
                             // neared full): what was kept, for the error bars.
                             if (row.kind == Kind::Heap && (n > 1 || value->kept_objects != value->live_objects))
                               row.counted_objects = value->kept_objects;
                             if (n > 1 && row.kind == Kind::Heap) {
                               row.value.live_bytes *= n;
                               row.value.live_objects *= n;
                               row.value.allocs *= static_cast<uint64_t>(n);
                               row.value.frees *= static_cast<uint64_t>(n);
                               row.value.bytes_allocated *= static_cast<uint64_t>(n);
                             }
                             rows.push_back(row);
                           });
  if (!ok) return std::nullopt;
  return rows;
}

// The stacks map is an array indexed by stack id; a slot no stack took (or
// one a race lost, see ledger.bpf.h) reads as zeros: no frames.
std::vector<uint64_t> KernelMaps::read_stack(int32_t stack_id) const {
  std::vector<uint64_t> out;
  if (stack_id < 0) return out;
  ls_stack stack{};
  uint32_t id = static_cast<uint32_t>(stack_id);
  if (bpf_map_lookup_elem(bpf_map__fd(object_.skel().maps.stacks), &id, &stack) != 0) return out;
  for (uint64_t ip : stack.frames) {
    if (ip == 0) break;
    out.push_back(ip);
  }
  return out;
}

namespace {

// The ages of the live objects of `ids` in the objects map `fd`.
std::vector<ObjectAges> object_ages_in(int fd, const std::set<TraceId>& ids, uint64_t now_ns) {
  struct Births {
    uint64_t oldest = UINT64_MAX;
    uint64_t seen = 0;
    std::vector<uint64_t> sample;
  };
  using Key = std::tuple<TraceId, uint32_t, int32_t, uint32_t>;
  std::map<Key, Births> births;
  std::mt19937_64 rng(42);
  for_each_entry(fd, sizeof(ls_obj_key), sizeof(ls_obj_val),
                 [&](const void* k, const void* v) {
                   auto* key = static_cast<const ls_obj_key*>(k);
                   auto* val = static_cast<const ls_obj_val*>(v);
                   if (!ids.count(key->trace_id)) return;
                   Births& b = births[Key{key->trace_id, key->kind, val->stack_id,
                                          val->fn & LS_FN_KEY_MASK & ~LS_FN_FP_WALKED}];
                   b.oldest = std::min<uint64_t>(b.oldest, val->birth_ns);
                   ++b.seen;
                   if (b.sample.size() < kReservoir) {
                     b.sample.push_back(val->birth_ns);
                   } else {
                     uint64_t j = rng() % b.seen;
                     if (j < kReservoir) b.sample[j] = val->birth_ns;
                   }
                 });
  auto age = [now_ns](uint64_t birth) {
    return birth < now_ns ? static_cast<double>(now_ns - birth) / 1e9 : 0.0;
  };
  std::vector<ObjectAges> out;
  for (auto& [key, b] : births) {
    auto mid = b.sample.begin() + static_cast<long>(b.sample.size() / 2);
    std::nth_element(b.sample.begin(), mid, b.sample.end());
    ObjectAges a;
    std::tie(a.trace_id, std::ignore, a.stack_id, a.fn) = key;
    a.kind = static_cast<Kind>(std::get<1>(key));
    a.oldest_seconds = age(b.oldest);
    a.median_seconds = age(*mid);
    a.objects = b.seen;
    out.push_back(a);
  }
  return out;
}

}  // namespace

ObjectAgeScan KernelMaps::object_age_scan() const {
  // A descriptor of its own: the scan may outlive the object (a worker
  // thread still scanning when the tracer exits).
  auto fd = std::make_shared<UniqueFd>(::fcntl(bpf_map__fd(object_.skel().maps.objects), F_DUPFD_CLOEXEC, 0));
  return [fd](const std::set<TraceId>& ids) {
    if (fd->get() < 0) return std::vector<ObjectAges>{};
    return object_ages_in(fd->get(), ids, monotonic_now_ns());
  };
}

void KernelMaps::drop_image(TraceId id, bool objects) {
  static_assert(offsetof(ls_obj_key, trace_id) == 0);
  static_assert(offsetof(ls_ledger_key, trace_id) == 0);
  auto& maps = object_.skel().maps;
  delete_by_trace_id(bpf_map__fd(maps.ledger), sizeof(ls_ledger_key), sizeof(ls_ledger_val), id);
  if (!objects) return;
  size_t gone = delete_by_trace_id(bpf_map__fd(maps.objects), sizeof(ls_obj_key), sizeof(ls_obj_val), id);
  __atomic_fetch_sub(&object_.skel().bss->live_entries, static_cast<int64_t>(gone), __ATOMIC_RELAXED);
}

Counters KernelMaps::counters() const {
  Counters out{};
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = __atomic_load_n(&object_.skel().bss->counters[i], __ATOMIC_RELAXED);
  return out;
}

void KernelMaps::set_heap_sample_shift(uint32_t shift) {
  __atomic_store_n(&object_.skel().bss->heap_sample_shift, std::min<uint32_t>(shift, LS_MAX_SAMPLE_SHIFT),
                   __ATOMIC_RELAXED);
}

uint64_t KernelMaps::live_object_entries() const {
  int64_t n = __atomic_load_n(&object_.skel().bss->live_entries, __ATOMIC_RELAXED);
  return n > 0 ? static_cast<uint64_t>(n) : 0;
}

size_t KernelMaps::entries(MapName name) const {
  if (name == MapName::Objects) return live_object_entries();
  auto& maps = object_.skel().maps;
  const bpf_map* m = name == MapName::Images ? maps.images
                     : name == MapName::Objects ? maps.objects
                                                : maps.ledger;
  size_t n = 0;
  for_each_entry(bpf_map__fd(m), bpf_map__key_size(m), bpf_map__value_size(m),
                 [&](const void*, const void*) { ++n; });
  return n;
}

std::vector<MapMemory> KernelMaps::map_memory() const {
  std::vector<MapMemory> out;
  bpf_map* map;
  bpf_object__for_each_map(map, object_.skel().obj) {
    int fd = bpf_map__fd(map);
    if (fd < 0) continue;
    MapMemory m{bpf_map__name(map), bpf_map__max_entries(map), 0, 0};
    std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("memlock:", 0) == 0) m.bytes = std::stoull(line.substr(8));
    m.max_bytes = m.bytes;
    // A hash map not preallocated takes an element's memory per entry: its
    // key and value, 8-byte aligned, and the kernel's element header (under
    // 64 bytes), from the slab (rounded up to a power of two).
    const bpf_map_type type = bpf_map__type(map);
    if ((type == BPF_MAP_TYPE_HASH || type == BPF_MAP_TYPE_LRU_HASH) &&
        (bpf_map__map_flags(map) & BPF_F_NO_PREALLOC)) {
      uint64_t element = 64 + ((bpf_map__key_size(map) + 7) & ~7u) + ((bpf_map__value_size(map) + 7) & ~7u);
      uint64_t slab = 32;
      while (slab < element) slab *= 2;
      m.max_bytes += uint64_t(m.max_entries) * slab;
    }
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const MapMemory& a, const MapMemory& b) { return a.bytes > b.bytes; });
  return out;
}

}  // namespace leakscope
