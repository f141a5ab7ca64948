// Aggregator `desync` (tests only): averages like `mean`, but on one rank at one step it
// first calls a collective the other ranks do not (a barrier) or skips its all-reduce, so
// the ranks desynchronise: the watchdog test checks the report names them and the calls.
#include <strata/sdk.hpp>

#include <string>

namespace {

class Desync final : public strata::sdk::GradientAggregator {
 public:
  static constexpr const char* kName = "desync";
  static constexpr const char* kVersion = "0.1.0";
  static constexpr const char* kDescription = "test double: desynchronises one rank at one step";
  static constexpr const char* kOptionsSchema = R"json({
    "type": "object",
    "properties": {
      "rank": {"type": "integer", "minimum": 0, "default": 1},
      "step": {"type": "integer", "minimum": 0, "default": 3},
      "mode": {"enum": ["extra_barrier", "skip"], "default": "extra_barrier"}
    },
    "additionalProperties": false
  })json";

  explicit Desync(strata::sdk::Host host) : GradientAggregator(host) {
    const auto o = host.options();
    rank_ = o.at("rank").get<int>();
    step_ = o.at("step").get<int64_t>();
    mode_ = o.at("mode").get<std::string>();
  }

  strata_agg_pending* start(const strata::sdk::Comm& comm, strata_grad_bucket& bucket) override {
    const bool odd_one = comm.rank() == rank_ && bucket.step == step_;
    if (odd_one && mode_ == "skip") return nullptr;
    if (odd_one) comm.barrier();
    comm.allreduce(bucket.grads);
    const double f = 1.0 / comm.size();
    if (bucket.grads.dtype == STRATA_DTYPE_F64)
      for (uint64_t i = 0; i < bucket.grads.count; ++i) static_cast<double*>(bucket.grads.data)[i] *= f;
    else
      for (uint64_t i = 0; i < bucket.grads.count; ++i) static_cast<float*>(bucket.grads.data)[i] *= static_cast<float>(f);
    return nullptr;
  }

 private:
  int rank_ = 1;
  int64_t step_ = 3;
  std::string mode_;
};

}  // namespace

STRATA_PLUGIN_LIBRARY("strata-desync", Desync)
