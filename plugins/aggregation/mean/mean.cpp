// Gradient aggregator `mean`: averages each bucket over the data-parallel group with one
// in-place all-reduce (sum) and a scale by 1/size. Identity at world size 1. fp32 and fp64.
#include <strata/sdk.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace {

struct Pending {
  strata_comm_request* request;
  const strata_comm* comm;
  strata_buffer grads;
  int size;
};

template <class T>
void scale(strata_buffer& b, double factor) {
  T* p = static_cast<T*>(b.data);
  const T f = static_cast<T>(factor);
  for (uint64_t i = 0; i < b.count; ++i) p[i] *= f;
}

class Mean final : public strata::sdk::GradientAggregator {
 public:
  static constexpr const char* kName = "mean";
  static constexpr const char* kVersion = "0.1.0";
  static constexpr const char* kDescription = "averages gradient buckets with one all-reduce each (identity on one rank)";
  static constexpr const char* kOptionsSchema = R"json({
    "type": "object",
    "properties": {
      "bucket_mb": {"type": "number", "exclusiveMinimum": 0, "default": 16,
                    "description": "gradient bucket size in MiB (16-32 avoids Open MPI's large-message slowdown)"}
    },
    "additionalProperties": false
  })json";

  explicit Mean(strata::sdk::Host host)
      : GradientAggregator(host), bucket_bytes_(static_cast<uint64_t>(host.options().at("bucket_mb").get<double>() * 1048576.0)) {}

  strata_agg_pending* start(const strata::sdk::Comm& comm, strata_grad_bucket& bucket) override {
    const int size = comm.size();
    check_dtype(bucket.grads);
    if (size == 1) return nullptr;
    if (bucket.grads.device_kind != STRATA_DEVICE_CPU)
      throw strata::sdk::Error(STRATA_UNSUPPORTED, "'mean' scales on the host; bucket is on a device");
    auto pending = std::make_unique<Pending>(Pending{comm.start_allreduce(bucket.grads), comm.raw(), bucket.grads, size});
    return reinterpret_cast<strata_agg_pending*>(pending.release());
  }

  void wait(strata_agg_pending* handle) override {
    std::unique_ptr<Pending> pending(reinterpret_cast<Pending*>(handle));
    strata::sdk::Comm(pending->comm).wait(pending->request);
    if (pending->grads.dtype == STRATA_DTYPE_F32)
      scale<float>(pending->grads, 1.0 / pending->size);
    else
      scale<double>(pending->grads, 1.0 / pending->size);
  }

  uint64_t preferred_bucket_bytes() const override { return bucket_bytes_; }

 private:
  static void check_dtype(const strata_buffer& b) {
    if (b.dtype != STRATA_DTYPE_F32 && b.dtype != STRATA_DTYPE_F64)
      throw strata::sdk::Error(STRATA_UNSUPPORTED, "'mean' averages fp32 or fp64 gradients; got dtype " +
                                                       std::to_string(b.dtype));
  }
  uint64_t bucket_bytes_;
};

}  // namespace

STRATA_PLUGIN_LIBRARY("strata-mean", Mean)
