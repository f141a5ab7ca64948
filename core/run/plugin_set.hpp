// The plugin instances of one run, created from a resolved config in tier order, plus the
// child factory that lets a plugin create the plugins its options name. Instances are
// destroyed in reverse order before the registry (and so the libraries) go away.
#pragma once

#include <memory>
#include <vector>

#include "core/config/pipeline_config.hpp"
#include "core/plugin/instance.hpp"

namespace strata::run {

class PluginSet {
 public:
  // Throws plugin::PluginError naming the plugin whose create failed.
  // only_tier >= 0 creates the plugins of that tier alone (`strata release` needs only the
  // compliance plugins of a finished run).
  PluginSet(const config::ResolvedConfig& config, const plugin::PluginRegistry& registry, plugin::HostEnvironment& env,
            int32_t only_tier = -1);
  ~PluginSet();

  const plugin::PluginInstance& parallelism() const { return *single_.at(0); }
  const plugin::PluginInstance& aggregation() const { return *single_.at(1); }
  const plugin::PluginInstance& memory() const { return *single_.at(2); }
  const std::vector<std::unique_ptr<plugin::PluginInstance>>& of_tier(int32_t tier) const;
  std::vector<const plugin::PluginInstance*> all() const;

 private:
  std::vector<std::unique_ptr<plugin::PluginInstance>> single_;
  std::vector<std::unique_ptr<plugin::PluginInstance>> fairness_, explainability_, compliance_;
  std::vector<std::unique_ptr<plugin::PluginInstance>> empty_;
};

// Installs env.child_factory / child_destroyer backed by `registry`.
void attach_child_factory(plugin::HostEnvironment& env, const plugin::PluginRegistry& registry);

}  // namespace strata::run
