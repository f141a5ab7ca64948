// Paths the build passes to the tests (see tests/CMakeLists.txt).
#pragma once

#include <filesystem>
#include <string>

#include "tests/support/temp_dir.hpp"

namespace strata::test {

inline std::filesystem::path plugin_dir() { return STRATA_TEST_PLUGIN_DIR; }
inline std::filesystem::path broken_dir() { return STRATA_BROKEN_PLUGIN_DIR; }
inline std::filesystem::path testing_dir() { return STRATA_TESTING_PLUGIN_DIR; }
inline std::filesystem::path source_dir() { return STRATA_SOURCE_DIR; }
inline std::string strata_binary() { return STRATA_BINARY; }

}  // namespace strata::test
