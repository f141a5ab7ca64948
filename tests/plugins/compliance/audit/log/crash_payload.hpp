// The record the kill -9 helper writes at a given index, so the test can check every
// surviving record byte for byte.
#pragma once

#include <cstdint>
#include <string>

namespace strata::audit::test {

inline constexpr size_t kCrashMaxPayload = 400;

inline std::string crash_payload(uint64_t index) {
  std::string s = "{\"crash_record\":" + std::to_string(index) + ",\"fill\":\"";
  s.append(static_cast<size_t>((index * 131) % 300), static_cast<char>('a' + index % 26));
  s += "\"}";
  return s;
}

}  // namespace strata::audit::test
