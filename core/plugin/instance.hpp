// A live plugin instance on the host side: RAII over create/destroy, with typed calls
// that turn a failing status into a PluginError carrying the plugin's own message.
#pragma once

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/plugin/host_environment.hpp"
#include "core/plugin/registry.hpp"
#include "strata/cpp/host_side.hpp"

namespace strata::plugin {

class PluginError : public std::runtime_error {
 public:
  PluginError(strata_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  strata_status status() const { return status_; }

 private:
  strata_status status_;
};

// Named state blobs of one instance, as saved with checkpoints.
using PluginState = std::map<std::string, std::string>;

class PluginInstance {
 public:
  // options: already validated and with defaults applied. Throws PluginError with the
  // plugin's message when its create fails.
  PluginInstance(const PluginInfo& info, const nlohmann::json& options, HostEnvironment& env);
  ~PluginInstance();
  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  const PluginInfo& info() const { return info_; }
  const std::string& name() const { return info_.name; }
  int32_t tier() const { return info_.tier; }
  strata_instance* raw() const { return instance_.get(); }
  template <class Table>
  const Table& table() const {
    return *static_cast<const Table*>(info_.entry->vtable);
  }
  // Throws PluginError "plugin '<name>': <what> failed (<STATUS>): <message>" unless OK.
  void check(strata_status status, const std::string& what) const;

  uint64_t subscriptions() const;
  // Returns the status; for gates fills decision. Does not throw on a failing status.
  strata_status on_event(const strata_event& event, strata_decision* decision) const;
  std::string last_error() const { return ctx_->last_error; }
  PluginState save_state() const;
  void load_state(const PluginState& state) const;
  std::vector<const strata_param*> parameters() const;

  // Tier calls.
  void plan(const strata_model_shape& model, const strata_topology& topology, strata_parallel_plan& out) const;
  strata_agg_pending* aggregate_start(const strata_comm* comm, strata_grad_bucket& bucket) const;
  void aggregate_wait(strata_agg_pending* pending) const;
  uint64_t preferred_bucket_bytes() const;
  bool sums_prescaled_gradients() const;
  void plan_memory(const std::vector<const strata_layer_profile*>& layers, uint64_t budget, strata_memory_plan& out) const;
  void fairness_train(strata_fairness_batch& batch) const;
  void fairness_evaluate(const strata_fairness_batch& batch) const;
  void fairness_finish(int64_t step) const;
  uint32_t explain_requirements() const;
  void explain(const strata_explain_input& input) const;
  void flush() const;

 private:
  const strata_plugin_common& common() const { return *static_cast<const strata_plugin_common*>(info_.entry->vtable); }
  void expect_tier(int32_t tier, const char* call) const;

  const PluginInfo& info_;
  std::unique_ptr<strata_host_ctx> ctx_;
  sdk::InstanceHandle instance_;  // destroyed through the plugin's own table
};

}  // namespace strata::plugin
