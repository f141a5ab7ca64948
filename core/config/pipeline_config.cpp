#include "core/config/pipeline_config.hpp"

#include "core/config/pipeline_checks.hpp"

#include <fstream>
#include <map>
#include <sstream>

#include "core/config/did_you_mean.hpp"
#include "core/config/json_schema.hpp"
#include "core/config/pipeline_schema.hpp"
#include "core/util/canonical_json.hpp"
#include "core/util/sha256.hpp"

namespace strata::config {
namespace {

namespace fs = std::filesystem;

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::string join_lines(const std::string& source, const std::vector<std::string>& issues) {
  std::string out = source + ": " + std::to_string(issues.size()) + (issues.size() == 1 ? " problem" : " problems");
  for (const auto& i : issues) out += "\n  " + i;
  return out;
}

std::string with_article(const std::string& word) {
  return (std::string("aeiou").find(word.empty() ? 'x' : word[0]) != std::string::npos ? "an " : "a ") + word;
}

// Finds the plugin for a selection, or explains why it cannot be used.
const plugin::PluginInfo* lookup(const plugin::PluginRegistry& registry, const std::string& name,
                                 const std::string& tier, const std::string& pointer, std::vector<std::string>& issues) {
  const int32_t tier_id = plugin::tier_from_name(tier);
  if (const plugin::PluginInfo* info = registry.find(name)) {
    if (info->tier != tier_id) {
      issues.push_back(pointer + ": \"" + name + "\" is " + with_article(plugin::tier_name(info->tier)) + " plugin, not " +
                       with_article(tier) + " plugin");
      return nullptr;
    }
    return info;
  }
  const auto candidates = registry.names_of_tier(tier_id);
  std::string message = pointer + ": unknown " + tier + " plugin \"" + name + "\"";
  if (auto guess = did_you_mean(name, candidates)) message += " (did you mean \"" + *guess + "\"?)";
  message += candidates.empty() ? "; no " + tier + " plugins are installed" : "; available: " + join(candidates, ", ");
  for (const auto& problem : registry.problems_mentioning(name)) message += "; note: " + problem.message;
  issues.push_back(message);
  return nullptr;
}

}  // namespace

ConfigError::ConfigError(std::string source, std::vector<std::string> issues)
    : std::runtime_error(join_lines(source, issues)), issues_(std::move(issues)) {}

nlohmann::json load_json_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path.string(), {"cannot read the file"});
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // Turn the byte offset into a line and column a person can jump to.
    size_t line = 1, column = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string what = e.what();
    const auto colon = what.find(": ", what.find("parse error"));
    throw ConfigError(path.string() + ":" + std::to_string(line) + ":" + std::to_string(column),
                      {"invalid JSON: " + (colon == std::string::npos ? what : what.substr(colon + 2))});
  }
}

std::vector<fs::path> config_plugin_paths(const nlohmann::json& document, const fs::path& config_file) {
  std::vector<fs::path> out;
  if (!document.is_object() || !document.contains("plugin_paths") || !document["plugin_paths"].is_array()) return out;
  for (const auto& p : document["plugin_paths"]) {
    if (!p.is_string()) continue;  // schema validation reports it
    fs::path path = p.get<std::string>();
    out.push_back(path.is_relative() ? config_file.parent_path() / path : path);  // relative to the config file
  }
  return out;
}

nlohmann::json resolve_plugin_options(const plugin::PluginInfo& info, const nlohmann::json& options,
                                      const std::string& pointer, const plugin::PluginRegistry& registry,
                                      std::vector<std::string>& issues, int depth) {
  for (const auto& issue : info.schema->validate(options))
    issues.push_back(pointer + (issue.pointer.empty() ? "" : issue.pointer) + ": " + issue.message);
  nlohmann::json resolved = info.schema->with_defaults(options);
  const auto& props = info.options_schema.contains("properties") ? info.options_schema["properties"] : nlohmann::json::object();
  for (const auto& [key, sub] : props.items()) {
    if (!sub.is_object() || !sub.contains("x-strata-plugin") || !resolved.contains(key)) continue;
    const std::string child_pointer = pointer + "/" + escape_pointer_token(key);
    if (depth > 8) {
      issues.push_back(child_pointer + ": plugin references nest too deeply (a cycle?)");
      continue;
    }
    nlohmann::json& ref = resolved[key];
    if (!ref.is_object() || !ref.contains("plugin") || !ref["plugin"].is_string()) {
      issues.push_back(child_pointer + ": expected {\"plugin\": NAME, \"options\": {...}} naming a " +
                       sub["x-strata-plugin"].get<std::string>() + " plugin");
      continue;
    }
    const std::string tier = sub["x-strata-plugin"].get<std::string>();
    const plugin::PluginInfo* child = lookup(registry, ref["plugin"], tier, child_pointer + "/plugin", issues);
    if (child == nullptr) continue;
    const nlohmann::json child_options = ref.value("options", nlohmann::json::object());
    ref["options"] = resolve_plugin_options(*child, child_options, child_pointer + "/options", registry, issues, depth + 1);
  }
  return resolved;
}

void apply_overrides(nlohmann::json& document, const std::vector<Override>& overrides, const std::string& source) {
  for (const auto& o : overrides) {
    try {
      apply_override(document, o);
    } catch (const OverrideError& e) {
      throw ConfigError(source, {e.what()});
    }
  }
}

ResolvedConfig resolve_config(nlohmann::json document, const std::vector<Override>& overrides,
                              const plugin::PluginRegistry& registry, const std::string& source) {
  apply_overrides(document, overrides, source);
  static const JsonSchema schema(pipeline_schema());
  std::vector<std::string> issues;
  for (const auto& issue : schema.validate(document)) issues.push_back(format_issue(issue));
  if (!issues.empty()) throw ConfigError(source, issues);
  document = schema.with_defaults(document);
  check_cross_field_rules(document, issues);

  ResolvedConfig resolved;
  resolved.source = source;
  std::map<std::string, std::string> selected_at;  // plugin name -> where it was first selected
  auto select = [&](const std::string& tier, const std::string& pointer, nlohmann::json& selection) {
    const plugin::PluginInfo* info = lookup(registry, selection["plugin"], tier, pointer + "/plugin", issues);
    if (info == nullptr) return;
    // Metrics, artifacts and checkpointed state are keyed by plugin name: one instance each.
    if (const auto [it, fresh] = selected_at.emplace(info->name, pointer); !fresh) {
      issues.push_back(pointer + "/plugin: \"" + info->name + "\" is already selected at " + it->second +
                       "; a plugin can be selected once per run");
      return;
    }
    selection["options"] = resolve_plugin_options(*info, selection["options"], pointer + "/options", registry, issues);
    resolved.selections.push_back({tier, pointer, info->name, selection["options"], info});
  };
  auto& tiers = document["tiers"];
  for (const char* tier : kSingleTiers) select(tier, std::string("/tiers/") + tier, tiers[tier]);
  for (const char* tier : kListTiers) {
    auto& list = tiers[tier];
    for (size_t i = 0; i < list.size(); ++i)
      select(tier, std::string("/tiers/") + tier + "/" + std::to_string(i), list[i]);
  }
  if (!issues.empty()) throw ConfigError(source, issues);
  resolved.document = std::move(document);
  resolved.digest = util::sha256_hex(util::canonical_json(resolved.document));
  return resolved;
}

}  // namespace strata::config
