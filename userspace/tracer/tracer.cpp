#include "tracer/tracer.h"

#include "tracer/trace_session.h"

namespace leakscope {

int run_trace(const TraceConfig& config, ConfigReader reread) {
  TraceSession session(config, std::move(reread));
  return session.run();
}

}  // namespace leakscope
