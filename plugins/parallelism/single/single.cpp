// Parallelism strategy `single`: the one-rank plan. Every layer on one stage, no tensor or
// data parallelism; gradient accumulation over `micro_batches` micro-batches.
#include <strata/sdk.hpp>

#include <string>

namespace {

class Single final : public strata::sdk::ParallelismStrategy {
 public:
  static constexpr const char* kName = "single";
  static constexpr const char* kVersion = "0.1.0";
  static constexpr const char* kDescription = "one rank: the whole model on one process (tp = pp = dp = 1)";
  static constexpr const char* kOptionsSchema = R"json({
    "type": "object",
    "properties": {
      "micro_batches": {"type": "integer", "minimum": 1, "default": 1,
                        "description": "micro-batches per optimizer step (gradient accumulation)"}
    },
    "additionalProperties": false
  })json";

  explicit Single(strata::sdk::Host host)
      : ParallelismStrategy(host), micro_batches_(host.options().at("micro_batches").get<int>()) {}

  void plan(const strata_model_shape& model, const strata_topology& topology, strata_parallel_plan& out) override {
    using strata::sdk::Error;
    if (topology.world_size != 1)
      throw Error(STRATA_INVALID_ARGUMENT, "the 'single' strategy runs one rank, but the world size is " +
                                               std::to_string(topology.world_size) +
                                               "; choose a multi-rank strategy such as 'megatron'");
    if (model.global_batch % micro_batches_ != 0)
      throw Error(STRATA_INVALID_ARGUMENT, "global batch " + std::to_string(model.global_batch) +
                                               " is not divisible by micro_batches " + std::to_string(micro_batches_));
    out.tp = out.pp = out.dp = 1;
    out.micro_batches = micro_batches_;
    out.micro_batch = static_cast<int32_t>(model.global_batch / micro_batches_);
    out.zero_stage = 0;
    out.schedule = STRATA_SCHEDULE_NONE;
    out.stage_layer_begin[0] = 0;
    out.stage_layer_begin[1] = static_cast<int32_t>(model.layers);
    strata::sdk::copy_text(out.rationale, sizeof(out.rationale),
                           "one rank holds all " + std::to_string(model.layers) + " layers; " +
                               std::to_string(micro_batches_) + " micro-batch(es) of " +
                               std::to_string(out.micro_batch) + " per step");
  }

 private:
  int micro_batches_;
};

}  // namespace

STRATA_PLUGIN_LIBRARY("strata-single", Single)
