// A traced process image and what is known of it. An image is a process
// between two of its execs (or its start and its exit): it has a trace id of
// its own (TraceId), so a PID reused by another process, or a process that
// execs into another program, never mixes ledgers. The kernel's filter, the
// tracer and the report all call it an image.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/types.h"
#include "target/process.h"
#include "tracer/allocator_growth.h"

namespace leakscope {

// How an image came to be traced.
enum class Origin {
  Pid,      // -p or `leakscope attach`
  Command,  // -- CMD
  Child,    // forked by a traced process (--follow-children)
  Exec,     // a traced process exec'd into it
  Host,     // --all
};

const char* origin_name(Origin origin);

// Why tracing of an image ended.
enum class End { None, Exit, Exec, Detach };

const char* end_name(End end);

struct TracedImage {
  TraceId id = 0;
  ProcessInfo info;            // info.pid: its PID
  Origin origin = Origin::Pid;
  TraceId parent = 0;          // the image that forked it or that it replaced; 0 for none
  pid_t parent_pid = 0;
  std::string allocator_module;
  std::string allocators;      // which allocators it has (describe_allocators), once planned
  AllocatorCode allocator_code;  // where its probed allocator functions lie (allocator_growth.h)
  std::string cgroup;
  std::string container_id;
  uint64_t code_generation = 0;  // AddressSpace::code_generation() last planned for; 0: plan again
  double attached_at = 0;     // seconds since tracing began
  double exited_at = -1;      // when tracing it ended; < 0 while traced
  End end = End::None;
  bool closed = false;        // its kernel rows moved to final_rows
  bool heap_probes = false;   // allocator probes wanted for it
  bool named = false;         // an operator asked for it (-p, attach, -- CMD, or its exec)
  bool identified = false;    // comm/cmdline read from its own /proc entry
  bool warned_no_allocator = false;
  std::vector<LedgerRow> final_rows;  // the kernel's ledger rows when it ended

  pid_t pid() const { return info.pid; }
  bool exited() const { return end != End::None; }  // no longer traced
  bool detached() const { return end == End::Detach; }
};

}  // namespace leakscope
