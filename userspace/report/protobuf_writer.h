// A minimal protocol buffers encoder: enough of the wire format to write a
// message field by field (varints, length-delimited bytes and sub-messages,
// packed repeated integers). No schema, no reflection: the caller knows the
// field numbers. Fields are written exactly as asked (proto3 default-value
// omission is the caller's choice).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace leakscope {

class ProtoWriter {
 public:
  enum class WireType : uint8_t { Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5 };

  // uint64/uint32/enum fields.
  void uint64_field(uint32_t field, uint64_t value);
  // int64/int32 fields: two's complement, so a negative value takes 10 bytes.
  void int64_field(uint32_t field, int64_t value);
  void bool_field(uint32_t field, bool value);
  // string and bytes fields.
  void bytes_field(uint32_t field, std::string_view bytes);
  // An embedded message, already encoded.
  void message_field(uint32_t field, const ProtoWriter& message);
  // Packed repeated fields; nothing is written for an empty list.
  void packed_uint64_field(uint32_t field, std::span<const uint64_t> values);
  void packed_int64_field(uint32_t field, std::span<const int64_t> values);

  const std::string& data() const { return buf_; }
  size_t size() const { return buf_.size(); }
  bool empty() const { return buf_.empty(); }
  std::string take() { return std::move(buf_); }

  // Encodings, exposed for tests.
  static void append_varint(std::string& out, uint64_t value);
  static size_t varint_size(uint64_t value);

 private:
  void tag(uint32_t field, WireType type);
  std::string buf_;
};

}  // namespace leakscope
