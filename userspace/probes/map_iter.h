// Reading whole BPF hash maps from userspace in batches (one syscall per
// chunk), falling back to key-by-key iteration where batches are refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace leakscope {

// Calls `visit(key, value)` for every entry of the map `fd`. Returns false when
// the map could not be read at all. Entries added or removed meanwhile may or
// may not be visited (the kernel gives no snapshot).
bool for_each_entry(int fd, size_t key_size, size_t value_size,
                    const std::function<void(const void* key, const void* value)>& visit);

// Deletes the given keys (packed back to back, `key_size` each).
void delete_keys(int fd, size_t key_size, const std::vector<uint8_t>& keys);

}  // namespace leakscope
