// A GPT and its optimizer living on an accelerator, as `strata run` drives it when
// `model.device` is not "cpu". The host keeps a CPU GptModel<float> and AdamW<float> with the
// same ParameterLayout as the mirror it initialises from, checkpoints from and evaluates
// explainers, fairness and samples on; the trainer holds the working copy and does the steps.
//
// core never includes a device's headers: a device build (core/engine/cuda/cuda_trainer.hpp)
// implements this interface and the CLI hands its factory to the runner (RunOptions).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/engine/gpt/gpt_config.hpp"
#include "strata/abi/comm.h"

namespace strata::engine {

struct DeviceAdamW {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
};

class DeviceTrainer {
 public:
  virtual ~DeviceTrainer() = default;
  // "cuda:0 NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)"
  virtual std::string describe() const = 0;
  // "bf16 compute, fp32 master weights and AdamW state"
  virtual std::string precision() const = 0;
  // Parameters and AdamW moments, flat in ParameterLayout(config) (fp32), and the AdamW
  // step count: to the device, and back (get_state waits for queued work).
  virtual void set_state(const float* params, const float* m, const float* v, int64_t step) = 0;
  virtual void get_state(float* params, float* m, float* v, int64_t* step) = 0;
  virtual void zero_grads() = 0;
  // As GptModel::forward / backward (mean cross-entropy; gradients accumulate).
  virtual double forward(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t S) = 0;
  virtual void backward(double loss_scale) = 0;
  // Clips the gradient to max_grad_norm (<= 0: no clipping) and takes one AdamW step.
  virtual void step(double lr, double max_grad_norm) = 0;
  virtual uint64_t peak_device_bytes() const = 0;

  // Data parallelism over several devices, one per rank. The runner hands each bucket of
  // gradients() to the aggregation plugin, over gradient_comm(), as the backward completes it.
  //
  // The communicator gradients travel on, made collectively (every replica calls it) over
  // `replicas`, the host communicator of the data-parallel group, which bootstraps it (for
  // CUDA: NCCL, whose unique id the group broadcasts). Owned by the trainer, made once.
  // Throws std::runtime_error saying what is missing.
  virtual const strata_comm* gradient_comm(const strata_comm* replicas) = 0;
  // The flat gradient buffer (fp32, ParameterLayout order), where the aggregators find it.
  virtual strata_buffer gradients() = 0;
  // As GptModel::set_gradient_hook: backward() calls it with the flat offset from which every
  // gradient is final, after each block and once with 0 at the end. By then the gradient
  // communicator is ordered after the work that wrote them (on a GPU: its stream waits for
  // an event, so the all-reduce of a bucket overlaps the rest of the backward). Empty: none.
  virtual void set_gradient_hook(std::function<void(int64_t complete_from)> hook) = 0;
};

// Builds a trainer for (config, max_batch, max_seq) on the device numbered `local_rank`
// modulo the devices this process sees (ranks on one node take one device each); throws
// std::runtime_error saying what is missing (no device, out of memory).
using DeviceTrainerFactory = std::function<std::unique_ptr<DeviceTrainer>(
    const GptConfig& config, int64_t max_batch, int64_t max_seq, const DeviceAdamW& adamw, int local_rank)>;

}  // namespace strata::engine
