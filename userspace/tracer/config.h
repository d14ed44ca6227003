// The one configuration value the CLI builds and the tracer runs from.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "alerts/tracker.h"
#include "core/log.h"
#include "detector/detector.h"
#include "probes/session.h"
#include "report/formats.h"

namespace leakscope {

struct TraceConfig {
  std::vector<pid_t> pids;           // -p
  std::vector<std::string> command;  // -- CMD ARGS
  double tick_seconds = 1.0;         // ledger sampling period
  double interval_seconds = 5.0;     // periodic table
  double duration_seconds = 0;       // 0: until stopped or targets exit
  size_t top = 10;
  bool quiet = false;                // no periodic table
  std::string json_path;             // final report as JSON
  SessionOptions session;
  DetectorOptions detector;
  AlertOptions alerts;
  std::vector<std::string> alert_sinks;  // --alert specs
  std::string metrics_address;           // --metrics ADDR:PORT
  std::string control_path;              // control socket ("" = none)
  std::string report_dir;                // SIGUSR1 / --report-every output
  double report_every_seconds = 0;       // 0: only on SIGUSR1
  size_t report_keep = 10;               // reports kept in report_dir
  std::vector<Format> report_formats = {Format::Json, Format::Text};
  FoldedWeight folded_weight = FoldedWeight::LiveBytes;
};

}  // namespace leakscope
