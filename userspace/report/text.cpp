#include "report/text.h"

#include <cctype>
#include <cstdio>
#include <sstream>

#include "report/frame_text.h"
#include "report/units.h"

namespace leakscope {

namespace {

// Growth in the kind's natural unit: bytes/s, or objects/s for timers and
// epoll registrations.
std::string growth_text(const StackEntry& s) {
  if (!counts_objects(s.kind)) return format_rate(s.growth_bytes_per_sec);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f obj/s", s.growth_objects_per_sec);
  return buf;
}

std::string live_text(const StackEntry& s) {
  if (!counts_objects(s.kind)) return format_bytes(double(s.live_bytes));
  return "-";
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string evidence_line(const StackEntry& s) {
  const Assessment& a = s.assessment;
  const Evidence& e = a.evidence;
  char buf[320];
  bool bytes = e.unit.empty() || e.unit == "bytes/s";
  char rate[48];
  if (bytes)
    std::snprintf(rate, sizeof rate, "%s", format_rate(e.rate).c_str());
  else
    std::snprintf(rate, sizeof rate, "%+.2f objects/s", e.rate);
  std::string floor_start = bytes ? format_bytes(double(e.floor_start)) : std::to_string(e.floor_start);
  std::string floor_end = bytes ? format_bytes(double(e.floor_end)) : std::to_string(e.floor_end);
  if (a.verdict == Verdict::Early)
    std::snprintf(buf, sizeof buf,
                  "%s over %.0fs so far, too little history to judge (a trend needs %.0fs), floor %s -> %s",
                  rate, e.window_seconds, e.needed_seconds, floor_start.c_str(), floor_end.c_str());
  else
    std::snprintf(buf, sizeof buf,
                  "%s over %.0fs (trend %.2f, confidence %.2f), floor %s -> %s, growing for %.0fs",
                  rate, e.window_seconds, e.trend, a.confidence, floor_start.c_str(),
                  floor_end.c_str(), e.growing_for_seconds);
  std::string out = buf;
  if (s.kind == Kind::Heap) {
    std::snprintf(buf, sizeof buf, "; live objects: oldest %.0fs, median %.0fs", s.oldest_age_seconds,
                  s.median_age_seconds);
    out += buf;
  }
  return out;
}

std::string format_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, s < 10 ? "%.1fs" : "%.0fs", s);
  return buf;
}

std::string frame_location(const Frame& f) {
  std::string out;
  if (!f.file.empty()) {
    out = basename_of(f.file);
    if (f.line > 0) out.append(1, ':').append(std::to_string(f.line));
  }
  return out;
}

std::string short_frame(const Frame& f) {
  // A JS function's name says little without its file ("(anonymous)").
  if (is_js_frame(f)) return js_frame_short(f);
  std::string name = f.function.empty() ? basename_of(f.module) + "+0x" : f.function;
  if (f.function.empty()) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(f.module_offset));
    name += buf;
  }
  // Keep the table narrow: drop a C++ parameter list.
  if (auto paren = name.find('('); paren != std::string::npos && paren > 0) name.resize(paren);
  return name;
}

// The frame that stands for the callers of a truncated stack's last frame.
constexpr const char* kTruncatedFrame = "[...]";

// From the leak site to its callers; frames above the leak site (inside the
// runtime or a library) are only hinted at with a leading "… ".
std::string frames_line(const StackEntry& s, size_t max_frames) {
  if (s.frames.empty()) return s.truncated ? kTruncatedFrame : "[stack not captured]";
  const size_t site = leak_site_index(s.frames, s.leak_site);
  std::string out = site > 0 ? "\u2026 " : "";
  for (size_t i = site; i < s.frames.size() && i < site + max_frames; ++i) {
    if (i > site) out += " <- ";
    out += short_frame(s.frames[i]);
  }
  if (s.frames.size() > site + max_frames)
    out += " <- ...";
  else if (s.truncated)
    out += std::string(" <- ") + kTruncatedFrame;
  return out;
}

std::string health_line(const Report& r) {
  const Health& h = r.health;
  std::ostringstream out;
  out << "allocs " << h.allocs << ", frees " << h.frees;
  if (h.frees_unknown) out << ", frees of blocks from before attach " << h.frees_unknown;
  if (!h.lossless()) {
    // Only the losses that happened: this is one line above a table.
    out << "; LOST:";
    const char* sep = " ";
    for (const HealthLoss& loss : h.losses()) {
      if (loss.value == 0) continue;
      out << sep << loss.value << " " << loss.text;
      sep = ", ";
    }
  }
  if (h.unknown_frames) out << "; " << h.unknown_frames << "/" << h.total_frames << " frames unsymbolized";
  return out.str();
}

// "118 of 120 on schedule (every 1 s; lag p90 3 ms, max 1.3 s; longest 2.1 s, 2 overran)"
std::string loop_line(const LoopTiming& l) {
  std::ostringstream out;
  out << l.on_schedule << " of " << l.ticks << " on schedule (every " << format_duration(l.period_seconds)
      << "; lag p90 " << format_duration(l.lag_p90) << ", max " << format_duration(l.lag_max) << "; longest "
      << format_duration(l.duration_max);
  if (l.overruns) out << ", " << l.overruns << " overran";
  out << ")";
  return out.str();
}

// "84.0 MiB resident (peak 120 MiB, kept under 512 MiB); kernel maps 92.0 MiB (at most 508 MiB)"
std::string tracer_line(const TracerCost& c) {
  std::ostringstream out;
  out << format_bytes(double(c.resident_bytes)) << " resident (peak " << format_bytes(double(c.peak_resident_bytes))
      << ", " << (c.over_budget ? "PAST --max-memory " : "kept under ") << format_bytes(double(c.max_memory_bytes))
      << "); kernel maps " << format_bytes(double(c.map_bytes)) << " (at most "
      << format_bytes(double(c.map_max_bytes)) << ")";
  return out.str();
}

// "the objects map was 76% full at 42 s: since then 1 in 2 new blocks kept (1 in 8
// since 50 s), each counted as many times; figures marked ~ are estimates"
std::string heap_sampling_line(const HeapSamplingInfo& h) {
  std::ostringstream out;
  const HeapSamplingStep& first = h.steps.front();
  const HeapSamplingStep& last = h.steps.back();
  out << "the objects map was " << int(first.objects_map_fill * 100) << "% full at "
      << format_duration(first.at_seconds) << ": since then 1 in " << first.keep_one_in << " new blocks kept";
  if (h.steps.size() > 1) out << " (1 in " << last.keep_one_in << " since " << format_duration(last.at_seconds) << ")";
  out << ", each counted as many times; figures marked ~ are estimates";
  return out.str();
}

}  // namespace

std::string input_limits_text(const Report& r) {
  if (r.input_limits_total == 0) return "";
  std::ostringstream out;
  out << "Input limits hit (" << r.input_limits_total
      << "): what leakscope read of these files of traced processes was bounded, symbols or unwind "
         "rules from them may be missing:\n";
  for (const InputLimitHit& hit : r.input_limits)
    out << "  " << hit.file << ": " << hit.effect << ": " << hit.limit << "\n";
  if (r.input_limits_total > r.input_limits.size())
    out << "  ... " << (r.input_limits_total - r.input_limits.size()) << " more\n";
  return out.str();
}

std::string render_table(const Report& r, size_t top) {
  std::ostringstream out;
  char line[512];
  std::snprintf(line, sizeof line, "--- %s  elapsed %.0fs  %zu process(es)  %s\n",
                r.generated_at.c_str(), r.elapsed_seconds, r.processes.size(),
                health_line(r).c_str());
  out << line;
  std::snprintf(line, sizeof line, "%-8s %-15s %-5s %-9s %11s %9s %14s  %s\n", "PID", "COMM",
                "KIND", "VERDICT", "LIVE", "OBJECTS", "GROWTH", "LEAK SITE <- CALLERS");
  out << line;
  size_t shown = 0;
  for (const StackEntry& s : r.stacks) {
    if (shown++ == top) break;
    std::snprintf(line, sizeof line, "%-8d %-15.15s %-5s %-9s %11s %9lld %14s  ", s.pid,
                  s.comm.c_str(), std::string(kind_name(s.kind)).c_str(),
                  std::string(verdict_name(s.assessment.verdict)).c_str(),
                  live_text(s).c_str(), static_cast<long long>(s.live_objects),
                  growth_text(s).c_str());
    out << line << frames_line(s, 4) << "\n";
  }
  if (r.stacks.empty()) out << "(no live allocations traced yet)\n";
  return out.str();
}

std::string render_text(const Report& r, size_t top) {
  std::ostringstream out;
  out << "leakscope " << (r.final ? "final report" : "report") << " — " << r.host << ", "
      << r.generated_at << ", traced for " << format_seconds(r.elapsed_seconds) << "\n\n";
  out << "Processes:\n";
  for (const ImageEntry& p : r.processes) {
    out << "  " << p.pid << " " << p.comm << (p.exited ? " (exited)" : "") << "  live "
        << format_bytes(double(p.live_bytes)) << " in " << p.live_objects << " objects";
    if (!p.allocator_module.empty()) out << "  allocator " << basename_of(p.allocator_module);
    out << "\n";
    if (!p.allocators.empty()) out << "    allocators: " << p.allocators << "\n";
    if (p.allocator_growth.regions > 0) {
      out << "    allocator footprint: " << format_bytes(double(p.allocator_growth.held_bytes))
          << " held from the OS, " << format_bytes(double(p.allocator_beyond_live_bytes))
          << " beyond live blocks";
      if (p.allocator_growth_unattributed_bytes > 0)
        out << " (" << format_bytes(double(p.allocator_growth_unattributed_bytes))
            << " of it tied to no stack shown: its caller unknown or not in the report)";
      out << "\n";
    }
  }
  out << "\nTop stacks, leaks first, by growth of live bytes:\n";
  if (r.stacks.empty()) out << "  (no live allocations)\n";
  size_t shown = 0;
  for (const StackEntry& s : r.stacks) {
    if (shown++ == top) {
      out << "  ... " << (r.stacks.size() - top) << " more stacks (--top)\n";
      break;
    }
    out << "\n#" << shown << "  " << upper(verdict_name(s.assessment.verdict)) << "  pid " << s.pid
        << " (" << s.comm << ")  " << kind_name(s.kind) << " via " << s.allocator << "  live ";
    if (counts_objects(s.kind)) {
      out << s.live_objects << (s.kind == Kind::Timerfd ? " timers" : " registrations");
      if (s.kind == Kind::Timerfd) out << " (" << s.armed << " armed)";
    } else {
      out << (s.estimate_error > 0 ? "~" : "") << format_bytes(double(s.live_bytes)) << " in "
          << s.live_objects << " objects";
      if (s.estimate_error > 0) out << " (+-" << int(s.estimate_error * 100 + 0.5) << "%, sampled)";
    }
    out << "  growth " << growth_text(s) << "  (" << s.allocs << " made, " << s.frees
        << " released)\n";
    out << "      evidence: " << evidence_line(s) << "\n";
    if (s.frames.empty() && !s.truncated) out << "      [stack not captured]\n";
    // Every frame; when frames inside the runtime or a library come before
    // the leak site, the leak site is marked (otherwise it is the first).
    const size_t site = leak_site_index(s.frames, s.leak_site);
    for (size_t i = 0; i < s.frames.size(); ++i) {
      const Frame& f = s.frames[i];
      const bool marked = site > 0 && i == site;
      out << (marked ? "    > " : "      ");
      if (is_js_frame(f)) {
        out << js_frame_text(f);
      } else {
        out << (f.function.empty() ? f.display_name() : f.function);
        std::string loc = frame_location(f);
        if (!loc.empty()) out << "  " << loc;
        out << "  [" << basename_of(f.module) << "]";
      }
      if (marked) out << "  <- leak site";
      out << "\n";
    }
    if (s.truncated)
      out << "      " << kTruncatedFrame
          << "  (callers unknown: the walk stopped at a frame it could not trust, or at its depth limit)\n";
    if (s.allocator_growth.regions > 0)
      out << "      allocator footprint: " << format_bytes(double(s.allocator_growth.held_bytes))
          << " taken from the OS in these calls (" << s.allocator_growth.regions << " regions, "
          << format_rate(s.allocator_growth.growth_bytes_per_sec) << ")\n";
  }
  out << "\nTrust: " << health_line(r) << "\n";
  if (r.loop.ticks > 0) out << "Ticks: " << loop_line(r.loop) << "\n";
  if (r.tracer.max_memory_bytes > 0) out << "Tracer: " << tracer_line(r.tracer) << "\n";
  if (!r.heap_sampling.steps.empty()) out << "Heap sampled: " << heap_sampling_line(r.heap_sampling) << "\n";
  for (const ImageEntry& p : r.processes)
    if (!p.drill_backed_off.empty())
      out << "Drill-down backed off: PID " << p.pid << " (" << p.comm << "): " << p.drill_backed_off
          << "\n";
  out << input_limits_text(r);
  if (!r.sinks.empty()) {
    out << "Alerts: " << r.alerts_firing << " firing;";
    for (const SinkStatus& sink : r.sinks) {
      out << " " << sink.name << ": " << sink.delivered << " sent, " << sink.failures << " failed, "
          << sink.dropped << " dropped";
      if (!sink.last_error.empty()) out << " (" << sink.last_error << ")";
      out << ";";
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace leakscope
