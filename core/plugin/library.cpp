#include "core/plugin/library.hpp"

#include <string>
#include <vector>

// Boost 1.74's library_info.hpp uses std::vector without including it.
#include <boost/dll/library_info.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <regex>
#include <system_error>

#include "core/util/sha256.hpp"
#include "strata/strata.h"

namespace strata::plugin {
namespace {

std::string version_text(unsigned major, unsigned minor) { return std::to_string(major) + "." + std::to_string(minor); }

// Before dlopen runs any static initialiser of the file, check it is an ELF shared object
// that exports the entry symbol (docs/plugin-abi.md, rule L2).
void check_exports(const std::filesystem::path& path) {
  std::vector<std::string> symbols;
  try {
    boost::dll::library_info info(boost::dll::fs::path(path.string()));
    symbols = info.symbols();
  } catch (const std::exception& e) {
    throw LoadError(path.string() + ": not a plugin: not a readable shared library (" + e.what() + ")");
  }
  if (std::find(symbols.begin(), symbols.end(), STRATA_ENTRY_SYMBOL) == symbols.end())
    throw LoadError(path.string() + ": not a Strata plugin: it does not export the entry symbol '" STRATA_ENTRY_SYMBOL
                    "' (build it with strata_add_plugin and STRATA_PLUGIN_LIBRARY)");
}

size_t required_table_size(int32_t tier) {
  switch (tier) {
    case STRATA_TIER_PARALLELISM: return STRATA_PARALLELISM_V0_STRUCT_SIZE;
    case STRATA_TIER_AGGREGATION: return offsetof(strata_aggregation_v0, wait) + sizeof(void*);
    case STRATA_TIER_MEMORY: return STRATA_MEMORY_V0_STRUCT_SIZE;
    case STRATA_TIER_FAIRNESS: return STRATA_FAIRNESS_V0_STRUCT_SIZE;
    case STRATA_TIER_EXPLAINABILITY: return STRATA_EXPLAINABILITY_V0_STRUCT_SIZE;
    case STRATA_TIER_COMPLIANCE: return offsetof(strata_compliance_v0, flush);
    default: return 0;
  }
}

// Required tier members that must be non-NULL.
bool tier_members_present(int32_t tier, const void* vtable) {
  switch (tier) {
    case STRATA_TIER_PARALLELISM: return static_cast<const strata_parallelism_v0*>(vtable)->plan != nullptr;
    case STRATA_TIER_AGGREGATION: {
      const auto* t = static_cast<const strata_aggregation_v0*>(vtable);
      return t->start != nullptr && t->wait != nullptr;
    }
    case STRATA_TIER_MEMORY: return static_cast<const strata_memory_v0*>(vtable)->plan != nullptr;
    case STRATA_TIER_FAIRNESS: {
      const auto* t = static_cast<const strata_fairness_v0*>(vtable);
      return t->evaluate != nullptr && t->finish_evaluation != nullptr;
    }
    case STRATA_TIER_EXPLAINABILITY: return static_cast<const strata_explainability_v0*>(vtable)->explain != nullptr;
    case STRATA_TIER_COMPLIANCE: return static_cast<const strata_compliance_v0*>(vtable)->common.on_event != nullptr;
    default: return false;
  }
}

void validate_entry(const std::filesystem::path& path, uint32_t index, const strata_plugin_entry* e) {
  const std::string where = path.string() + ": plugin #" + std::to_string(index);
  if (e == nullptr) throw LoadError(where + ": descriptor entry is NULL");
  if (e->struct_size < STRATA_PLUGIN_ENTRY_STRUCT_SIZE)
    throw LoadError(where + ": entry struct_size " + std::to_string(e->struct_size) + " is smaller than the " +
                    std::to_string(STRATA_PLUGIN_ENTRY_STRUCT_SIZE) + " bytes this host needs");
  static const std::regex kName("[a-z0-9][a-z0-9._-]*");
  if (e->name == nullptr || !std::regex_match(e->name, kName))
    throw LoadError(where + ": invalid plugin name '" + std::string(e->name ? e->name : "(null)") +
                    "' (expected lowercase letters, digits, '.', '_' or '-')");
  const std::string named = path.string() + ": plugin '" + e->name + "'";
  if (tier_name(e->tier) == std::string("unknown"))
    throw LoadError(named + ": unknown tier " + std::to_string(e->tier));
  if (e->iface_major != 0)
    throw LoadError(named + ": implements " + tier_name(e->tier) + " interface " +
                    version_text(e->iface_major, e->iface_minor) + ", this host provides 0.x");
  if (e->version == nullptr) throw LoadError(named + ": missing version string");
  if (e->vtable == nullptr) throw LoadError(named + ": missing interface table");
  const auto* common = static_cast<const strata_plugin_common*>(e->vtable);
  if (common->struct_size < required_table_size(e->tier))
    throw LoadError(named + ": " + tier_name(e->tier) + " table is " + std::to_string(common->struct_size) +
                    " bytes, smaller than the " + std::to_string(required_table_size(e->tier)) + " this host needs");
  if (common->create == nullptr || common->destroy == nullptr)
    throw LoadError(named + ": create and destroy are required");
  if (!tier_members_present(e->tier, e->vtable))
    throw LoadError(named + ": a required " + tier_name(e->tier) + " function is NULL");
}

// Plugins may leave threads or static state behind that outlive their last instance, so a
// library, once loaded, stays mapped until the process exits (rule L13): re-opening it with
// RTLD_NODELETE marks it so that no later dlclose unmaps it.
void pin_for_process_lifetime(const std::filesystem::path& path) {
  if (void* extra = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD | RTLD_NODELETE)) ::dlclose(extra);
}

}  // namespace

const char* tier_name(int32_t tier) {
  switch (tier) {
    case STRATA_TIER_PARALLELISM: return "parallelism";
    case STRATA_TIER_AGGREGATION: return "aggregation";
    case STRATA_TIER_MEMORY: return "memory";
    case STRATA_TIER_FAIRNESS: return "fairness";
    case STRATA_TIER_EXPLAINABILITY: return "explainability";
    case STRATA_TIER_COMPLIANCE: return "compliance";
    default: return "unknown";
  }
}

int32_t tier_from_name(const std::string& name) {
  for (int32_t t = 1; t <= STRATA_TIER_COUNT; ++t)
    if (name == tier_name(t)) return t;
  return -1;
}

std::unique_ptr<LoadedLibrary> load_library(const std::filesystem::path& path, const strata_host_services* services) {
  std::error_code fs_error;
  if (!std::filesystem::is_regular_file(path, fs_error))
    throw LoadError(path.string() + ": no such plugin file");
  check_exports(path);

  auto lib = std::make_unique<LoadedLibrary>();
  lib->path = std::filesystem::absolute(path);
  lib->sha256 = util::sha256_file_hex(path);
  boost::dll::fs::error_code ec;
  // rtld_local: same-named symbols in two plugins must not resolve to the first one loaded.
  lib->handle.load(boost::dll::fs::path(path.string()),
                   boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec) throw LoadError(path.string() + ": cannot load: " + ec.message());
  pin_for_process_lifetime(path);
  if (!lib->handle.has(STRATA_ENTRY_SYMBOL))
    throw LoadError(path.string() + ": entry symbol '" STRATA_ENTRY_SYMBOL "' not found after loading");
  auto& entry = lib->handle.get<strata_status(strata_negotiation*)>(STRATA_ENTRY_SYMBOL);

  strata_negotiation n{};
  n.struct_size = STRATA_NEGOTIATION_STRUCT_SIZE;
  n.host_abi_major = STRATA_ABI_MAJOR;
  n.host_abi_minor = STRATA_ABI_MINOR;
  n.host = services;
  const strata_status status = entry(&n);
  const std::string host_version = version_text(STRATA_ABI_MAJOR, STRATA_ABI_MINOR);
  const std::string plugin_version = version_text(n.plugin_abi_major, n.plugin_abi_minor);
  if (n.plugin_abi_major != STRATA_ABI_MAJOR)
    throw LoadError(path.string() + ": ABI mismatch: the plugin was built for Strata plugin ABI " + plugin_version +
                    ", this host provides ABI " + host_version + " (rebuild the plugin against this SDK)");
  if (n.plugin_abi_minor > STRATA_ABI_MINOR || n.plugin_abi_minor < kMinSupportedAbiMinor)
    throw LoadError(path.string() + ": ABI mismatch: the plugin needs ABI " + plugin_version + ", this host provides " +
                    host_version + " and accepts minors " + std::to_string(kMinSupportedAbiMinor) + ".." +
                    std::to_string(STRATA_ABI_MINOR));
  if (status != STRATA_OK)
    throw LoadError(path.string() + ": negotiation failed with " + strata_status_name(status) + " (plugin ABI " +
                    plugin_version + ", host ABI " + host_version + ")");
  const strata_library_descriptor* d = n.library;
  if (d == nullptr) throw LoadError(path.string() + ": negotiation returned no library descriptor");
  if (d->struct_size < STRATA_LIBRARY_DESCRIPTOR_STRUCT_SIZE)
    throw LoadError(path.string() + ": library descriptor is too small (" + std::to_string(d->struct_size) + " bytes)");
  if (d->plugin_count > 0 && d->plugins == nullptr) throw LoadError(path.string() + ": descriptor lists no plugins");
  for (uint32_t i = 0; i < d->plugin_count; ++i) validate_entry(path, i, d->plugins[i]);
  lib->abi_major = n.plugin_abi_major;
  lib->abi_minor = n.plugin_abi_minor;
  lib->descriptor = d;
  return lib;
}

}  // namespace strata::plugin
