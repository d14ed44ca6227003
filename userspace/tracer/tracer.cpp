#include "tracer/tracer.h"

#include "tracer/trace_session.h"

namespace leakscope {

int run_trace(const TraceConfig& config) {
  TraceSession session(config);
  return session.run();
}

}  // namespace leakscope
