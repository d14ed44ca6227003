#include "tracer/kernel_health.h"

#include <cstddef>

namespace leakscope {

namespace {

// Which figure each counter is, indexed by the counter: a new LS_CNT_* with
// no line here leaves a null that the checks below refuse to compile.
constexpr std::array<uint64_t Health::*, LS_CNT__COUNT> kFigureOf = [] {
  std::array<uint64_t Health::*, LS_CNT__COUNT> f{};
  f[LS_CNT_ALLOCS] = &Health::allocs;
  f[LS_CNT_FREES] = &Health::frees;
  f[LS_CNT_FREES_UNKNOWN] = &Health::frees_unknown;
  f[LS_CNT_OBJ_MAP_FULL] = &Health::dropped_objects;
  f[LS_CNT_LEDGER_FULL] = &Health::dropped_ledger;
  f[LS_CNT_STACK_UNREADABLE] = &Health::stacks_unreadable;
  f[LS_CNT_INFLIGHT_FULL] = &Health::inflight_drops;
  f[LS_CNT_STALE_REPLACED] = &Health::stale_replaced;
  f[LS_CNT_EVENTS_LOST] = &Health::events_lost;
  f[LS_CNT_IMAGES_FULL] = &Health::children_not_followed;
  f[LS_CNT_FAULTS_LOST] = &Health::fault_events_lost;
  f[LS_CNT_FAULT_NO_STACK] = &Health::fault_stacks_over_budget;
  f[LS_CNT_STACK_IDS_FULL] = &Health::stack_ids_full;
  f[LS_CNT_STACKS_FULL] = &Health::stacks_full;
  f[LS_CNT_FAULTS_SAMPLED] = &Health::fault_events_sampled;
  f[LS_CNT_SYS_STACKS_SHED] = &Health::syscall_stacks_shed;
  return f;
}();

constexpr bool every_counter_has_its_own_kernel_figure() {
  for (size_t i = 0; i < kFigureOf.size(); ++i) {
    if (kFigureOf[i] == nullptr) return false;
    for (size_t j = 0; j < i; ++j)
      if (kFigureOf[j] == kFigureOf[i]) return false;
    bool kernel_figure = false;
    for (const HealthFigureInfo& info : kHealthFigures)
      if (info.field == kFigureOf[i]) kernel_figure = info.kernel;
    if (!kernel_figure) return false;
  }
  return true;
}

// Distinct kernel figures, one per counter, as many as Health declares: so
// each of Health's kernel figures is read from exactly one counter.
static_assert(every_counter_has_its_own_kernel_figure(),
              "each LS_CNT_* counter needs its own figure in Health marked kernel");
static_assert(kHealthKernelFigures == LS_CNT__COUNT,
              "Health's kernel figures and enum ls_counter differ in number");

}  // namespace

Health health_from(const std::array<uint64_t, LS_CNT__COUNT>& counters,
                   uint64_t fault_pages_dropped) {
  Health h;
  for (size_t i = 0; i < counters.size(); ++i) h.*kFigureOf[i] = counters[i];
  h.fault_pages_dropped = fault_pages_dropped;
  return h;
}

}  // namespace leakscope
