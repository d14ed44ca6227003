// Putting a process under trace and keeping its probes right: attaching to
// a running process (-p, attach, --all) or a started command, detaching on
// request, and as the process maps new code, planning its allocator probes
// again. The images themselves live in the image table.
#pragma once

#include <sys/types.h>

#include <optional>

#include "probes/kernel.h"
#include "target/address_space.h"
#include "tracer/command.h"
#include "tracer/config.h"
#include "tracer/host_watch.h"
#include "tracer/image_table.h"

namespace leakscope {

class Attacher final : public DrillProbes {
 public:
  Attacher(const TraceConfig& config, Kernel& kernel, ImageTable& images, AddressSpaces& spaces);

  // Throws FatalError (Usage: traced already; NoSuchProcess; ...).
  TraceId attach(pid_t pid, Origin origin, double t);
  // Starts `-- CMD` with probes in place before its first instruction.
  void start_command(const sigset_t& original_mask, double t);
  // Throws FatalError(NoSuchProcess) when `pid` is not traced.
  void detach(pid_t pid, double t);

  // Each tick, for each live image: whether the command has exited, who a
  // new image is once it runs on its own, its maps observed, new code probed.
  void refresh(TracedImage& image, double t);
  // Allocator probes for `image` from its maps now, when they changed.
  void replan(TracedImage& image, double t, bool quiet_failure);
  // An operator asked for allocator probes on an image --all traces cheaply.
  void add_allocator_probes(TracedImage& image, double t);

  // DrillProbes
  bool start(TracedImage& image, double t) override;
  void stop(TracedImage& image) override;

 private:
  const TraceConfig& config_;
  Kernel& kernel_;
  ImageTable& images_;
  AddressSpaces& spaces_;
  std::optional<ChildCommand> child_;
};

}  // namespace leakscope
