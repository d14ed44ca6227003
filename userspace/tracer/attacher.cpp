#include "tracer/attacher.h"

#include <unistd.h>

#include <functional>

#include "core/errors.h"
#include "core/log.h"
#include "target/cgroup.h"
#include "target/proc_maps.h"

namespace leakscope {

namespace {

// Which allocators a process has and what was probed: the allocators in one
// line (shown unless --quiet when `announce`, else with -v), the probed
// functions module by module, those left alone and those that could not be
// attached with -v.
void log_plan(const std::string& who, const AllocatorPlan& plan, const AttachResult& res, bool announce) {
  const std::string line =
      who + ": allocator " + describe_allocators(plan) + "; " + std::to_string(res.probes) + " probes";
  if (announce)
    log_info(line);
  else
    log_verbose(line);
  for (const std::string& probes : describe_probes(plan)) log_verbose("  " + probes);
  for (const ProbeSite& site : plan.sites)
    if (!site.placement.empty()) log_verbose("  " + site.symbol + " probed at " + site.placement);
  for (const std::string& s : res.skipped) log_verbose("  not attached: " + s);
}

}  // namespace

Attacher::Attacher(const TraceConfig& config, Kernel& kernel, ImageTable& images, AddressSpaces& spaces)
    : config_(config), kernel_(kernel), images_(images), spaces_(spaces) {}

TraceId Attacher::attach(pid_t pid, Origin origin, double t) {
  if (images_.live(pid))
    throw FatalError(ExitCode::Usage, "PID " + std::to_string(pid) + " is already being traced");
  ProcessInfo info = inspect_process(pid);
  // Under --all a process gets allocator probes only when drilled into.
  bool heap = kernel_.heap_enabled() && origin != Origin::Host;
  const AddressSpace* space = nullptr;
  AllocatorPlan plan;
  if (heap) {
    space = spaces_.observe(pid);
    if (!space || !space->alive()) {
      // A map refused for want of privilege is no exit (PID 1 of a container).
      require_readable_maps(pid, info.comm);
      throw FatalError(ExitCode::NoSuchProcess, "PID " + std::to_string(pid) + " exited before it could be traced");
    }
    plan = plan_allocator(pid, space->entries());
  }
  TraceId id = images_.new_id();
  kernel_.track(pid, id, config_.follow_children || config_.all);
  try {
    // The maps are read now, while they are the ones of the image that
    // makes the calls (under --all, later and only for processes in view).
    if (origin != Origin::Host) spaces_.observe(pid);
    if (heap) {
      AttachResult res = kernel_.attach_allocator(pid, plan);
      log_plan("PID " + std::to_string(pid) + " (" + info.comm + ")", plan, res, true);
    }
  } catch (...) {
    kernel_.untrack(pid);
    throw;
  }
  TracedImage image;
  image.id = id;
  image.origin = origin;
  image.info = std::move(info);
  image.identified = true;
  image.named = origin != Origin::Host;
  image.heap_probes = heap;
  image.allocator_module = plan.allocator_module;
  if (heap) image.allocators = describe_allocators(plan);
  image.allocator_code = AllocatorCode::of(plan);
  image.cgroup = process_cgroup(pid);
  image.container_id = container_id_from_cgroup(image.cgroup);
  image.code_generation = space ? space->code_generation() : 0;
  image.attached_at = t;
  images_.add(std::move(image));
  return id;
}

void Attacher::start_command(const sigset_t& original_mask, double t) {
  // Probes go on the allocator we map ourselves; uprobes follow the child
  // across exec, and the plan is computed again from its own maps later.
  auto own = read_maps(::getpid());
  AllocatorPlan plan;
  if (kernel_.heap_enabled()) plan = plan_allocator(::getpid(), own.value_or(std::vector<MapEntry>{}));
  child_.emplace(ChildCommand::spawn_suspended(config_.command, original_mask));
  pid_t pid = child_->pid();
  TraceId id = images_.new_id();
  kernel_.track(pid, id, config_.follow_children);
  AttachResult res = kernel_.attach_allocator(pid, plan);
  log_plan("command PID " + std::to_string(pid), plan, res, false);
  TracedImage image;
  image.id = id;
  image.origin = Origin::Command;
  image.named = true;
  image.info.pid = pid;
  image.info.comm = config_.command.front();
  image.info.cmdline = config_.command;
  image.heap_probes = kernel_.heap_enabled();
  image.allocator_module = plan.allocator_module;
  image.allocator_code = AllocatorCode::of(plan);
  image.attached_at = t;
  TracedImage& started = images_.add(std::move(image));
  child_->release();
  if (auto start = process_start_time(pid)) started.info.start_time_ticks = *start;
  started.cgroup = process_cgroup(pid);
  started.container_id = container_id_from_cgroup(started.cgroup);
}

void Attacher::detach(pid_t pid, double t) {
  TracedImage* image = images_.live(pid);
  if (!image) throw FatalError(ExitCode::NoSuchProcess, "PID " + std::to_string(pid) + " is not being traced");
  kernel_.untrack(pid);
  images_.end(*image, End::Detach, t);
  log_info("PID " + std::to_string(pid) + " (" + image->info.comm + ") detached; its ledger is kept");
}

void Attacher::replan(TracedImage& image, double t, bool quiet_failure) {
  if (!image.heap_probes) return;  // only allocator probes need a plan
  pid_t pid = image.pid();
  const AddressSpace* space = spaces_.observe(pid);
  if (!space || !space->alive()) return;
  const uint64_t generation = space->code_generation();
  if (generation == image.code_generation && kernel_.has_allocator_probes(pid)) return;
  try {
    AllocatorPlan plan = plan_allocator(pid, space->entries());
    AttachResult res = kernel_.attach_allocator(pid, plan);
    image.code_generation = generation;
    image.allocator_module = plan.allocator_module;
    image.allocator_code = AllocatorCode::of(plan);
    // Announced when what it has changes (a command's own allocator, a
    // plugin with one of its own); more probes on the same ones with -v.
    std::string allocators = describe_allocators(plan);
    if (res.probes || allocators != image.allocators)
      log_plan("PID " + std::to_string(pid) + " (" + image.info.comm + ")", plan, res, allocators != image.allocators);
    image.allocators = std::move(allocators);
  } catch (const FatalError& e) {
    // A freshly exec'd command may not have mapped its allocator yet; a
    // child may be gone already.
    image.code_generation = generation;
    if (!quiet_failure && !image.warned_no_allocator && t - image.attached_at > 2) {
      log_warn(e.what());
      image.warned_no_allocator = true;
    }
  }
}

void Attacher::refresh(TracedImage& image, double t) {
  pid_t pid = image.pid();
  if (child_ && pid == child_->pid() && child_->poll_exit().has_value()) {
    // Reaped here; the kernel's exit event ends the image too.
    images_.end(image, End::Exit, t);
    return;
  }
  if (!image.identified) {
    // A child or a new image: who it is now that it runs on its own.
    if (auto stat_time = process_start_time(pid)) {
      try {
        image.info = inspect_process(pid);
      } catch (const FatalError&) {
      }
      image.info.start_time_ticks = *stat_time;
      image.cgroup = process_cgroup(pid);
      image.container_id = container_id_from_cgroup(image.cgroup);
      image.identified = true;
    }
  } else if (image.origin == Origin::Command && image.info.comm == config_.command.front()) {
    if (auto comm = process_comm(pid)) image.info.comm = *comm;
  }
  // Under --all most processes need no symbols until one of their stacks
  // shows up (events observe them then).
  if (image.heap_probes || spaces_.find(pid)) spaces_.observe(pid);
  replan(image, t, false);
}

void Attacher::add_allocator_probes(TracedImage& image, double t) {
  image.heap_probes = image.named = true;
  image.code_generation = 0;
  replan(image, t, true);
}

bool Attacher::start(TracedImage& image, double t) {
  image.heap_probes = true;
  image.code_generation = 0;
  replan(image, t, true);
  if (!kernel_.has_allocator_probes(image.pid())) {
    image.heap_probes = false;
    return false;
  }
  return true;
}

void Attacher::stop(TracedImage& image) {
  kernel_.detach_allocator(image.pid());
  image.heap_probes = false;
  image.code_generation = 0;
}

}  // namespace leakscope
