// Loading one plugin library: check it is a plugin before running any of its code, load it
// with local symbol scope, negotiate the ABI version and validate its descriptor.
// Libraries are never unloaded while the process runs (plugins may have threads and static
// state that outlive their last instance; see docs/plugin-abi.md, rule L13).
#pragma once

#include <boost/dll/shared_library.hpp>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "strata/abi/plugin.h"

namespace strata::plugin {

// A refusal to load, with a message meant for the user; the path is part of the message.
class LoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LoadedLibrary {
  std::filesystem::path path;
  std::string sha256;
  uint16_t abi_major = 0;
  uint16_t abi_minor = 0;
  boost::dll::shared_library handle;
  const strata_library_descriptor* descriptor = nullptr;
};

// Throws LoadError naming the file and what is wrong: not a plugin, missing entry symbol,
// ABI mismatch (both versions named), malformed descriptor.
std::unique_ptr<LoadedLibrary> load_library(const std::filesystem::path& path, const strata_host_services* services);

// The lowest minor of the current major this host accepts.
inline constexpr uint16_t kMinSupportedAbiMinor = 1;

const char* tier_name(int32_t tier);  // "parallelism", ..., or "unknown"
// Parses "aggregation" etc.; -1 when unknown.
int32_t tier_from_name(const std::string& name);

}  // namespace strata::plugin
