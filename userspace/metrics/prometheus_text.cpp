// Prometheus text exposition format 0.0.4 for one MetricsSnapshot.
//
// Every family gets # HELP and # TYPE (even with no samples), label values are
// escaped and made valid UTF-8, and the output order is deterministic: families
// in a fixed order, processes by (pid, kind), sinks by type. Entries with the
// same label set (two sinks of one type, a process/kind listed twice) are
// summed so that no series is ever emitted twice.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "metrics/metrics.h"

namespace leakscope {
namespace {

// Appends `in` with invalid UTF-8 replaced by U+FFFD (comm is arbitrary bytes
// from the kernel; the exposition format requires UTF-8).
void append_utf8_sanitized(std::string& out, std::string_view in) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  size_t i = 0;
  while (i < in.size()) {
    const auto c = static_cast<unsigned char>(in[i]);
    size_t len = 0;
    uint32_t min = 0;
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      min = 0x10000;
    }
    bool ok = len != 0 && i + len <= in.size();
    uint32_t cp = ok ? (c & (0x7Fu >> len)) : 0;
    for (size_t k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(in[i + k]);
      if ((cc & 0xC0) != 0x80) {
        ok = false;
      } else {
        cp = (cp << 6) | (cc & 0x3F);
      }
    }
    ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (ok) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      out.append(kReplacement);
      ++i;
    }
  }
}

std::string escape_label_value(std::string_view value) {
  std::string clean;
  append_utf8_sanitized(clean, value);
  std::string out;
  out.reserve(clean.size());
  for (const char ch : clean) {
    switch (ch) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out.push_back(ch);
    }
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

std::string format_value(uint64_t v) { return std::to_string(v); }
std::string format_value(int64_t v) { return std::to_string(v); }

using Labels = std::vector<std::pair<std::string_view, std::string>>;

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;  // our own constant text: no backslashes or newlines
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  template <typename T>
  void sample(std::string_view name, const Labels& labels, T value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      bool first = true;
      for (const auto& [key, val] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += key;
        out_ += "=\"";
        out_ += escape_label_value(val);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += format_value(value);
    out_ += '\n';
  }

  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

struct ProcessKey {
  pid_t pid;
  std::string kind;
  auto operator<=>(const ProcessKey&) const = default;
};

}  // namespace

std::string render_prometheus(const MetricsSnapshot& snapshot) {
  // Merge and order the per-process rows.
  std::map<ProcessKey, ProcessKindMetrics> processes;
  for (const auto& p : snapshot.processes) {
    auto [it, inserted] = processes.try_emplace(ProcessKey{p.pid, p.kind}, p);
    if (!inserted) {
      ProcessKindMetrics& m = it->second;
      m.live_bytes += p.live_bytes;
      m.live_objects += p.live_objects;
      m.growth_bytes_per_second += p.growth_bytes_per_second;
      m.growth_objects_per_second += p.growth_objects_per_second;
      m.suspected_leaks += p.suspected_leaks;
    }
  }
  std::map<std::string, SinkMetrics> sinks;
  for (const auto& s : snapshot.sinks) {
    auto [it, inserted] = sinks.try_emplace(s.sink, s);
    if (!inserted) {
      it->second.delivered += s.delivered;
      it->second.failures += s.failures;
      it->second.dropped += s.dropped;
      it->second.queued += s.queued;
    }
  }

  Writer w;
  w.family("leakscope_build_info", "gauge",
           "Always 1; the version label says which leakscope is running.");
  w.sample("leakscope_build_info",
           {{"version", snapshot.version.empty() ? "unknown" : snapshot.version}}, int64_t{1});

  auto per_process = [&](std::string_view name, std::string_view help, auto field) {
    w.family(name, "gauge", help);
    for (const auto& [key, m] : processes) {
      w.sample(name,
               {{"pid", std::to_string(m.pid)}, {"comm", m.comm}, {"kind", m.kind}},
               field(m));
    }
  };
  per_process("leakscope_live_bytes", "Bytes allocated and not yet freed, per process and kind.",
              [](const ProcessKindMetrics& m) { return m.live_bytes; });
  per_process("leakscope_live_objects",
              "Allocations not yet freed, per process and kind.",
              [](const ProcessKindMetrics& m) { return m.live_objects; });
  per_process("leakscope_growth_bytes_per_second",
              "Recent growth of live bytes per second, per process and kind.",
              [](const ProcessKindMetrics& m) { return m.growth_bytes_per_second; });
  per_process("leakscope_growth_objects_per_second",
              "Recent growth of live objects per second, per process and kind.",
              [](const ProcessKindMetrics& m) { return m.growth_objects_per_second; });
  per_process("leakscope_suspected_leaks",
              "Allocation stacks the detector currently judges to be leaking.",
              [](const ProcessKindMetrics& m) { return m.suspected_leaks; });

  w.family("leakscope_ticks_total", "counter", "Tracer ticks (ledger collections) completed.");
  w.sample("leakscope_ticks_total", {}, snapshot.ticks);

  w.family("leakscope_tick_duration_seconds", "gauge", "How long the last tick took.");
  w.sample("leakscope_tick_duration_seconds", {}, snapshot.last_tick_seconds);

  w.family("leakscope_tick_cpu_seconds", "gauge", "CPU time (user + system) the last tick took.");
  w.sample("leakscope_tick_cpu_seconds", {}, snapshot.last_tick_cpu_seconds);

  w.family("leakscope_ticks_late_total", "counter",
           "Ticks that began one period or more after they were due (the tracer fell behind).");
  w.sample("leakscope_ticks_late_total", {}, snapshot.ticks_late);

  w.family("leakscope_tick_overruns_total", "counter", "Ticks that took longer than their period.");
  w.sample("leakscope_tick_overruns_total", {}, snapshot.tick_overruns);

  w.family("leakscope_tick_lag_seconds", "gauge", "How late the last tick began after it was due.");
  w.sample("leakscope_tick_lag_seconds", {}, snapshot.last_tick_lag_seconds);

  w.family("leakscope_tracer_resident_bytes", "gauge", "leakscope's own resident memory.");
  w.sample("leakscope_tracer_resident_bytes", {}, snapshot.tracer_rss_bytes);

  w.family("leakscope_map_bytes", "gauge", "Kernel memory held by leakscope's BPF maps.");
  w.sample("leakscope_map_bytes", {}, snapshot.map_bytes);

  w.family("leakscope_map_fill_ratio", "gauge",
           "Fill of the BPF maps, from 0 to 1; a full map drops events.");
  w.sample("leakscope_map_fill_ratio", {{"map", "objects"}}, snapshot.objects_map_fill);
  w.sample("leakscope_map_fill_ratio", {{"map", "ledger"}}, snapshot.ledger_map_fill);

  // One sample per loss the report counts, so that the report's lost total
  // and the sum of this family agree.
  w.family("leakscope_dropped_total", "counter",
           "Allocations, events, stacks and pages the tracer could not account for, by "
           "reason; each one costs accuracy.");
  for (const HealthLoss& loss : snapshot.health.losses())
    w.sample("leakscope_dropped_total", {{"reason", std::string(loss.name)}}, loss.value);

  w.family("leakscope_symbol_cache_modules", "gauge", "Modules held in the symbol cache.");
  w.sample("leakscope_symbol_cache_modules", {}, snapshot.symbol_cache_modules);
  w.family("leakscope_frame_names_pending", "gauge",
           "Frame names being looked up off the trace loop (a report waits a moment for them).");
  w.sample("leakscope_frame_names_pending", {}, snapshot.frame_names_pending);
  w.family("leakscope_unwind_tables_compiling", "gauge",
           "Modules whose unwind table is being compiled off the trace loop (their processes are "
           "walked by frame pointer meanwhile).");
  w.sample("leakscope_unwind_tables_compiling", {}, snapshot.unwind_tables_compiling);

  w.family("leakscope_alerts_firing", "gauge", "Leak alerts currently firing.");
  w.sample("leakscope_alerts_firing", {}, snapshot.alerts_firing);

  auto per_sink = [&](std::string_view name, std::string_view type, std::string_view help,
                      auto field) {
    w.family(name, type, help);
    for (const auto& [type_name, s] : sinks) {
      w.sample(name, {{"sink", type_name}}, field(s));
    }
  };
  per_sink("leakscope_alert_sink_delivered_total", "counter",
           "Alert notifications delivered, per sink type.",
           [](const SinkMetrics& s) { return s.delivered; });
  per_sink("leakscope_alert_sink_failures_total", "counter",
           "Failed alert delivery attempts, per sink type.",
           [](const SinkMetrics& s) { return s.failures; });
  per_sink("leakscope_alert_sink_dropped_total", "counter",
           "Alert notifications given up on (queue full or retries exhausted), per sink type.",
           [](const SinkMetrics& s) { return s.dropped; });
  per_sink("leakscope_alert_sink_queue_length", "gauge",
           "Alert notifications waiting to be delivered, per sink type.",
           [](const SinkMetrics& s) { return static_cast<uint64_t>(s.queued); });

  return w.take();
}

}  // namespace leakscope
