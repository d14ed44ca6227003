// The report as a pprof profile (github.com/google/pprof, proto/profile.proto),
// gzip-compressed, so that `go tool pprof` and every pprof-reading UI can show
// what is live and where it was allocated.
//
// A memory profile in the conventions of Go's heap profiles, which `go tool
// pprof -inuse_space/-alloc_space`, Pyroscope and Parca recognise: one Sample
// per stack with the values inuse_objects/count, inuse_space/bytes (what is
// live now), alloc_objects/count, alloc_space/bytes (everything the stack
// allocated since tracing began, freed or not) and, beyond Go's four,
// growth/bytes_per_second (rounded); period type space/bytes, default sample
// type inuse_space. Locations are leaf-first, so the leak site is the
// "flat" entry of `pprof -top` (for js stacks the innermost frame is often
// inside node:internal or node_modules: such a sample carries a "leak_site"
// label naming the frame the report calls its leak site). JS frames have no
// address or mapping: a location per function, file, line and column.
// Comments (`pprof -comments`) carry the
// version, host, time and the report's health ("trust: ..." lines).
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "report/formats.h"
#include "report/frame_text.h"
#include "report/protobuf_writer.h"

namespace leakscope {

namespace {

// Field numbers of profile.proto.
namespace profile_field {
constexpr uint32_t kSampleType = 1, kSample = 2, kMapping = 3, kLocation = 4, kFunction = 5,
                   kStringTable = 6, kTimeNanos = 9, kDurationNanos = 10, kPeriodType = 11,
                   kPeriod = 12, kComment = 13, kDefaultSampleType = 14;
}
namespace value_type_field {
constexpr uint32_t kType = 1, kUnit = 2;
}
namespace sample_field {
constexpr uint32_t kLocationId = 1, kValue = 2, kLabel = 3;
}
namespace label_field {
constexpr uint32_t kKey = 1, kStr = 2, kNum = 3;
}
namespace mapping_field {
constexpr uint32_t kId = 1, kMemoryStart = 2, kMemoryLimit = 3, kFileOffset = 4, kFilename = 5,
                   kBuildId = 6, kHasFunctions = 7, kHasFilenames = 8, kHasLineNumbers = 9;
}
namespace location_field {
constexpr uint32_t kId = 1, kMappingId = 2, kAddress = 3, kLine = 4;
}
namespace line_field {
// kColumn is in profile.proto since 2023; older readers skip the field.
constexpr uint32_t kFunctionId = 1, kLine = 2, kColumn = 3;
}
namespace function_field {
constexpr uint32_t kId = 1, kName = 2, kSystemName = 3, kFilename = 4;
}

// The profile's string table: index 0 is always "".
class StringTable {
 public:
  StringTable() { intern(""); }
  int64_t intern(const std::string& s) {
    auto [it, inserted] = index_.try_emplace(s, static_cast<int64_t>(strings_.size()));
    if (inserted) strings_.push_back(s);
    return it->second;
  }
  const std::vector<std::string>& strings() const { return strings_; }

 private:
  std::unordered_map<std::string, int64_t> index_;
  std::vector<std::string> strings_;
};

// proto3 leaves fields at their default value out.
void put_uint(ProtoWriter& w, uint32_t field, uint64_t value) {
  if (value != 0) w.uint64_field(field, value);
}
void put_int(ProtoWriter& w, uint32_t field, int64_t value) {
  if (value != 0) w.int64_field(field, value);
}

ProtoWriter value_type(StringTable& strings, const std::string& type, const std::string& unit) {
  ProtoWriter w;
  put_int(w, value_type_field::kType, strings.intern(type));
  put_int(w, value_type_field::kUnit, strings.intern(unit));
  return w;
}

int64_t to_int64(double v) {
  if (!std::isfinite(v)) return 0;
  // 2^63 is exactly representable; anything at or beyond it saturates.
  constexpr double kLimit = 9223372036854775808.0;
  if (v >= kLimit) return std::numeric_limits<int64_t>::max();
  if (v <= -kLimit) return std::numeric_limits<int64_t>::min();
  return std::llround(v);
}

// "2026-11-25T16:07:09Z", "2026-11-25T16:07:09.123456Z", "...+02:00" to
// nanoseconds since the epoch.
std::optional<int64_t> parse_rfc3339_nanos(const std::string& text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &year, &month, &day, &hour,
                  &minute, &second, &consumed) != 6 ||
      consumed == 0)
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  size_t pos = static_cast<size_t>(consumed);
  int64_t nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int64_t scale = 100000000;
    size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      nanos += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
      ++digits;
    }
    if (digits == 0) return std::nullopt;
  }
  int64_t offset_seconds = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int oh = 0, om = 0, n = 0;
    if (std::sscanf(text.c_str() + pos + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5)
      return std::nullopt;
    offset_seconds = (oh * 3600 + om * 60) * (text[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const time_t t = timegm(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  return (static_cast<int64_t>(t) - offset_seconds) * 1000000000 + nanos;
}

int64_t now_nanos() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string gzip(const std::string& data) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip wrapper (header mtime 0, so output is stable).
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("pprof: deflateInit2 failed");
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const size_t written = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("pprof: deflate failed");
  out.resize(written);
  return out;
}

struct MappingInfo {
  uint64_t id = 0;
  std::string module;
  std::string build_id;
  uint64_t base = 0;  // address of file offset 0
  uint64_t limit = 0;
  bool has_functions = false, has_filenames = false, has_line_numbers = false;
};

struct LocationInfo {
  uint64_t id = 0;
  uint64_t mapping_id = 0;
  uint64_t address = 0;
  uint64_t function_id = 0;
  int64_t line = 0;
  int64_t column = 0;
};

// Builds the tables of a profile from the report's stacks.
class ProfileBuilder {
 public:
  // Location id of `frame`, creating the location, its function and its
  // mapping when first seen.
  uint64_t location(const Frame& frame) {
    if (is_js_frame(frame)) return js_location(frame);
    auto key = std::make_pair(frame.module, frame.address);
    if (auto it = location_ids_.find(key); it != location_ids_.end()) return it->second;
    LocationInfo loc;
    loc.id = locations_.size() + 1;
    loc.address = frame.address;
    loc.mapping_id = mapping(frame);
    loc.function_id = function(frame.display_name(), frame.file);
    loc.line = frame.line > 0 ? frame.line : 0;
    locations_.push_back(loc);
    location_ids_.emplace(std::move(key), loc.id);
    return loc.id;
  }

  // A JS frame: named by the runtime, address 0, so it is told apart by what
  // names it. No mapping: nothing for pprof to symbolize.
  uint64_t js_location(const Frame& frame) {
    const std::string name = js_function(frame);
    std::string identity = std::string("\0js:", 4) + name + '\0' + frame.file + '\0' +
                           std::to_string(frame.line) + ':' + std::to_string(frame.column);
    auto key = std::make_pair(std::move(identity), uint64_t{0});
    if (auto it = location_ids_.find(key); it != location_ids_.end()) return it->second;
    LocationInfo loc;
    loc.id = locations_.size() + 1;
    loc.function_id = function(name, frame.file);
    loc.line = frame.line > 0 ? frame.line : 0;
    loc.column = frame.column > 0 ? frame.column : 0;
    locations_.push_back(loc);
    location_ids_.emplace(std::move(key), loc.id);
    return loc.id;
  }

  // A location standing for frames that are not known, named `name` (one
  // location per name).
  uint64_t placeholder_location(const std::string& name) {
    auto key = std::make_pair(std::string("\0placeholder:", 13) + name, uint64_t{0});
    if (auto it = location_ids_.find(key); it != location_ids_.end()) return it->second;
    LocationInfo loc;
    loc.id = locations_.size() + 1;
    loc.function_id = function(name, "");
    locations_.push_back(loc);
    location_ids_.emplace(std::move(key), loc.id);
    return loc.id;
  }

  void write(ProtoWriter& profile, StringTable& strings) const {
    for (const auto& m : mappings_) {
      ProtoWriter w;
      put_uint(w, mapping_field::kId, m.id);
      put_uint(w, mapping_field::kMemoryStart, m.base);
      put_uint(w, mapping_field::kMemoryLimit, m.limit);
      put_uint(w, mapping_field::kFileOffset, 0);
      put_int(w, mapping_field::kFilename, strings.intern(m.module));
      put_int(w, mapping_field::kBuildId, strings.intern(m.build_id));
      if (m.has_functions) w.bool_field(mapping_field::kHasFunctions, true);
      if (m.has_filenames) w.bool_field(mapping_field::kHasFilenames, true);
      if (m.has_line_numbers) w.bool_field(mapping_field::kHasLineNumbers, true);
      profile.message_field(profile_field::kMapping, w);
    }
    for (const auto& l : locations_) {
      ProtoWriter line;
      put_uint(line, line_field::kFunctionId, l.function_id);
      put_int(line, line_field::kLine, l.line);
      put_int(line, line_field::kColumn, l.column);
      ProtoWriter w;
      put_uint(w, location_field::kId, l.id);
      put_uint(w, location_field::kMappingId, l.mapping_id);
      put_uint(w, location_field::kAddress, l.address);
      w.message_field(location_field::kLine, line);
      profile.message_field(profile_field::kLocation, w);
    }
    for (size_t i = 0; i < functions_.size(); ++i) {
      const auto& [name, file] = functions_[i];
      ProtoWriter w;
      put_uint(w, function_field::kId, i + 1);
      put_int(w, function_field::kName, strings.intern(name));
      put_int(w, function_field::kSystemName, strings.intern(name));
      put_int(w, function_field::kFilename, strings.intern(file));
      profile.message_field(profile_field::kFunction, w);
    }
  }

 private:
  // One mapping per module and load base: the same library loaded at two
  // addresses (two processes) is two mappings, so that pprof can still turn
  // an address into a file offset when it symbolizes what we could not.
  uint64_t mapping(const Frame& frame) {
    if (frame.module.empty()) return 0;
    const uint64_t base =
        frame.address >= frame.module_offset ? frame.address - frame.module_offset : 0;
    auto key = std::make_pair(frame.module, base);
    auto it = mapping_ids_.find(key);
    if (it == mapping_ids_.end()) {
      MappingInfo m;
      m.id = mappings_.size() + 1;
      m.module = frame.module;
      m.base = base;
      mappings_.push_back(std::move(m));
      it = mapping_ids_.emplace(std::move(key), mappings_.size() - 1).first;
    }
    MappingInfo& m = mappings_[it->second];
    if (m.build_id.empty()) m.build_id = frame.build_id;
    if (frame.address >= m.limit) m.limit = frame.address + 1;
    m.has_functions |= !frame.function.empty();
    m.has_filenames |= !frame.file.empty();
    m.has_line_numbers |= frame.line > 0;
    return m.id;
  }

  uint64_t function(const std::string& name, const std::string& file) {
    auto key = std::make_pair(name, file);
    if (auto it = function_ids_.find(key); it != function_ids_.end()) return it->second;
    functions_.push_back(key);
    const uint64_t id = functions_.size();
    function_ids_.emplace(std::move(key), id);
    return id;
  }

  std::vector<MappingInfo> mappings_;
  std::map<std::pair<std::string, uint64_t>, size_t> mapping_ids_;  // -> index
  std::vector<LocationInfo> locations_;
  std::map<std::pair<std::string, uint64_t>, uint64_t> location_ids_;
  std::vector<std::pair<std::string, std::string>> functions_;  // (name, file)
  std::map<std::pair<std::string, std::string>, uint64_t> function_ids_;
};

void add_str_label(ProtoWriter& sample, StringTable& strings, const std::string& key,
                   const std::string& value) {
  if (value.empty()) return;
  ProtoWriter w;
  put_int(w, label_field::kKey, strings.intern(key));
  put_int(w, label_field::kStr, strings.intern(value));
  sample.message_field(sample_field::kLabel, w);
}

// The leak site's name for the "leak_site" label: "handler (/srv/app/app.js:42:13)"
// for JS, the function (or module+0xoffset) for native frames.
std::string leak_site_label(const Frame& f) {
  if (is_js_frame(f)) return js_frame_text(f);
  return f.display_name();
}

void add_num_label(ProtoWriter& sample, StringTable& strings, const std::string& key,
                   int64_t value) {
  ProtoWriter w;
  put_int(w, label_field::kKey, strings.intern(key));
  put_int(w, label_field::kNum, value);
  sample.message_field(sample_field::kLabel, w);
}

// The sample types, in the order of each sample's values.
constexpr std::pair<const char*, const char*> kSampleTypes[] = {{"inuse_objects", "count"},
                                                                {"inuse_space", "bytes"},
                                                                {"alloc_objects", "count"},
                                                                {"alloc_space", "bytes"},
                                                                {"growth", "bytes_per_second"}};

int64_t saturated(uint64_t v) {
  return v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
             ? std::numeric_limits<int64_t>::max()
             : static_cast<int64_t>(v);
}

// alloc_objects and alloc_space: what the stack's ledger row counted as made
// since tracing began (the heap's BPF ledger, the syscall kinds' and page
// faults' userspace ledgers all count allocs and bytes_allocated; under
// --sample N they are scaled like the live figures). Two cases know less, and
// are given what is live as a lower bound rather than a figure of our own
// making: kind js, whose V8 sampling profile names live objects only (its
// allocs count samples, its bytes made are not known), and a row whose
// counts are below what is live (never expected; pprof's readers assume
// alloc >= inuse).
int64_t allocated_objects(const StackEntry& s) {
  if (s.kind == Kind::Js) return s.live_objects;
  return std::max(saturated(s.allocs), s.live_objects);
}
int64_t allocated_bytes(const StackEntry& s) {
  if (s.kind == Kind::Js) return s.live_bytes;
  return std::max(saturated(s.bytes_allocated), s.live_bytes);
}

}  // namespace

std::string render_pprof(const Report& report) {
  StringTable strings;
  ProfileBuilder builder;
  ProtoWriter profile;

  for (const auto& [type, unit] : kSampleTypes)
    profile.message_field(profile_field::kSampleType, value_type(strings, type, unit));

  for (const StackEntry& s : report.stacks) {
    std::vector<uint64_t> location_ids;
    location_ids.reserve(s.frames.size());
    for (const Frame& f : s.frames) location_ids.push_back(builder.location(f));
    // Locations run leaf first: the callers a truncated stack lost stand at
    // its root end.
    if (s.truncated)
      location_ids.push_back(builder.placeholder_location("[truncated]"));
    else if (location_ids.empty())
      location_ids.push_back(builder.placeholder_location("[no stack]"));
    const std::vector<int64_t> values = {s.live_objects, s.live_bytes, allocated_objects(s),
                                         allocated_bytes(s), to_int64(s.growth_bytes_per_sec)};
    ProtoWriter sample;
    sample.packed_uint64_field(sample_field::kLocationId, location_ids);
    sample.packed_int64_field(sample_field::kValue, values);
    add_num_label(sample, strings, "pid", s.pid);
    add_str_label(sample, strings, "comm", s.comm);
    add_str_label(sample, strings, "kind", std::string(kind_name(s.kind)));
    add_str_label(sample, strings, "verdict", std::string(verdict_name(s.assessment.verdict)));
    add_str_label(sample, strings, "allocator", s.allocator);
    // pprof reads the leaf as where memory was taken; when the leak site is
    // a caller of it (js: past the runtime's frames), a label says which.
    if (const size_t site = leak_site_index(s.frames, s.leak_site); site > 0)
      add_str_label(sample, strings, "leak_site", leak_site_label(s.frames[site]));
    profile.message_field(profile_field::kSample, sample);
  }

  builder.write(profile, strings);

  // Everything that interns a string must come before the string table.
  const std::string version = report.tool_version.empty() ? LEAKSCOPE_VERSION : report.tool_version;
  std::vector<int64_t> comments = {strings.intern("leakscope " + version)};
  if (!report.host.empty()) comments.push_back(strings.intern("host: " + report.host));
  if (!report.generated_at.empty())
    comments.push_back(strings.intern("generated: " + report.generated_at));
  // Every report carries its own confidence.
  for (const std::string& figure : trust_figures(report.health))
    comments.push_back(strings.intern("trust: " + figure));
  const ProtoWriter period_type = value_type(strings, "space", "bytes");
  const int64_t default_sample_type = strings.intern("inuse_space");

  for (const std::string& s : strings.strings()) profile.bytes_field(profile_field::kStringTable, s);
  put_int(profile, profile_field::kTimeNanos,
          parse_rfc3339_nanos(report.generated_at).value_or(now_nanos()));
  put_int(profile, profile_field::kDurationNanos,
          to_int64(std::max(0.0, report.elapsed_seconds) * 1e9));
  profile.message_field(profile_field::kPeriodType, period_type);
  put_int(profile, profile_field::kPeriod, 1);
  profile.packed_int64_field(profile_field::kComment, comments);
  put_int(profile, profile_field::kDefaultSampleType, default_sample_type);

  return gzip(profile.data());
}

}  // namespace leakscope
