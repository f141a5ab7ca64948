#include "core/plugin/registry.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>

#include "core/plugin/host_environment.hpp"

#ifndef STRATA_PLUGIN_RELATIVE_DIR
#define STRATA_PLUGIN_RELATIVE_DIR "lib/strata/plugins"
#endif
#ifndef STRATA_INSTALL_PLUGIN_DIR
#define STRATA_INSTALL_PLUGIN_DIR "/usr/local/lib/strata/plugins"
#endif

namespace strata::plugin {

namespace fs = std::filesystem;

PluginRegistry::PluginRegistry(util::Logger logger) : logger_(std::move(logger)) {}

// Libraries stay loaded until the registry goes, and the registry outlives every instance.
PluginRegistry::~PluginRegistry() = default;

bool PluginRegistry::add_library(const fs::path& path) {
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(path, ec);
  for (const auto& lib : libraries_)
    if (fs::weakly_canonical(lib->path, ec) == canonical) return true;  // already loaded via another search path
  try {
    auto lib = load_library(path, host_services());
    register_plugins(*lib);
    libraries_.push_back(std::move(lib));
    return true;
  } catch (const LoadError& e) {
    problems_.push_back({path, e.what()});
    logger_->debug("plugin refused: {}", e.what());
    return false;
  }
}

void PluginRegistry::register_plugins(const LoadedLibrary& library) {
  const strata_library_descriptor* d = library.descriptor;
  for (uint32_t i = 0; i < d->plugin_count; ++i) {
    const strata_plugin_entry* e = d->plugins[i];
    if (const PluginInfo* existing = find(e->name)) {
      problems_.push_back({library.path, library.path.string() + ": duplicate plugin name '" + e->name +
                                             "': already provided by " + existing->library->path.string() +
                                             "; this one is refused"});
      continue;
    }
    if (e->score != nullptr && e->score(host_services()) == 0) {
      problems_.push_back({library.path, library.path.string() + ": plugin '" + e->name +
                                             "' reports it cannot run on this machine (score 0); skipped"});
      continue;
    }
    PluginInfo info;
    info.name = e->name;
    info.version = e->version;
    info.description = e->description ? e->description : "";
    info.tier = e->tier;
    info.entry = e;
    info.library = &library;
    try {
      info.options_schema = e->options_schema_json ? nlohmann::json::parse(e->options_schema_json)
                                                   : nlohmann::json{{"type", "object"}, {"additionalProperties", false}};
      info.schema = std::make_shared<config::JsonSchema>(info.options_schema);
    } catch (const std::exception& ex) {
      problems_.push_back({library.path, library.path.string() + ": plugin '" + e->name +
                                             "' declares an invalid options schema: " + ex.what()});
      continue;
    }
    plugins_.push_back(std::move(info));
  }
}

void PluginRegistry::discover(const std::vector<fs::path>& directories) {
  for (const auto& dir : directories) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.is_regular_file() && entry.path().extension() == ".so") files.push_back(entry.path());
    std::sort(files.begin(), files.end());  // deterministic: the first of two duplicates wins, always the same
    for (const auto& f : files) add_library(f);
  }
}

const PluginInfo* PluginRegistry::find(std::string_view name) const {
  for (const auto& p : plugins_)
    if (p.name == name) return &p;
  return nullptr;
}

std::vector<std::string> PluginRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& p : plugins_) out.push_back(p.name);
  return out;
}

std::vector<std::string> PluginRegistry::names_of_tier(int32_t tier) const {
  std::vector<std::string> out;
  for (const auto& p : plugins_)
    if (p.tier == tier) out.push_back(p.name);
  return out;
}

std::vector<Problem> PluginRegistry::problems_mentioning(std::string_view text) const {
  std::vector<Problem> out;
  for (const auto& p : problems_)
    if (p.message.find(text) != std::string::npos || p.path.filename().string().find(text) != std::string::npos)
      out.push_back(p);
  return out;
}

std::vector<fs::path> default_search_paths(const std::vector<fs::path>& extra) {
  std::vector<fs::path> paths;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  // <prefix>/bin/strata finds <prefix>/<libdir>/strata/plugins, in the build tree and once installed.
  if (!ec) paths.push_back(exe.parent_path().parent_path() / STRATA_PLUGIN_RELATIVE_DIR);
  paths.emplace_back(STRATA_INSTALL_PLUGIN_DIR);
  if (const char* env = std::getenv("STRATA_PLUGIN_PATH")) {
    std::stringstream ss(env);
    std::string item;
    while (std::getline(ss, item, ':'))
      if (!item.empty()) paths.emplace_back(item);
  }
  paths.insert(paths.end(), extra.begin(), extra.end());
  // Drop repeats, keeping the first occurrence so the order above is the priority.
  std::vector<fs::path> unique;
  std::set<std::string> seen;
  for (const auto& p : paths) {
    const std::string key = fs::weakly_canonical(p, ec).string();
    if (seen.insert(key).second) unique.push_back(p);
  }
  return unique;
}

}  // namespace strata::plugin
