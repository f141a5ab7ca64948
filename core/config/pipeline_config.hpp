// Loading and resolving a pipeline config: parse (errors with line and column), apply
// --set overrides, validate against Strata's schema, look up each selected plugin in the
// registry, validate its options against the plugin's own schema and fill defaults. Every
// problem is reported with the JSON Pointer of the offending value, all at once.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config/overrides.hpp"
#include "core/plugin/registry.hpp"

namespace strata::config {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string source, std::vector<std::string> issues);
  const std::vector<std::string>& issues() const { return issues_; }

 private:
  std::vector<std::string> issues_;
};

struct TierSelection {
  std::string tier;      // "aggregation"
  std::string pointer;   // "/tiers/aggregation" or "/tiers/fairness/0"
  std::string plugin;
  nlohmann::json options;  // validated, defaults filled
  const plugin::PluginInfo* info = nullptr;
};

struct ResolvedConfig {
  std::string source;          // file name, for messages
  nlohmann::json document;     // with every default filled: what the run really uses
  std::vector<TierSelection> selections;
  std::string digest;          // SHA-256 of the canonical JSON of `document`
};

// Throws ConfigError "<file>:<line>:<column>: ..." for malformed JSON or unreadable files.
nlohmann::json load_json_file(const std::filesystem::path& path);

// Extra plugin folders a config names (read before the registry is built).
std::vector<std::filesystem::path> config_plugin_paths(const nlohmann::json& document,
                                                       const std::filesystem::path& config_file);

// Applies --set overrides in order; throws ConfigError naming the failing one.
void apply_overrides(nlohmann::json& document, const std::vector<Override>& overrides, const std::string& source);

// Throws ConfigError listing every issue as "<pointer>: <message>".
ResolvedConfig resolve_config(nlohmann::json document, const std::vector<Override>& overrides,
                              const plugin::PluginRegistry& registry, const std::string& source);

// Validates `options` for one plugin, resolving nested plugin references (properties whose
// schema has "x-strata-plugin": "<tier>"). Appends issues prefixed with `pointer`.
nlohmann::json resolve_plugin_options(const plugin::PluginInfo& info, const nlohmann::json& options,
                                      const std::string& pointer, const plugin::PluginRegistry& registry,
                                      std::vector<std::string>& issues, int depth = 0);

}  // namespace strata::config
