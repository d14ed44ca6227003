// How much to trust a report: what the tracer counted and what it could not
// account for. One named figure per kernel counter (enum ls_counter in
// bpf/leakscope.h; tracer/kernel_health.h maps them) plus the figures userspace
// counts itself. Every renderer (report formats, metrics, status) lists the
// figures through figures() and losses(), never field by field, so that they
// cannot drift apart again.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace leakscope {

// One counted figure of a Health, with its value (see kHealthFigures).
struct HealthFigure {
  std::string_view key;
  std::string_view loss;  // empty: not a loss
  std::string_view text;
  uint64_t value = 0;
  bool kernel = false;
};

// A figure that is a loss: each one makes the report under-count.
struct HealthLoss {
  std::string_view name;  // "objects_map_full", ...
  std::string_view text;  // "objects dropped (object map full)", ...
  uint64_t value = 0;
};

struct Health {
  // From the kernel's counters, one each.
  uint64_t allocs = 0;
  uint64_t frees = 0;
  uint64_t frees_unknown = 0;             // blocks allocated before attach
  uint64_t dropped_objects = 0;           // per-object map full
  uint64_t dropped_ledger = 0;            // ledger map full
  uint64_t stacks_unreadable = 0;         // user stacks not read (heap and syscall kinds)
  uint64_t stack_ids_full = 0;            // stacks not stored: stack id map refused them
  uint64_t stacks_full = 0;               // stacks not stored: --max-stack-traces reached
  uint64_t inflight_drops = 0;            // per-thread state not saved: calls missed
  uint64_t stale_replaced = 0;            // an address reused with no free seen
  uint64_t events_lost = 0;               // syscall events dropped (their ring full)
  uint64_t children_not_followed = 0;     // targets map full
  uint64_t fault_events_lost = 0;         // page-fault events dropped (their ring full)
  uint64_t fault_stacks_over_budget = 0;  // faults sent without a stack (--fault-stacks)
  uint64_t fault_events_sampled = 0;      // faults not sent, stood for by sampled ones (ring filling)
  uint64_t syscall_stacks_shed = 0;       // syscall events sent without their stack (ring filling)
  // Counted in userspace.
  uint64_t fault_pages_dropped = 0;  // pages not booked: page ledger full
  uint64_t events_unread_at_exit = 0;  // events the last tick could not take in time
  uint64_t unknown_frames = 0;       // frames left unsymbolized
  uint64_t total_frames = 0;
  // Sizes, not counts: how close the maps are to dropping.
  uint32_t objects_capacity = 0;
  uint32_t ledger_rows = 0;
  uint32_t ledger_capacity = 0;
  uint32_t live_object_entries = 0;  // sum of live objects over the ledger

  // Every counted figure, in the order of kHealthFigures.
  std::vector<HealthFigure> figures() const;
  // The figures that are losses, in the same order.
  std::vector<HealthLoss> losses() const;
  bool lossless() const;
  uint64_t lost_total() const;
};

// One counted figure of Health, described once.
struct HealthFigureInfo {
  uint64_t Health::*field;
  std::string_view key;   // the JSON report's key (the member's name)
  std::string_view loss;  // the loss's machine name (metrics reason, status); empty: not a loss
  std::string_view text;  // what a person reads after the number
  bool kernel;            // one of the kernel's LS_CNT_* counters
};

// Loss names are the `reason` label of leakscope_dropped_total and the keys
// of status's "drops": dashboards and scripts match on them, so keep them.
inline constexpr std::array<HealthFigureInfo, 20> kHealthFigures = {{
    {&Health::allocs, "allocs", "", "allocs", true},
    {&Health::frees, "frees", "", "frees", true},
    {&Health::frees_unknown, "frees_unknown", "", "frees of blocks from before attach", true},
    {&Health::dropped_objects, "dropped_objects", "objects_map_full",
     "objects dropped (object map full)", true},
    {&Health::dropped_ledger, "dropped_ledger", "ledger_map_full",
     "ledger rows dropped (ledger full)", true},
    {&Health::stacks_unreadable, "stacks_unreadable", "stack_unreadable",
     "stacks not captured (user stack unreadable)", true},
    {&Health::stack_ids_full, "stack_ids_full", "stack_id_map_full",
     "stacks not stored (stack id map full)", true},
    {&Health::stacks_full, "stacks_full", "stack_map_full",
     "stacks not stored (--max-stack-traces reached)", true},
    {&Health::inflight_drops, "inflight_drops", "calls_missed",
     "calls missed (per-thread state not saved)", true},
    {&Health::stale_replaced, "stale_replaced", "", "addresses reused with no free seen", true},
    {&Health::events_lost, "events_lost", "events_lost", "syscall events lost (ring buffer full)",
     true},
    {&Health::children_not_followed, "children_not_followed", "children_not_followed",
     "children not followed (targets map full)", true},
    {&Health::fault_events_lost, "fault_events_lost", "fault_events_lost",
     "page-fault events lost (ring buffer full)", true},
    {&Health::fault_stacks_over_budget, "fault_stacks_over_budget", "fault_stacks_over_budget",
     "page-fault stacks not taken (over the --fault-stacks budget)", true},
    {&Health::fault_events_sampled, "fault_events_sampled", "",
     "page faults sampled (their ring filling: each page sent stands for up to 64)", true},
    {&Health::syscall_stacks_shed, "syscall_stacks_shed", "syscall_stacks_shed",
     "syscall stacks not taken (their ring filling; the objects count under an unknown stack)", true},
    {&Health::fault_pages_dropped, "fault_pages_dropped", "fault_pages_over_limit",
     "pages not booked (page ledger full)", false},
    {&Health::events_unread_at_exit, "events_unread_at_exit", "events_unread_at_exit",
     "events left unread in the rings when the trace ended (the last tick's drain ran out of time)", false},
    {&Health::unknown_frames, "unknown_frames", "", "frames unsymbolized", false},
    {&Health::total_frames, "total_frames", "", "frames", false},
}};

// How many figures come from kernel counters: tracer/kernel_health.cpp and the unit
// test check that it is LS_CNT__COUNT.
inline constexpr size_t kHealthKernelFigures = [] {
  size_t n = 0;
  for (const HealthFigureInfo& f : kHealthFigures) n += f.kernel ? 1 : 0;
  return n;
}();

}  // namespace leakscope
