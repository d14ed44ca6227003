#include "probes/map_iter.h"

#include <bpf/bpf.h>

#include <cerrno>

namespace leakscope {

namespace {

constexpr uint32_t kChunk = 4096;

bool iterate_by_key(int fd, size_t key_size, size_t value_size,
                    const std::function<void(const void*, const void*)>& visit) {
  std::vector<uint8_t> key(key_size), next(key_size), value(value_size);
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    if (bpf_map_lookup_elem(fd, next.data(), value.data()) == 0) visit(next.data(), value.data());
    key.swap(next);
    prev = key.data();
  }
  return errno == ENOENT;
}

}  // namespace

bool for_each_entry(int fd, size_t key_size, size_t value_size,
                    const std::function<void(const void*, const void*)>& visit) {
  std::vector<uint8_t> keys(key_size * kChunk), values(value_size * kChunk);
  // The hash map's batch token is a bucket index; give it ample room.
  uint64_t token_in = 0, token_out = 0;
  bool first = true;
  for (;;) {
    uint32_t count = kChunk;
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &token_in, &token_out, keys.data(),
                                   values.data(), &count, nullptr);
    int saved = errno;
    if (err && saved != ENOENT) {
      if (first && (saved == EINVAL || saved == ENOTSUP || saved == EOPNOTSUPP))
        return iterate_by_key(fd, key_size, value_size, visit);
      return !first;
    }
    for (uint32_t i = 0; i < count; ++i)
      visit(keys.data() + i * key_size, values.data() + i * value_size);
    if (err) return true;  // ENOENT: that was the last chunk
    token_in = token_out;
    first = false;
  }
}

void delete_keys(int fd, size_t key_size, const std::vector<uint8_t>& keys) {
  size_t n = key_size ? keys.size() / key_size : 0;
  for (size_t done = 0; done < n;) {
    uint32_t count = static_cast<uint32_t>(std::min<size_t>(kChunk, n - done));
    if (bpf_map_delete_batch(fd, keys.data() + done * key_size, &count, nullptr) != 0) {
      // Batch delete stops at the first missing key; finish one by one.
      for (size_t i = done; i < n; ++i) bpf_map_delete_elem(fd, keys.data() + i * key_size);
      return;
    }
    done += count;
  }
}

}  // namespace leakscope
