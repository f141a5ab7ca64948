#include "core/engine/cuda/cuda_trainer.hpp"

#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "core/comm/nccl/nccl_backend.h"
#include "core/engine/cuda/cuda_gpt_model.hpp"
#include "kernels/cuda/check.h"

namespace strata::engine::cuda {
namespace {

// The NCCL communicator backend, lib/strata/libstrata_comm_nccl.so beside this module,
// loaded only when a run trains on several GPUs: a single-GPU run needs no NCCL library.
// Its copy of the CUDA runtime and ours share the device's primary context, and runtime
// streams and events are the driver's, so the event handed to strata_nccl_order_after is
// valid on its side.
struct NcclModule {
  strata_nccl_create_fn create = nullptr;
  strata_nccl_destroy_fn destroy = nullptr;
  strata_nccl_order_after_fn order_after = nullptr;
  strata_nccl_abort_fn abort = nullptr;

  static NcclModule load() {
    Dl_info self{};
    if (::dladdr(reinterpret_cast<void*>(&NcclModule::load), &self) == 0 || self.dli_fname == nullptr)
      throw std::runtime_error("cannot locate the CUDA engine module to find the NCCL backend beside it");
    // Beside the module (lib/strata/), or, for a binary that links the engine statically
    // (the GPU tests in bin/), in ../lib/strata/.
    const std::filesystem::path here = std::filesystem::path(self.dli_fname).parent_path();
    std::filesystem::path path = here / "libstrata_comm_nccl.so";
    std::error_code ec;
    if (!std::filesystem::exists(path, ec) &&
        std::filesystem::exists(here.parent_path() / STRATA_DEVICE_MODULE_RELATIVE_DIR / "libstrata_comm_nccl.so", ec))
      path = here.parent_path() / STRATA_DEVICE_MODULE_RELATIVE_DIR / "libstrata_comm_nccl.so";
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr)
      throw std::runtime_error("data parallelism on GPUs needs the NCCL backend " + path.string() +
                               ", which cannot be loaded: " + ::dlerror() +
                               " (is NCCL installed, and was Strata built with it?)");
    NcclModule m;
    m.create = reinterpret_cast<strata_nccl_create_fn>(::dlsym(handle, "strata_nccl_create"));
    m.destroy = reinterpret_cast<strata_nccl_destroy_fn>(::dlsym(handle, "strata_nccl_destroy"));
    m.order_after = reinterpret_cast<strata_nccl_order_after_fn>(::dlsym(handle, "strata_nccl_order_after"));
    m.abort = reinterpret_cast<strata_nccl_abort_fn>(::dlsym(handle, "strata_nccl_abort"));
    const auto version =
        reinterpret_cast<strata_nccl_backend_version_fn>(::dlsym(handle, "strata_nccl_backend_version"));
    if (m.create == nullptr || m.destroy == nullptr || m.order_after == nullptr || m.abort == nullptr ||
        version == nullptr ||
        version() != STRATA_NCCL_BACKEND_VERSION)
      throw std::runtime_error(path.string() + " is not a matching Strata NCCL backend (rebuild Strata)");
    return m;  // the library stays loaded for the process: communicators live in its code
  }
};

class CudaTrainer final : public DeviceTrainer {
 public:
  CudaTrainer(const GptConfig& config, int64_t max_batch, int64_t max_seq, const DeviceAdamW& a, int device,
              std::string name)
      : model_(config, max_batch, max_seq, CudaAdamWSettings{a.beta1, a.beta2, a.eps, a.weight_decay}),
        device_(device),
        name_(std::move(name)) {
    STRATA_CUDA_CHECK(cudaEventCreateWithFlags(&backward_done_, cudaEventDisableTiming));
  }
  ~CudaTrainer() override {
    model_.set_grad_ready_hook(nullptr);
    // Unwinding from an error, an all-reduce the other ranks will never join may be queued:
    // abort instead of waiting for it. Otherwise destroy, which waits for the stream.
    if (comm_ != nullptr) (std::uncaught_exceptions() > 0 ? nccl_.abort : nccl_.destroy)(comm_);
    if (backward_done_ != nullptr) cudaEventDestroy(backward_done_);
  }
  CudaTrainer(const CudaTrainer&) = delete;
  CudaTrainer& operator=(const CudaTrainer&) = delete;

  std::string describe() const override { return name_; }
  std::string precision() const override { return "bf16 compute, fp32 master weights and AdamW state"; }
  void set_state(const float* params, const float* m, const float* v, int64_t step) override {
    model_.set_parameters(params);
    model_.set_moments(m, v, step);
  }
  void get_state(float* params, float* m, float* v, int64_t* step) override {
    model_.download_params(params);
    model_.download_moments(m, v);
    *step = model_.step_count();
  }
  void zero_grads() override { model_.zero_grads(); }
  double forward(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t S) override {
    return model_.forward(tokens, targets, B, S);
  }
  void backward(double loss_scale) override {
    model_.backward(loss_scale);
    if (hook_) {  // the embedding's gradients, last: everything is final
      STRATA_CUDA_CHECK(cudaEventRecord(backward_done_, model_.compute_stream()));
      order_comm_after(backward_done_);
      hook_(0);
    }
  }
  void step(double lr, double max_grad_norm) override { model_.step(lr, max_grad_norm); }
  uint64_t peak_device_bytes() const override { return model_.peak_device_bytes(); }

  const strata_comm* gradient_comm(const strata_comm* replicas) override {
    if (comm_ != nullptr) return comm_;
    nccl_ = NcclModule::load();
    char error[512] = {};
    comm_ = nccl_.create(replicas, device_, error, sizeof error);
    if (comm_ == nullptr)
      throw std::runtime_error("making the NCCL communicator for data parallelism on " + name_ + ": " +
                               (error[0] != 0 ? error : "no reason given"));
    return comm_;
  }
  strata_buffer gradients() override {
    return {model_.device_grads(), static_cast<uint64_t>(model_.layout().total_count()), STRATA_DTYPE_F32,
            STRATA_DEVICE_CUDA, static_cast<uint16_t>(device_)};
  }
  void set_gradient_hook(std::function<void(int64_t)> hook) override {
    hook_ = std::move(hook);
    if (!hook_) {
      model_.set_grad_ready_hook(nullptr);
      return;
    }
    model_.set_grad_ready_hook([this](int64_t layer, CUevent_st* ready) {
      order_comm_after(ready);
      const int64_t from = model_.layout().block_range(layer).begin;
      if (from > 0) hook_(from);  // 0 is announced once, at the end of backward()
    });
  }

 private:
  // What the communicator queues from now on runs after `event` on the device.
  void order_comm_after(cudaEvent_t event) {
    if (comm_ == nullptr) return;
    if (const int rc = nccl_.order_after(comm_, event); rc != 0)
      throw std::runtime_error(std::string("ordering the NCCL stream after the backward: ") +
                               cudaGetErrorString(static_cast<cudaError_t>(rc)));
  }

  CudaGptModel model_;
  int device_;
  std::string name_;
  NcclModule nccl_;
  strata_comm* comm_ = nullptr;
  cudaEvent_t backward_done_ = nullptr;
  std::function<void(int64_t)> hook_;
};

}  // namespace

std::unique_ptr<DeviceTrainer> make_cuda_trainer(const GptConfig& config, int64_t max_batch, int64_t max_seq,
                                                 const DeviceAdamW& adamw, int local_rank) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0)
    throw std::runtime_error(std::string("model.device is \"cuda\" but this machine has no usable CUDA device (") +
                             (err != cudaSuccess ? cudaGetErrorString(err) : "none found") +
                             "); train on \"cpu\" or run where a GPU is present");
  // One device per rank on a node: local rank r takes device r (modulo what is visible).
  const int device = (local_rank < 0 ? 0 : local_rank) % count;
  cudaDeviceProp prop{};
  if (cudaSetDevice(device) != cudaSuccess || cudaGetDeviceProperties(&prop, device) != cudaSuccess)
    throw std::runtime_error("could not select CUDA device " + std::to_string(device));
  char name[320];
  std::snprintf(name, sizeof name, "cuda:%d %s (sm_%d%d, %.1f GiB)", device, prop.name, prop.major, prop.minor,
                static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  return std::make_unique<CudaTrainer>(config, max_batch, max_seq, adamw, device, name);
}

}  // namespace strata::engine::cuda
