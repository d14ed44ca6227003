// The BPF object: checks that this kernel and these privileges can load it,
// sizes its maps, picks which programs load, loads it, and owns it. The
// other parts of probes/ work on the object through it.
#pragma once

#include <memory>
#include <string>

#include "probes/kernel.h"

struct leakscope_bpf;  // the generated skeleton
struct bpf_map;

namespace leakscope {

// What the object's load needs first: privileges to load BPF (Permission)
// and the kernel's BTF at `btf_path` (KernelUnsupported). Throws FatalError;
// the command line calls it before it does anything else to a target.
void check_can_load(const std::string& btf_path);

class BpfObject {
 public:
  // Throws FatalError (Permission, KernelUnsupported).
  explicit BpfObject(const KernelOptions& options);
  ~BpfObject();
  BpfObject(const BpfObject&) = delete;
  BpfObject& operator=(const BpfObject&) = delete;

  struct ::leakscope_bpf& skel() const { return *skel_; }
  const MapSizes& sizes() const { return sizes_; }
  uint32_t kinds_mask() const { return kinds_mask_; }
  bool kind_enabled(uint32_t ls_kind) const { return kinds_mask_ & LS_KIND_BIT(ls_kind); }
  SyscallProbes syscall_probes() const { return syscall_probes_; }
  UprobeLinks uprobe_links() const { return uprobe_links_; }

 private:
  struct SkelDeleter {
    void operator()(struct ::leakscope_bpf* skel) const;
  };
  std::unique_ptr<struct ::leakscope_bpf, SkelDeleter> skel_;
  MapSizes sizes_;
  uint32_t kinds_mask_ = ~0u;
  SyscallProbes syscall_probes_ = SyscallProbes::None;
  UprobeLinks uprobe_links_ = UprobeLinks::PerProbe;
};

}  // namespace leakscope
