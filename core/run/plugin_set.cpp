#include "core/run/plugin_set.hpp"

#include <map>

namespace strata::run {

PluginSet::PluginSet(const config::ResolvedConfig& config, const plugin::PluginRegistry& registry,
                     plugin::HostEnvironment& env, int32_t only_tier) {
  attach_child_factory(env, registry);
  for (const auto& s : config.selections) {
    if (only_tier >= 0 && s.info->tier != only_tier) continue;
    auto instance = std::make_unique<plugin::PluginInstance>(*s.info, s.options, env);
    env.logger->debug("created {} plugin '{}' ({})", s.tier, s.plugin, s.pointer);
    switch (s.info->tier) {
      case STRATA_TIER_FAIRNESS: fairness_.push_back(std::move(instance)); break;
      case STRATA_TIER_EXPLAINABILITY: explainability_.push_back(std::move(instance)); break;
      case STRATA_TIER_COMPLIANCE: compliance_.push_back(std::move(instance)); break;
      default: single_.push_back(std::move(instance)); break;
    }
  }
}

PluginSet::~PluginSet() {
  for (auto* list : {&compliance_, &explainability_, &fairness_, &single_})
    while (!list->empty()) list->pop_back();
}

const std::vector<std::unique_ptr<plugin::PluginInstance>>& PluginSet::of_tier(int32_t tier) const {
  switch (tier) {
    case STRATA_TIER_FAIRNESS: return fairness_;
    case STRATA_TIER_EXPLAINABILITY: return explainability_;
    case STRATA_TIER_COMPLIANCE: return compliance_;
    default: return empty_;
  }
}

std::vector<const plugin::PluginInstance*> PluginSet::all() const {
  std::vector<const plugin::PluginInstance*> out;
  for (const auto* list : {&single_, &fairness_, &explainability_, &compliance_})
    for (const auto& p : *list) out.push_back(p.get());
  return out;
}

void attach_child_factory(plugin::HostEnvironment& env, const plugin::PluginRegistry& registry) {
  // Children are owned here, keyed by their raw handle, until the parent destroys them.
  using Children = std::map<strata_instance*, std::unique_ptr<plugin::PluginInstance>>;
  auto children = std::make_shared<Children>();
  env.child_destroyer = [children](strata_child* child) {
    children->erase(child->instance);
    child->instance = nullptr;
  };
  env.child_factory = [&env, &registry, children](strata_host_ctx* parent, int32_t tier, const char* name,
                                        const char* options_json, strata_child* out) -> strata_status {
    const plugin::PluginInfo* info = registry.find(name);
    if (info == nullptr || info->tier != tier) {
      parent->last_error = std::string("no ") + plugin::tier_name(tier) + " plugin named '" + name + "'";
      return STRATA_NOT_FOUND;
    }
    try {
      const nlohmann::json options = options_json ? nlohmann::json::parse(options_json) : nlohmann::json::object();
      std::vector<std::string> issues;
      const nlohmann::json resolved =
          config::resolve_plugin_options(*info, options, "/" + parent->plugin_name + "/" + name, registry, issues);
      if (!issues.empty()) {
        parent->last_error = issues.front();
        return STRATA_INVALID_ARGUMENT;
      }
      auto child = std::make_unique<plugin::PluginInstance>(*info, resolved, env);
      out->tier = tier;
      out->instance = child->raw();
      out->vtable = info->entry->vtable;
      (*children)[child->raw()] = std::move(child);
      return STRATA_OK;
    } catch (const std::exception& e) {
      parent->last_error = e.what();
      return STRATA_INVALID_ARGUMENT;
    }
  };
}

}  // namespace strata::run
