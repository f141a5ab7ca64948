// Byte encodings shared by the audit log: strict standard base64 (RFC 4648 §4), lowercase
// hex, and UTF-8 validation. "Strict" means that exactly one text encodes a given byte
// string: padding is required, no whitespace, and the unused bits of the last character
// must be zero. Anything else is rejected, so a verifier never accepts two spellings of
// the same signed value.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strata::audit {

std::string base64_encode(std::span<const uint8_t> bytes);
inline std::string base64_encode(std::string_view bytes) {
  return base64_encode(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}
// std::nullopt unless `text` is the canonical base64 encoding of some byte string.
std::optional<std::vector<uint8_t>> base64_decode(std::string_view text);

std::string hex_encode(std::span<const uint8_t> bytes);  // lowercase
// Lowercase or uppercase hex digits, even length; std::nullopt otherwise.
std::optional<std::vector<uint8_t>> hex_decode(std::string_view text);

// Well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view text);

}  // namespace strata::audit
