// bench_floor: attaches empty BPF programs where an allocator tracer puts
// its probes — malloc entry, malloc return, free — to a process, and waits
// for SIGINT or SIGTERM. tools/bench measures what that costs: the floor.
//
//   bench_floor [--placed] PID
// Without --placed, free is probed at its entry (what memleak does); with
// it, where leakscope probes it (see target/probe_placement.h).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bench_floor_bpf.skel.h"
#include "core/types.h"
#include "target/allocator.h"
#include "target/proc_maps.h"

using namespace leakscope;

int main(int argc, char** argv) {
  pid_t pid = 0;
  bool placed = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--placed") == 0)
      placed = true;
    else
      pid = std::atoi(argv[i]);
  }
  if (pid <= 0) {
    std::fprintf(stderr, "usage: bench_floor [--placed] PID\n");
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, nullptr);

  AllocatorPlan plan;
  try {
    auto maps = read_maps(pid);
    if (!maps) throw std::runtime_error("no such process");
    plan = plan_allocator(pid, *maps);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_floor: %s\n", e.what());
    return 1;
  }
  bench_floor_bpf* skel = bench_floor_bpf__open_and_load();
  if (!skel) {
    std::fprintf(stderr, "bench_floor: cannot load BPF\n");
    return 1;
  }
  std::vector<bpf_link*> links;
  for (const ProbeSite& site : plan.sites) {
    // malloc and free of the allocator that serves malloc.
    const std::string_view fn = alloc_fn_name(site.fn);
    const bool is_malloc = fn == "malloc";
    if ((!is_malloc && fn != "free") || site.module_path != plan.allocator_module) continue;
    uint64_t offset = placed ? site.file_offset : site.entry_offset;
    bpf_uprobe_opts opts{};
    opts.sz = sizeof opts;
    opts.retprobe = false;
    links.push_back(bpf_program__attach_uprobe_opts(skel->progs.floor_entry, pid,
                                                    site.attach_path.c_str(), offset, &opts));
    if (is_malloc) {
      opts.retprobe = true;
      links.push_back(bpf_program__attach_uprobe_opts(skel->progs.floor_return, pid,
                                                      site.attach_path.c_str(), offset, &opts));
    }
  }
  for (bpf_link* l : links)
    if (!l) {
      std::fprintf(stderr, "bench_floor: attach failed: %s\n", std::strerror(errno));
      return 1;
    }
  std::fprintf(stderr, "bench_floor: attached %zu probes%s\n", links.size(),
               placed ? " (free placed)" : " (at entries)");
  int sig;
  sigwait(&set, &sig);
  for (bpf_link* l : links) bpf_link__destroy(l);
  bench_floor_bpf__destroy(skel);
  return 0;
}
