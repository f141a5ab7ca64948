// Gradient aggregator `clip-mean`, an example of a third-party Strata plugin.
//
// Averages each gradient bucket over the data-parallel group exactly like the in-tree `mean`
// plugin (one in-place all-reduce SUM, then a scale by 1/size; identity at world size 1) and
// then clips every averaged value to [-max_abs, +max_abs]. The number of clipped elements of
// each bucket is reported as the metric `clip-mean.clipped` (the host prefixes the plugin name).
//
// Clipping happens after the average, so every rank clips the same values and the replicas
// stay in step. fp32 and fp64 buckets on the CPU.
#include <strata/sdk.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace {

// What wait() needs once the all-reduce of a bucket was started. The host's bucket struct is
// not kept: it is only guaranteed to be valid during start().
struct Pending {
  strata_comm_request* request;
  const strata_comm* comm;
  strata_buffer grads;
  int64_t step;
  int size;
};

// Scales by `factor` (skipped when 1) and clips to [-limit, limit]; returns how many clipped.
template <class T>
uint64_t scale_and_clip(strata_buffer& b, double factor, double limit) {
  T* p = static_cast<T*>(b.data);
  const T f = static_cast<T>(factor);
  const T hi = static_cast<T>(limit);
  const T lo = -hi;
  uint64_t clipped = 0;
  for (uint64_t i = 0; i < b.count; ++i) {
    T v = factor != 1.0 ? p[i] * f : p[i];
    if (v > hi) {
      v = hi;
      ++clipped;
    } else if (v < lo) {
      v = lo;
      ++clipped;
    }
    p[i] = v;
  }
  return clipped;
}

class ClipMean final : public strata::sdk::GradientAggregator {
 public:
  static constexpr const char* kName = "clip-mean";
  static constexpr const char* kVersion = "0.1.0";
  static constexpr const char* kDescription =
      "averages gradient buckets with one all-reduce each, then clips values to [-max_abs, max_abs]";
  static constexpr const char* kOptionsSchema = R"json({
    "type": "object",
    "properties": {
      "max_abs": {"type": "number", "exclusiveMinimum": 0, "default": 1.0,
                  "description": "largest absolute value an averaged gradient element may keep"}
    },
    "additionalProperties": false
  })json";

  explicit ClipMean(strata::sdk::Host host)
      : GradientAggregator(host), max_abs_(host.options().at("max_abs").get<double>()) {}

  strata_agg_pending* start(const strata::sdk::Comm& comm, strata_grad_bucket& bucket) override {
    check(bucket.grads);
    const int size = comm.size();
    if (size == 1) {  // nothing to average: clip now, no pending work
      finish(bucket.grads, 1.0, bucket.step);
      return nullptr;
    }
    auto pending = std::make_unique<Pending>(
        Pending{comm.start_allreduce(bucket.grads), comm.raw(), bucket.grads, bucket.step, size});
    return reinterpret_cast<strata_agg_pending*>(pending.release());
  }

  void wait(strata_agg_pending* handle) override {
    std::unique_ptr<Pending> pending(reinterpret_cast<Pending*>(handle));
    strata::sdk::Comm(pending->comm).wait(pending->request);
    finish(pending->grads, 1.0 / pending->size, pending->step);
  }

 private:
  void finish(strata_buffer& grads, double factor, int64_t step) const {
    const uint64_t clipped = grads.dtype == STRATA_DTYPE_F32 ? scale_and_clip<float>(grads, factor, max_abs_)
                                                             : scale_and_clip<double>(grads, factor, max_abs_);
    host().emit_metric("clipped", static_cast<double>(clipped), step);
  }

  static void check(const strata_buffer& b) {
    if (b.dtype != STRATA_DTYPE_F32 && b.dtype != STRATA_DTYPE_F64)
      throw strata::sdk::Error(STRATA_UNSUPPORTED,
                               "'clip-mean' averages fp32 or fp64 gradients; got dtype " + std::to_string(b.dtype));
    if (b.device_kind != STRATA_DEVICE_CPU)
      throw strata::sdk::Error(STRATA_UNSUPPORTED, "'clip-mean' scales and clips on the host; bucket is on a device");
  }

  double max_abs_;
};

}  // namespace

STRATA_PLUGIN_LIBRARY("strata-clip-mean", ClipMean)
