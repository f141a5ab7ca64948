#include "core/engine/cuda/cuda_trainer.hpp"

#include <cuda_runtime.h>

#include <cstdio>
#include <stdexcept>
#include <string>

#include "core/engine/cuda/cuda_gpt_model.hpp"

namespace strata::engine::cuda {
namespace {

class CudaTrainer final : public DeviceTrainer {
 public:
  CudaTrainer(const GptConfig& config, int64_t max_batch, int64_t max_seq, const DeviceAdamW& a, std::string name)
      : model_(config, max_batch, max_seq, CudaAdamWSettings{a.beta1, a.beta2, a.eps, a.weight_decay}),
        name_(std::move(name)) {}

  std::string describe() const override { return name_; }
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
  void backward(double loss_scale) override { model_.backward(loss_scale); }
  void step(double lr, double max_grad_norm) override { model_.step(lr, max_grad_norm); }
  uint64_t peak_device_bytes() const override { return model_.peak_device_bytes(); }

 private:
  CudaGptModel model_;
  std::string name_;
};

}  // namespace

std::unique_ptr<DeviceTrainer> make_cuda_trainer(const GptConfig& config, int64_t max_batch, int64_t max_seq,
                                                 const DeviceAdamW& adamw) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0)
    throw std::runtime_error(std::string("model.device is \"cuda\" but this machine has no usable CUDA device (") +
                             (err != cudaSuccess ? cudaGetErrorString(err) : "none found") +
                             "); train on \"cpu\" or run where a GPU is present");
  int device = 0;
  cudaDeviceProp prop{};
  if (cudaGetDevice(&device) != cudaSuccess || cudaGetDeviceProperties(&prop, device) != cudaSuccess)
    throw std::runtime_error("could not query the current CUDA device");
  char name[320];
  std::snprintf(name, sizeof name, "cuda:%d %s (sm_%d%d, %.1f GiB)", device, prop.name, prop.major, prop.minor,
                static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  return std::make_unique<CudaTrainer>(config, max_batch, max_seq, adamw, name);
}

}  // namespace strata::engine::cuda
