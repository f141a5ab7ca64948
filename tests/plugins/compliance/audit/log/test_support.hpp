// Helpers shared by the audit log library tests.
#pragma once

#include "tests/support/temp_dir.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strata::audit::test {

using TempDir = ::strata::test::TempDir;

inline std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

inline std::vector<uint8_t> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::filesystem::path& p, std::span<const uint8_t> data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

inline std::filesystem::path shared_data_dir() {
#ifdef STRATA_SHARED_DATA_DIR
  return STRATA_SHARED_DATA_DIR;
#else
  return "../shared/data";
#endif
}

}  // namespace strata::audit::test
