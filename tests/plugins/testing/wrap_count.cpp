// Aggregator `wrap-count`: delegates every bucket to another aggregation plugin named in
// its options (exercising x-strata-plugin references and host->create_child), counts the
// buckets it saw (saved with checkpoints), and owns one trainable parameter.
#include <strata/sdk.hpp>

#include <cstring>
#include <string>

namespace {

class WrapCount final : public strata::sdk::GradientAggregator {
 public:
  static constexpr const char* kName = "wrap-count";
  static constexpr const char* kVersion = "0.0.1";
  static constexpr const char* kDescription = "counts buckets, delegates to an inner aggregator";
  static constexpr const char* kOptionsSchema = R"json({
    "type": "object",
    "properties": {
      "inner": {"type": "object", "x-strata-plugin": "aggregation", "default": {"plugin": "mean"}}
    },
    "additionalProperties": false
  })json";

  explicit WrapCount(strata::sdk::Host host) : GradientAggregator(host) {
    const nlohmann::json inner = host.options().at("inner");
    child_ = host.create_child(STRATA_TIER_AGGREGATION, inner.at("plugin").get<std::string>(),
                               inner.value("options", nlohmann::json::object()));
    param_.struct_size = STRATA_PARAM_STRUCT_SIZE;
    param_.name = "scale";
    param_.value = {&weight_, 1, STRATA_DTYPE_F32, STRATA_DEVICE_CPU, 0};
    param_.grad = {&grad_, 1, STRATA_DTYPE_F32, STRATA_DEVICE_CPU, 0};
    param_.ndim = 1;
    param_.shape[0] = 1;
  }
  ~WrapCount() override { host().destroy_child(child_); }

  strata_agg_pending* start(const strata::sdk::Comm& comm, strata_grad_bucket& bucket) override {
    ++buckets_;
    const auto* table = static_cast<const strata_aggregation_v0*>(child_.vtable);
    strata_agg_pending* pending = nullptr;
    if (table->start(child_.instance, comm.raw(), &bucket, &pending) != STRATA_OK)
      throw strata::sdk::Error(STRATA_INTERNAL, "inner aggregator failed");
    return pending;
  }
  void wait(strata_agg_pending* pending) override {
    const auto* table = static_cast<const strata_aggregation_v0*>(child_.vtable);
    if (pending != nullptr && table->wait(child_.instance, pending) != STRATA_OK)
      throw strata::sdk::Error(STRATA_INTERNAL, "inner aggregator wait failed");
  }
  void save_state(const strata::sdk::StateWriter& w) const override { w.put("buckets", std::to_string(buckets_)); }
  void load_state(const strata::sdk::StateReader& r) override {
    if (auto v = r.get("buckets")) buckets_ = std::stoll(std::string(*v));
  }
  std::vector<const strata_param*> parameters() override { return {&param_}; }

 private:
  strata_child child_{};
  long long buckets_ = 0;
  float weight_ = 1.0f;
  float grad_ = 0.0f;
  strata_param param_{};
};

}  // namespace

STRATA_PLUGIN_LIBRARY("wrap-count", WrapCount)
