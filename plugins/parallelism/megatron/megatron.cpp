// Parallelism strategy `megatron`: the explicit Megatron-LM layout. The config names the
// tensor- (tp), pipeline- (pp) and data-parallel (dp) degrees and the micro-batches; this
// plugin checks them against the model and the world with errors that say what to change,
// and plans ranks in Megatron's order (tp fastest, then dp, then pp).
#include <strata/sdk.hpp>

#include <string>

namespace {

class Megatron final : public strata::sdk::ParallelismStrategy {
 public:
  static constexpr const char* kName = "megatron";
  static constexpr const char* kVersion = "0.1.0";
  static constexpr const char* kDescription =
      "explicit tensor x pipeline x data parallel layout (Megatron-LM rank order: tp fastest, then dp, then pp)";
  static constexpr const char* kOptionsSchema = R"json({
    "type": "object",
    "properties": {
      "tp": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 1,
             "description": "tensor-parallel degree (divides heads)"},
      "pp": {"type": "integer", "minimum": 1, "maximum": 128, "default": 1, "description": "pipeline stages (divides layers)"},
      "dp": {"type": "integer", "minimum": 0, "maximum": 1048576, "default": 0,
             "description": "data-parallel degree; 0: world size / (tp * pp)"},
      "micro_batches": {"type": "integer", "minimum": 1, "maximum": 1048576, "default": 1,
                        "description": "micro-batches per optimizer step on each data-parallel rank"},
      "zero_stage": {"enum": [0, 1], "default": 0, "description": "1: shard optimizer state over dp (ZeRO-1)"}
    },
    "additionalProperties": false
  })json";

  explicit Megatron(strata::sdk::Host host) : ParallelismStrategy(host) {
    const auto o = host.options();
    tp_ = o.at("tp").get<int>();
    pp_ = o.at("pp").get<int>();
    dp_ = o.at("dp").get<int>();
    micro_batches_ = o.at("micro_batches").get<int>();
    zero_ = o.at("zero_stage").get<int>();
  }

  void plan(const strata_model_shape& model, const strata_topology& topology, strata_parallel_plan& out) override {
    using strata::sdk::Error;
    const auto fail = [](const std::string& what) { throw Error(STRATA_INVALID_ARGUMENT, "megatron: " + what); };
    const int world = topology.world_size;
    if (world % (tp_ * pp_) != 0)
      fail("tp * pp = " + std::to_string(tp_ * pp_) + " does not divide the world of " + std::to_string(world) +
           " ranks");
    const int dp = dp_ == 0 ? world / (tp_ * pp_) : dp_;
    if (tp_ * pp_ * dp != world)
      fail("tp * pp * dp = " + std::to_string(tp_) + " * " + std::to_string(pp_) + " * " + std::to_string(dp) + " = " +
           std::to_string(tp_ * pp_ * dp) + ", but the world has " + std::to_string(world) +
           " ranks (launch with mpirun -np " + std::to_string(tp_ * pp_ * dp) + ", or set dp to 0)");
    if (model.heads % tp_ != 0)
      fail(std::to_string(model.heads) + " heads are not divisible by tp = " + std::to_string(tp_));
    if (model.ffn_width % tp_ != 0)
      fail("the MLP width " + std::to_string(model.ffn_width) + " is not divisible by tp = " + std::to_string(tp_));
    if (model.layers % pp_ != 0)
      fail(std::to_string(model.layers) + " layers are not divisible by pp = " + std::to_string(pp_));
    if (pp_ > STRATA_MAX_PIPELINE_STAGES)
      fail("at most " + std::to_string(STRATA_MAX_PIPELINE_STAGES) + " pipeline stages");
    const int64_t per_step = static_cast<int64_t>(micro_batches_) * dp;
    if (model.global_batch % per_step != 0)
      fail("global batch " + std::to_string(model.global_batch) + " is not micro_batch x micro_batches (" +
           std::to_string(micro_batches_) + ") x dp (" + std::to_string(dp) + ") for any whole micro_batch");
    out.tp = tp_;
    out.pp = pp_;
    out.dp = dp;
    out.micro_batches = micro_batches_;
    out.micro_batch = static_cast<int32_t>(model.global_batch / per_step);
    out.zero_stage = zero_;
    out.schedule = pp_ > 1 ? STRATA_SCHEDULE_1F1B : STRATA_SCHEDULE_NONE;
    for (int s = 0; s <= pp_; ++s) out.stage_layer_begin[s] = static_cast<int32_t>(model.layers / pp_ * s);
    strata::sdk::copy_text(out.rationale, sizeof(out.rationale),
                           "tp=" + std::to_string(tp_) + " pp=" + std::to_string(pp_) + " dp=" + std::to_string(dp) +
                               " over " + std::to_string(world) + " ranks; " + std::to_string(micro_batches_) +
                               " micro-batch(es) of " + std::to_string(out.micro_batch) + " per data-parallel rank" +
                               (pp_ > 1 && micro_batches_ < 4 * pp_
                                    ? "; with fewer than 4 x pp micro-batches the pipeline idles much of each step "
                                      "(bubble fraction (pp - 1) / (micro_batches + pp - 1) = " +
                                          std::to_string((pp_ - 1) * 100 / (micro_batches_ + pp_ - 1)) + "%)"
                                    : std::string()));
  }

 private:
  int tp_ = 1, pp_ = 1, dp_ = 0, micro_batches_ = 1, zero_ = 0;
};

}  // namespace

STRATA_PLUGIN_LIBRARY("strata-megatron", Megatron)
