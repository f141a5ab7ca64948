// Gradient aggregator `allreduce`: the data-parallel baseline of the Megatron-style runs.
// fp32/fp64 buckets (size from `bucket_mb`: Open MPI's tuned all-reduce allocates a
// message-sized temporary on every call, and above 32 MiB that is fresh memory at ~15 us a
// page, so 16 MiB buckets keep it out of the slow path) are all-reduced without blocking
// as the host hands them over (or, by default, with blocking all-reduces: see the
// `nonblocking` option). The mean comes out of the sum because the host has divided each
// rank's gradient by the group size in the loss scale (`prescaled`, the default), or from
// a pass after the reduction. Buckets on a device (CUDA, through the NCCL communicator) are
// summed there and always started without blocking; they need `prescaled`, since the
// average pass runs on the host. Open MPI makes little asynchronous progress
// on CPU buffers, so what matters is what stays exposed: the time the host spends blocked
// in wait(), which this plugin measures and reports per step as `exposed_comm_ms`, with the
// bytes moved (`bytes`) and the buckets (`buckets`).
#include <strata/sdk.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace {

using Clock = std::chrono::steady_clock;

struct Pending {
  strata_comm_request* request;
  const strata_comm* comm;
  strata_buffer grads;
  int size;
  int64_t step;
};

template <class T>
void scale(strata_buffer& b, double factor) {
  T* p = static_cast<T*>(b.data);
  const T f = static_cast<T>(factor);
  for (uint64_t i = 0; i < b.count; ++i) p[i] *= f;
}

class AllReduce final : public strata::sdk::GradientAggregator {
 public:
  static constexpr const char* kName = "allreduce";
  static constexpr const char* kVersion = "0.1.0";
  static constexpr const char* kDescription =
      "bucketed fp32/fp64 all-reduce of gradients the host pre-divides (or averaged after); reports the exposed "
      "communication time per step";
  static constexpr const char* kOptionsSchema = R"json({
    "type": "object",
    "properties": {
      "bucket_mb": {"type": "number", "exclusiveMinimum": 0, "maximum": 1024, "default": 16,
                    "description": "gradient bucket size in MiB; 16-32 avoids Open MPI's large-message slowdown"},
      "prescaled": {"type": "boolean", "default": true,
                    "description": "true: the host divides each rank's gradient by the group size in the backward pass's loss scale (free) and the buckets are only summed; false: average after each all-reduce (one more pass over every gradient byte)"},
      "report_every": {"type": "integer", "minimum": 0, "default": 1,
                       "description": "emit the exposed-communication metrics every this many steps (0: never)"},
      "nonblocking": {"type": "boolean", "default": false,
                      "description": "MPI_Iallreduce per bucket, completed in wait(); default: blocking MPI_Allreduce in start(), because Open MPI's non-blocking collectives (libnbc) run about 2x slower here and progress only inside MPI calls"}
    },
    "additionalProperties": false
  })json";

  explicit AllReduce(strata::sdk::Host host) : GradientAggregator(host) {
    const auto o = host.options();
    bucket_bytes_ = static_cast<uint64_t>(o.at("bucket_mb").get<double>() * 1048576.0);
    prescaled_ = o.at("prescaled").get<bool>();
    report_every_ = o.at("report_every").get<int64_t>();
    nonblocking_ = o.at("nonblocking").get<bool>();
  }

  strata_agg_pending* start(const strata::sdk::Comm& comm, strata_grad_bucket& bucket) override {
    const strata_buffer& g = bucket.grads;
    if (g.dtype != STRATA_DTYPE_F32 && g.dtype != STRATA_DTYPE_F64)
      throw strata::sdk::Error(STRATA_UNSUPPORTED, "'allreduce' reduces fp32 or fp64 gradients; got dtype " +
                                                       std::to_string(g.dtype));
    const bool on_device = g.device_kind != STRATA_DEVICE_CPU;
    if (on_device && !prescaled_)
      throw strata::sdk::Error(STRATA_UNSUPPORTED,
                               "'allreduce' with prescaled = false averages on the host, but the bucket is on a device; "
                               "use prescaled = true (the default) for device gradients");
    begin_step(bucket.step);
    const int size = comm.size();
    if (size == 1) return nullptr;
    const auto t0 = Clock::now();
    strata_comm_request* request = nullptr;
    // A device bucket is always started, never waited for here: its communicator (NCCL)
    // queues the all-reduce on its own stream, which overlaps the rest of the backward.
    if (nonblocking_ || on_device)
      request = comm.start_allreduce(bucket.grads);
    else
      comm.allreduce(bucket.grads);
    auto pending = std::make_unique<Pending>(Pending{request, comm.raw(), bucket.grads, size, bucket.step});
    exposed_s_ += std::chrono::duration<double>(Clock::now() - t0).count();
    bytes_ += g.count * strata_dtype_size(g.dtype);
    ++buckets_;
    return reinterpret_cast<strata_agg_pending*>(pending.release());
  }

  void wait(strata_agg_pending* handle) override {
    std::unique_ptr<Pending> pending(reinterpret_cast<Pending*>(handle));
    const auto t0 = Clock::now();
    strata::sdk::Comm(pending->comm).wait(pending->request);
    exposed_s_ += std::chrono::duration<double>(Clock::now() - t0).count();
    if (!prescaled_) {
      if (pending->grads.dtype == STRATA_DTYPE_F32)
        scale<float>(pending->grads, 1.0 / pending->size);
      else
        scale<double>(pending->grads, 1.0 / pending->size);
    }
  }

  uint64_t preferred_bucket_bytes() const override { return bucket_bytes_; }
  bool sums_prescaled_gradients() const override { return prescaled_; }

  ~AllReduce() override { begin_step(-2); }  // report the last step

 private:
  // The host hands over a step's buckets before the next step's: the first bucket of a new
  // step closes the previous step's accounting.
  void begin_step(int64_t step) {
    if (step == step_) return;
    if (step_ >= 0 && buckets_ > 0 && report_every_ > 0 && (step_ + 1) % report_every_ == 0) {
      host().emit_metric("exposed_comm_ms", exposed_s_ * 1e3, step_ + 1);
      host().emit_metric("bytes", static_cast<double>(bytes_), step_ + 1);
      host().emit_metric("buckets", static_cast<double>(buckets_), step_ + 1);
    }
    step_ = step;
    exposed_s_ = 0;
    bytes_ = 0;
    buckets_ = 0;
  }

  uint64_t bucket_bytes_ = 0;
  bool prescaled_ = true;
  bool nonblocking_ = false;
  int64_t report_every_ = 1;
  int64_t step_ = -1;
  double exposed_s_ = 0;
  uint64_t bytes_ = 0;
  uint64_t buckets_ = 0;
};

}  // namespace

STRATA_PLUGIN_LIBRARY("strata-allreduce", AllReduce)
