// The kernel's counters (enum ls_counter) as a report's Health: the one
// place that says which counter is which figure, for the report, the metrics
// and status alike.
#pragma once

#include <array>
#include <cstdint>

#include "leakscope.h"
#include "report/health.h"

namespace leakscope {

// Pure. Every LS_CNT_* counter lands in exactly one figure (checked at
// compile time in kernel_health.cpp); `fault_pages_dropped` is the page ledger's
// pages_dropped(). Frames and map sizes are left at 0 for the caller.
Health health_from(const std::array<uint64_t, LS_CNT__COUNT>& counters,
                   uint64_t fault_pages_dropped);

}  // namespace leakscope
