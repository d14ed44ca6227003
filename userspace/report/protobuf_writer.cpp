#include "report/protobuf_writer.h"

namespace leakscope {

void ProtoWriter::append_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

size_t ProtoWriter::varint_size(uint64_t value) {
  size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

void ProtoWriter::tag(uint32_t field, WireType type) {
  append_varint(buf_, (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(type));
}

void ProtoWriter::uint64_field(uint32_t field, uint64_t value) {
  tag(field, WireType::Varint);
  append_varint(buf_, value);
}

void ProtoWriter::int64_field(uint32_t field, int64_t value) {
  uint64_field(field, static_cast<uint64_t>(value));
}

void ProtoWriter::bool_field(uint32_t field, bool value) { uint64_field(field, value ? 1 : 0); }

void ProtoWriter::bytes_field(uint32_t field, std::string_view bytes) {
  tag(field, WireType::LengthDelimited);
  append_varint(buf_, bytes.size());
  buf_.append(bytes);
}

void ProtoWriter::message_field(uint32_t field, const ProtoWriter& message) {
  bytes_field(field, message.data());
}

void ProtoWriter::packed_uint64_field(uint32_t field, std::span<const uint64_t> values) {
  if (values.empty()) return;
  size_t len = 0;
  for (uint64_t v : values) len += varint_size(v);
  tag(field, WireType::LengthDelimited);
  append_varint(buf_, len);
  for (uint64_t v : values) append_varint(buf_, v);
}

void ProtoWriter::packed_int64_field(uint32_t field, std::span<const int64_t> values) {
  if (values.empty()) return;
  size_t len = 0;
  for (int64_t v : values) len += varint_size(static_cast<uint64_t>(v));
  tag(field, WireType::LengthDelimited);
  append_varint(buf_, len);
  for (int64_t v : values) append_varint(buf_, static_cast<uint64_t>(v));
}

}  // namespace leakscope
