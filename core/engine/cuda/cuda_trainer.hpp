// The CUDA DeviceTrainer (core/engine/device_trainer.hpp) over CudaGptModel: what `strata run`
// uses for `model.device = "cuda"`. Plain C++ header.
#pragma once

#include <memory>

#include "core/engine/device_trainer.hpp"

namespace strata::engine::cuda {

// On device local_rank modulo the visible devices. Data parallelism (gradient_comm) loads
// the NCCL backend, lib/strata/libstrata_comm_nccl.so, beside this module, on first use.
// Throws std::runtime_error when the process sees no CUDA device (naming what the runtime
// said) or the model does not fit its memory.
std::unique_ptr<DeviceTrainer> make_cuda_trainer(const GptConfig& config, int64_t max_batch, int64_t max_seq,
                                                 const DeviceAdamW& adamw, int local_rank);

}  // namespace strata::engine::cuda
