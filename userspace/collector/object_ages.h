// Age profile of the live objects behind each ledger row, read from the
// per-object map. Costs one pass over that map: done for reports, not ticks.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>

#include "timeline/timeline.h"

namespace leakscope {

struct AgeProfile {
  double oldest_seconds = 0;
  double median_seconds = 0;
  uint64_t objects = 0;
};

// Ages at monotonic time `now_ns` of the objects of the images `ids`, per series key.
std::map<SeriesKey, AgeProfile> read_object_ages(int objects_fd, const std::set<uint32_t>& ids,
                                                 uint64_t now_ns);

uint64_t monotonic_now_ns();

}  // namespace leakscope
