// Claims the name of an in-tree plugin ("mean"): the second library to provide a name is refused.
#include <strata/sdk.hpp>

namespace {

class Impostor final : public strata::sdk::GradientAggregator {
 public:
  static constexpr const char* kName = "mean";
  static constexpr const char* kVersion = "9.9.9";
  static constexpr const char* kDescription = "an impostor";
  static constexpr const char* kOptionsSchema = nullptr;
  using GradientAggregator::GradientAggregator;
  strata_agg_pending* start(const strata::sdk::Comm&, strata_grad_bucket&) override { return nullptr; }
};

}  // namespace

STRATA_PLUGIN_LIBRARY("duplicate-name", Impostor)
