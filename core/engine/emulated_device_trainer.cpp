#include "core/engine/emulated_device_trainer.hpp"

#include <algorithm>
#include <string>

#include "core/engine/gpt/gpt_model.hpp"
#include "core/engine/gpt/optimizer.hpp"
#include "kernels/cpu/adamw.h"

namespace strata::engine {
namespace {

class EmulatedDeviceTrainer final : public DeviceTrainer {
 public:
  EmulatedDeviceTrainer(const GptConfig& config, int64_t max_batch, int64_t max_seq, const DeviceAdamW& a,
                        int local_rank)
      : model_(config, max_batch, max_seq),
        optimizer_(model_.layout(), a.beta1, a.beta2, a.eps, a.weight_decay),
        local_rank_(local_rank) {}

  std::string describe() const override {
    return "an emulated device (local rank " + std::to_string(local_rank_) +
           ") on the CPU, fp32 (STRATA_EMULATE_DEVICE=1)";
  }
  std::string precision() const override { return "fp32 throughout (the CPU engine)"; }
  void set_state(const float* params, const float* m, const float* v, int64_t step) override {
    const int64_t n = model_.layout().total_count();
    std::copy_n(params, n, model_.params());
    std::copy_n(m, n, optimizer_.m());
    std::copy_n(v, n, optimizer_.v());
    optimizer_.set_step_count(step);
  }
  void get_state(float* params, float* m, float* v, int64_t* step) override {
    const int64_t n = model_.layout().total_count();
    std::copy_n(model_.params(), n, params);
    std::copy_n(optimizer_.m(), n, m);
    std::copy_n(optimizer_.v(), n, v);
    *step = optimizer_.step_count();
  }
  void zero_grads() override { model_.zero_grads(); }
  double forward(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t S) override {
    return model_.forward(tokens, targets, B, S);
  }
  void backward(double loss_scale) override { model_.backward(loss_scale); }
  void step(double lr, double max_grad_norm) override {
    if (max_grad_norm > 0) kernels::cpu::clip_grad_norm(model_.grads(), model_.layout().total_count(), max_grad_norm);
    optimizer_.step(model_.params(), model_.grads(), lr);
  }
  uint64_t peak_device_bytes() const override { return 0; }

  // Host buffers: the replicas' own (MPI) communicator reduces them.
  const strata_comm* gradient_comm(const strata_comm* replicas) override { return replicas; }
  strata_buffer gradients() override {
    return {model_.grads(), static_cast<uint64_t>(model_.layout().total_count()), STRATA_DTYPE_F32,
            STRATA_DEVICE_CPU, 0};
  }
  void set_gradient_hook(std::function<void(int64_t)> hook) override { model_.set_gradient_hook(std::move(hook)); }

 private:
  GptModel<float> model_;
  AdamW<float> optimizer_;
  int local_rank_;
};

}  // namespace

std::unique_ptr<DeviceTrainer> make_emulated_device_trainer(const GptConfig& config, int64_t max_batch,
                                                            int64_t max_seq, const DeviceAdamW& adamw,
                                                            int local_rank) {
  return std::make_unique<EmulatedDeviceTrainer>(config, max_batch, max_seq, adamw, local_rank);
}

}  // namespace strata::engine
