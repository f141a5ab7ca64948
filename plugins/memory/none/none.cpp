// Memory planner `none`: keeps every activation (no recomputation) and reports what that
// costs, so runs without a planner still show their activation footprint.
#include <strata/sdk.hpp>

#include <string>

namespace {

class KeepEverything final : public strata::sdk::MemoryPlanner {
 public:
  static constexpr const char* kName = "none";
  static constexpr const char* kVersion = "0.1.0";
  static constexpr const char* kDescription = "keeps every activation; reports the activation bytes it was given";
  static constexpr const char* kOptionsSchema = R"json({"type": "object", "properties": {}, "additionalProperties": false})json";

  explicit KeepEverything(strata::sdk::Host host) : MemoryPlanner(host) {}

  void plan(const strata_layer_profile* const* layers, uint32_t count, uint64_t budget_bytes,
            strata_memory_plan& out) override {
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; ++i) {
      out.decisions[i] = STRATA_MEMORY_KEEP;
      total += layers[i]->activation_bytes;
    }
    out.planned_activation_bytes = total;
    out.planned_recompute_flops = 0;
    std::string why = "keeps all " + std::to_string(count) + " layers: " + std::to_string(total) + " activation bytes";
    if (budget_bytes > 0 && total > budget_bytes) {
      why += ", over the budget of " + std::to_string(budget_bytes) + " bytes (this planner never recomputes)";
      host().warn(why);
    }
    strata::sdk::copy_text(out.rationale, sizeof(out.rationale), why);
    host().emit_metric("activation_bytes", static_cast<double>(total));
  }
};

}  // namespace

STRATA_PLUGIN_LIBRARY("strata-none", KeepEverything)
