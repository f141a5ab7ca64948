// Paths the build passes to the tests (see tests/CMakeLists.txt).
#pragma once

#include <filesystem>
#include <string>

#include <stdlib.h>

namespace strata::test {

inline std::filesystem::path plugin_dir() { return STRATA_TEST_PLUGIN_DIR; }
inline std::filesystem::path broken_dir() { return STRATA_BROKEN_PLUGIN_DIR; }
inline std::filesystem::path testing_dir() { return STRATA_TESTING_PLUGIN_DIR; }
inline std::filesystem::path source_dir() { return STRATA_SOURCE_DIR; }
inline std::string strata_binary() { return STRATA_BINARY; }

// A fresh empty directory under the system temp folder, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "strata-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace strata::test
