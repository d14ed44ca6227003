#include "report/model.h"

#include <algorithm>

namespace leakscope {

void rank_stacks(std::vector<StackEntry>& stacks) {
  std::stable_sort(stacks.begin(), stacks.end(), [](const StackEntry& a, const StackEntry& b) {
    if (a.growth_bytes_per_sec != b.growth_bytes_per_sec)
      return a.growth_bytes_per_sec > b.growth_bytes_per_sec;
    if (a.live_bytes != b.live_bytes) return a.live_bytes > b.live_bytes;
    if (a.pid != b.pid) return a.pid < b.pid;
    return a.stack_id < b.stack_id;
  });
}

}  // namespace leakscope
