// The plugin registry: every library found on the search paths, loaded once from one
// thread at start-up and kept loaded for the process lifetime, and the plugins they hold,
// by unique name. A broken library never stops discovery: it becomes a Problem that
// `strata plugins list` shows and that a config naming one of its plugins reports.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config/json_schema.hpp"
#include "core/plugin/library.hpp"
#include "core/util/log.hpp"

namespace strata::plugin {

struct PluginInfo {
  std::string name;
  std::string version;
  std::string description;
  int32_t tier = 0;
  const strata_plugin_entry* entry = nullptr;
  const LoadedLibrary* library = nullptr;
  nlohmann::json options_schema;                 // {} when the plugin takes no options
  std::shared_ptr<const config::JsonSchema> schema;
};

struct Problem {
  std::filesystem::path path;
  std::string message;
};

class PluginRegistry {
 public:
  explicit PluginRegistry(util::Logger logger);
  ~PluginRegistry();
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  // Loads one library. Returns false (and records a Problem) when it is refused.
  bool add_library(const std::filesystem::path& path);
  // Loads every *.so in each directory (missing directories are skipped quietly).
  void discover(const std::vector<std::filesystem::path>& directories);

  const PluginInfo* find(std::string_view name) const;
  const std::vector<PluginInfo>& plugins() const { return plugins_; }
  std::vector<std::string> names() const;
  std::vector<std::string> names_of_tier(int32_t tier) const;
  const std::vector<Problem>& problems() const { return problems_; }
  // Problems recorded for one file, e.g. to explain why a configured plugin is missing.
  std::vector<Problem> problems_mentioning(std::string_view text) const;

 private:
  void register_plugins(const LoadedLibrary& library);

  util::Logger logger_;
  std::vector<std::unique_ptr<LoadedLibrary>> libraries_;
  std::vector<PluginInfo> plugins_;
  std::vector<Problem> problems_;
};

// Where plugins are looked for, in order: the build's or install's plugin folder next to
// the executable (<exe>/../<libdir>/strata/plugins), the configured install prefix,
// STRATA_PLUGIN_PATH (colon-separated), then `extra` (e.g. paths from the config).
std::vector<std::filesystem::path> default_search_paths(const std::vector<std::filesystem::path>& extra = {});

}  // namespace strata::plugin
