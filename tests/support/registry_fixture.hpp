// A registry holding the in-tree plugins and the test-only ones, and a host environment
// whose metrics and run directory the test can inspect.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/comm/self_comm.hpp"
#include "core/plugin/instance.hpp"
#include "core/run/plugin_set.hpp"
#include "tests/support/paths.hpp"

namespace strata::test {

class RegistryFixture : public ::testing::Test {
 protected:
  RegistryFixture() : registry(util::null_logger()), env(util::null_logger(), comm::self_communicator()) {
    registry.discover({plugin_dir(), testing_dir()});
    env.run_dir = run_dir.path().string();
    env.metric_sink = [this](const std::string& name, double value, int64_t step) {
      metrics[name].push_back({value, step});
    };
    run::attach_child_factory(env, registry);
  }

  std::unique_ptr<plugin::PluginInstance> make(const std::string& name, nlohmann::json options = nlohmann::json::object()) {
    const plugin::PluginInfo* info = registry.find(name);
    EXPECT_NE(info, nullptr) << name;
    return std::make_unique<plugin::PluginInstance>(*info, info->schema->with_defaults(options), env);
  }

  TempDir run_dir;
  plugin::PluginRegistry registry;
  plugin::HostEnvironment env;
  std::map<std::string, std::vector<std::pair<double, int64_t>>> metrics;
};

}  // namespace strata::test
