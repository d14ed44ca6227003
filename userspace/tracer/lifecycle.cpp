// The lifecycle of traced process images: children that a traced process
// forks, execs, exits; and what is kept of an image once it has ended.
//
// The kernel side (bpf/lifecycle.bpf.c) does the urgent part: it traces a
// child from birth, gives a new image its trace id at exec, and forgets an
// exiting tgid at once. Userspace follows from the events and, every tick,
// from the targets map itself, so a lost event costs a tick, not a ledger.
#include <unistd.h>

#include <algorithm>

#include "core/log.h"
#include "target/cgroup.h"
#include "tracer/trace_session.h"

namespace leakscope {

TracedProcess& TraceSession::adopt(pid_t pid, TraceId id, Origin origin,
                                   const TracedProcess* parent, double t) {
  TracedProcess p;
  p.id = id;
  p.origin = origin;
  p.info.pid = pid;
  if (parent) {
    p.info.comm = parent->info.comm;
    p.info.cmdline = parent->info.cmdline;
    p.parent = parent->id;
    p.parent_pid = origin == Origin::Exec ? parent->parent_pid : parent->info.pid;
    p.cgroup = parent->cgroup;
    p.container_id = parent->container_id;
    // Allocator probes follow a child or a new image when its parent had
    // them, except under --all, where drill-down decides.
    p.heap_probes = parent->heap_probes && (!config_.all || origin == Origin::Exec);
    if (origin == Origin::Exec) {
      p.named = parent->named;
      p.drill_until = parent->drill_until;
      p.drill_confirmed = parent->drill_confirmed;
    }
  } else {
    p.heap_probes = session_->heap_enabled() && !config_.all;
  }
  p.attached_at = t;
  live_[pid] = id;
  TracedProcess& stored = targets_[id] = std::move(p);
  log_verbose("PID " + std::to_string(pid) + ": new image " + std::to_string(id) + " (" +
              origin_name(origin) + (parent ? " of PID " + std::to_string(parent->info.pid) : "") + ")");
  return stored;
}

void TraceSession::end_image(TracedProcess& proc, End why, double t) {
  if (proc.exited()) return;
  proc.end = why;
  proc.exited_at = t;
  pid_t pid = proc.info.pid;
  if (auto it = live_.find(pid); it != live_.end() && it->second == proc.id) live_.erase(it);
  // Stacks are read against the process's maps: resolve what is known now,
  // before a new image (or a new process with this PID) replaces the view.
  for (const LedgerRow& row : rows_)
    if (row.trace_id == proc.id && row.value.live_objects > 0) frames_for(row.trace_id, row.stack_id);
  if (why == End::Exit) {
    session_->detach_allocator(pid);
    resources_.process_exited(proc.id);  // exit unmaps and closes everything
  }
  // Exit and exec both leave the image's memory behind; a detached one is
  // no longer watched.
  pages_.process_exited(proc.id);
  bool told = proc.origin == Origin::Pid || proc.origin == Origin::Command;
  std::string msg = "PID " + std::to_string(pid) + " (" + proc.info.comm + ") " +
                    (why == End::Exec ? "exec'd" : why == End::Detach ? "detached" : "exited") +
                    "; its ledger is kept";
  if (told && why != End::Detach)
    log_info(msg);
  else
    log_verbose(msg);
}

bool TraceSession::on_lifecycle_event(const ls_sys_event& e, double t) {
  switch (e.op) {
    case LS_SYS_FORK: {
      TraceId child = static_cast<TraceId>(e.args[1]);
      if (targets_.count(child)) return true;  // adopted already (reconciled)
      auto parent = targets_.find(e.trace_id);
      adopt(static_cast<pid_t>(e.args[0]), child, Origin::Child,
            parent == targets_.end() ? nullptr : &parent->second, t);
      return true;
    }
    case LS_SYS_EXEC: {
      auto old = targets_.find(e.trace_id);
      TraceId next = static_cast<TraceId>(e.args[0]);
      if (old == targets_.end() || old->second.exited() || targets_.count(next)) return true;
      // The symbolizer still holds the old image's maps (it reads them at
      // ticks): resolve every stack of the old image now, before it moves on.
      if (old->second.heap_probes)
        if (auto rows = collector_.read_ledger())
          for (const LedgerRow& row : *rows)
            if (row.trace_id == e.trace_id && row.value.live_objects > 0)
              frames_for(row.trace_id, row.stack_id);
      SysEvent ev;
      ev.op = LS_SYS_EXEC;
      ev.trace_id = e.trace_id;
      ev.args[0] = next;
      resources_.apply(ev);  // descriptors move on to the new image
      end_image(old->second, End::Exec, t);
      adopt(static_cast<pid_t>(e.tgid), next, Origin::Exec, &old->second, t);
      return true;
    }
    case LS_SYS_EXIT: {
      auto it = targets_.find(e.trace_id);
      if (it != targets_.end()) end_image(it->second, End::Exit, t);
      return true;
    }
    default:
      return false;
  }
}

// The targets map is the truth: an image whose tgid left it has exited, a
// tgid whose id changed has exec'd, an id we never heard of is a child whose
// fork event was lost.
void TraceSession::reconcile_targets(double t) {
  auto kernel = session_->read_targets();
  std::vector<std::pair<TraceId, End>> ended;
  for (auto& [id, proc] : targets_) {
    if (proc.exited()) continue;
    auto k = kernel.find(proc.info.pid);
    if (k == kernel.end())
      ended.emplace_back(id, End::Exit);
    else if (k->second.id != id)
      ended.emplace_back(id, End::Exec);
  }
  for (auto [id, why] : ended) {
    TracedProcess& proc = targets_.at(id);
    pid_t pid = proc.info.pid;
    if (why == End::Exec) {
      TraceId next = kernel.at(pid).id;
      SysEvent ev;
      ev.op = LS_SYS_EXEC;
      ev.trace_id = id;
      ev.args[0] = next;
      resources_.apply(ev);
      end_image(proc, End::Exec, t);
      if (!targets_.count(next)) adopt(pid, next, Origin::Exec, &targets_.at(id), t);
    } else {
      end_image(proc, End::Exit, t);
    }
  }
  for (const auto& [pid, target] : kernel) {
    if (targets_.count(target.id) || pid == ::getpid()) continue;
    auto stat = process_stat(pid);
    const TracedProcess* parent = nullptr;
    if (stat)
      if (auto it = live_.find(stat->ppid); it != live_.end()) parent = &targets_.at(it->second);
    adopt(pid, target.id, Origin::Child, parent, t);
  }
}

// Moves the kernel's rows of ended images into the images themselves and
// deletes them, with the images' live objects, from the maps: they stay
// bounded however many processes come and go.
void TraceSession::close_ended(std::vector<LedgerRow>& kernel_rows) {
  std::map<TraceId, TracedProcess*> closing;
  for (auto& [id, proc] : targets_)
    if (proc.exited() && !proc.closed) closing[id] = &proc;
  if (closing.empty()) return;
  std::vector<LedgerRow> kept;
  kept.reserve(kernel_rows.size());
  for (LedgerRow& row : kernel_rows) {
    auto it = closing.find(row.trace_id);
    if (it == closing.end()) {
      kept.push_back(row);
      continue;
    }
    if (row.value.live_objects > 0) frames_for(row.trace_id, row.stack_id);
    it->second->final_rows.push_back(row);
  }
  kernel_rows = std::move(kept);
  for (auto& [id, proc] : closing) {
    session_->drop_ledger(id);
    session_->drop_objects(id);
    proc->closed = true;
    if (!live_.count(proc->info.pid)) {
      symbolizer_.forget(proc->info.pid);
      spaces_.forget(proc->info.pid);
    }
  }
}

void TraceSession::forget_image(TraceId id) {
  timeline_.erase_trace(id);
  resources_.forget(id);
  pages_.forget(id);
  rss_.erase(id);
  for (auto it = assessments_.begin(); it != assessments_.end();)
    it = it->first.trace_id == id ? assessments_.erase(it) : std::next(it);
  for (auto it = frames_.lower_bound({id, INT32_MIN}); it != frames_.end() && it->first.first == id;)
    it = frames_.erase(it);
  std::erase_if(rows_, [id](const LedgerRow& r) { return r.trace_id == id; });
  targets_.erase(id);
}

// What is kept of ended images: those that still hold something (a leak at
// exit is a finding), and every image an operator named, up to
// --keep-exited of them, the most recent first. A child that came and went
// leaving nothing behind is forgotten at once.
void TraceSession::prune_ended() {
  std::map<TraceId, bool> holds;
  for (const LedgerRow& row : rows_)
    if (row.value.live_objects > 0 || row.value.live_bytes > 0) holds[row.trace_id] = true;
  std::vector<std::pair<double, TraceId>> ended;
  std::vector<TraceId> empty;
  for (const auto& [id, proc] : targets_) {
    if (!proc.exited() || !proc.closed) continue;
    // An image that exec'd is the same process under a new image: kept
    // only when it holds something.
    bool named = proc.named && proc.end != End::Exec;
    if (!named && !holds.count(id))
      empty.push_back(id);
    else
      ended.emplace_back(proc.exited_at, id);
  }
  for (TraceId id : empty) {
    log_debug("image " + std::to_string(id) + " forgotten: nothing left");
    forget_image(id);
  }
  if (ended.size() <= config_.keep_exited) return;
  std::sort(ended.begin(), ended.end());
  for (size_t i = 0; i + config_.keep_exited < ended.size(); ++i) forget_image(ended[i].second);
}

}  // namespace leakscope
