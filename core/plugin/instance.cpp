#include "core/plugin/instance.hpp"

namespace strata::plugin {

PluginInstance::PluginInstance(const PluginInfo& info, const nlohmann::json& options, HostEnvironment& env)
    : info_(info), ctx_(std::make_unique<strata_host_ctx>()) {
  ctx_->env = &env;
  ctx_->plugin_name = info.name;
  ctx_->tier = info.tier;
  ctx_->options_json = options.dump();
  strata_instance* created = nullptr;
  const strata_status status = common().create(host_services(), ctx_.get(), &created);
  if (status != STRATA_OK) {
    const std::string why = ctx_->last_error.empty() ? "no message given" : ctx_->last_error;
    throw PluginError(status, "plugin '" + info.name + "' failed to initialise (" + strata_status_name(status) +
                                  "): " + why);
  }
  if (created == nullptr) throw PluginError(STRATA_INTERNAL, "plugin '" + info.name + "' created a NULL instance");
  instance_ = sdk::InstanceHandle(&common(), created);
}

PluginInstance::~PluginInstance() = default;

void PluginInstance::check(strata_status status, const std::string& what) const {
  if (status == STRATA_OK) return;
  const std::string why = ctx_->last_error.empty() ? "no message given" : ctx_->last_error;
  ctx_->last_error.clear();
  throw PluginError(status, "plugin '" + info_.name + "': " + what + " failed (" + strata_status_name(status) + "): " + why);
}

void PluginInstance::expect_tier(int32_t tier, const char* call) const {
  if (info_.tier != tier)
    throw PluginError(STRATA_INTERNAL, std::string("host bug: ") + call + " called on " + tier_name(info_.tier) +
                                           " plugin '" + info_.name + "'");
}

uint64_t PluginInstance::subscriptions() const {
  return common().subscriptions ? common().subscriptions(instance_.get()) : 0;
}

strata_status PluginInstance::on_event(const strata_event& event, strata_decision* decision) const {
  if (common().on_event == nullptr) return STRATA_OK;
  return common().on_event(instance_.get(), &event, decision);
}

PluginState PluginInstance::save_state() const {
  PluginState state;
  if (common().save_state == nullptr) return state;
  strata_state_writer writer{STRATA_STATE_WRITER_STRUCT_SIZE, &state,
                             [](void* ctx, const char* key, const void* data, uint64_t bytes) -> strata_status {
                               if (key == nullptr || *key == '\0') return STRATA_INVALID_ARGUMENT;
                               (*static_cast<PluginState*>(ctx))[key] =
                                   std::string(static_cast<const char*>(data), bytes);
                               return STRATA_OK;
                             }};
  check(common().save_state(instance_.get(), &writer), "save_state");
  return state;
}

void PluginInstance::load_state(const PluginState& state) const {
  if (common().load_state == nullptr) return;
  strata_state_reader reader{STRATA_STATE_READER_STRUCT_SIZE, const_cast<PluginState*>(&state),
                             [](void* ctx, const char* key, const void** data, uint64_t* bytes) -> strata_status {
                               const auto& s = *static_cast<const PluginState*>(ctx);
                               const auto it = s.find(key ? key : "");
                               if (it == s.end()) return STRATA_NOT_FOUND;
                               *data = it->second.data();
                               *bytes = it->second.size();
                               return STRATA_OK;
                             }};
  check(common().load_state(instance_.get(), &reader), "load_state");
}

std::vector<const strata_param*> PluginInstance::parameters() const {
  if (common().parameters == nullptr) return {};
  strata_param_list list{STRATA_PARAM_LIST_STRUCT_SIZE, 0, nullptr};
  check(common().parameters(instance_.get(), &list), "parameters");
  return std::vector<const strata_param*>(list.params, list.params + list.count);
}

void PluginInstance::plan(const strata_model_shape& model, const strata_topology& topology, strata_parallel_plan& out) const {
  expect_tier(STRATA_TIER_PARALLELISM, "plan");
  check(table<strata_parallelism_v0>().plan(instance_.get(), &model, &topology, &out), "plan");
}

strata_agg_pending* PluginInstance::aggregate_start(const strata_comm* comm, strata_grad_bucket& bucket) const {
  expect_tier(STRATA_TIER_AGGREGATION, "aggregate_start");
  strata_agg_pending* pending = nullptr;
  check(table<strata_aggregation_v0>().start(instance_.get(), comm, &bucket, &pending),
        "aggregating bucket " + std::to_string(bucket.index));
  return pending;
}

void PluginInstance::aggregate_wait(strata_agg_pending* pending) const {
  expect_tier(STRATA_TIER_AGGREGATION, "aggregate_wait");
  if (pending != nullptr) check(table<strata_aggregation_v0>().wait(instance_.get(), pending), "wait");
}

uint64_t PluginInstance::preferred_bucket_bytes() const {
  expect_tier(STRATA_TIER_AGGREGATION, "preferred_bucket_bytes");
  const auto& t = table<strata_aggregation_v0>();
  // Optional member: present only if the plugin's table is large enough to hold it.
  if (t.common.struct_size < STRATA_AGGREGATION_V0_1_STRUCT_SIZE || t.preferred_bucket_bytes == nullptr) return 0;
  return t.preferred_bucket_bytes(instance_.get());
}

bool PluginInstance::sums_prescaled_gradients() const {
  expect_tier(STRATA_TIER_AGGREGATION, "sums_prescaled_gradients");
  const auto& t = table<strata_aggregation_v0>();
  // Interface 0.1 tables end before this member.
  if (t.common.struct_size < STRATA_AGGREGATION_V0_STRUCT_SIZE || t.sums_prescaled_gradients == nullptr) return false;
  return t.sums_prescaled_gradients(instance_.get()) != 0;
}

void PluginInstance::plan_memory(const std::vector<const strata_layer_profile*>& layers, uint64_t budget,
                                 strata_memory_plan& out) const {
  expect_tier(STRATA_TIER_MEMORY, "plan_memory");
  check(table<strata_memory_v0>().plan(instance_.get(), layers.data(), static_cast<uint32_t>(layers.size()), budget, &out),
        "memory plan");
}

void PluginInstance::fairness_train(strata_fairness_batch& batch) const {
  expect_tier(STRATA_TIER_FAIRNESS, "fairness_train");
  if (table<strata_fairness_v0>().train_step != nullptr)
    check(table<strata_fairness_v0>().train_step(instance_.get(), &batch), "train_step");
}

void PluginInstance::fairness_evaluate(const strata_fairness_batch& batch) const {
  expect_tier(STRATA_TIER_FAIRNESS, "fairness_evaluate");
  check(table<strata_fairness_v0>().evaluate(instance_.get(), &batch), "evaluate");
}

void PluginInstance::fairness_finish(int64_t step) const {
  expect_tier(STRATA_TIER_FAIRNESS, "fairness_finish");
  check(table<strata_fairness_v0>().finish_evaluation(instance_.get(), step), "finish_evaluation");
}

uint32_t PluginInstance::explain_requirements() const {
  expect_tier(STRATA_TIER_EXPLAINABILITY, "explain_requirements");
  const auto& t = table<strata_explainability_v0>();
  return t.requirements != nullptr ? t.requirements(instance_.get()) : 0;
}

void PluginInstance::explain(const strata_explain_input& input) const {
  expect_tier(STRATA_TIER_EXPLAINABILITY, "explain");
  check(table<strata_explainability_v0>().explain(instance_.get(), &input), "explain");
}

void PluginInstance::flush() const {
  expect_tier(STRATA_TIER_COMPLIANCE, "flush");
  const auto& t = table<strata_compliance_v0>();
  if (t.common.struct_size >= STRATA_COMPLIANCE_V0_STRUCT_SIZE && t.flush != nullptr)
    check(t.flush(instance_.get()), "flush");
}

}  // namespace strata::plugin
