// The one function a device module exports (core/engine/device_module.hpp loads it). The
// module is built from this tree with the same compiler as the host, so the C++ types in
// the signature are shared; nothing throws across it: on failure it returns null and writes
// the reason into `error`.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/engine/device_trainer.hpp"

namespace strata::engine {

using StrataCudaTrainerCreate = DeviceTrainer* (*)(const GptConfig* config, int64_t max_batch, int64_t max_seq,
                                                   const DeviceAdamW* adamw, int local_rank, char* error,
                                                   size_t error_size);
// Versioned by name: a module built before local_rank existed has no such symbol, and the
// host says so instead of calling it with the wrong arguments.
inline constexpr const char* kStrataCudaTrainerCreateSymbol = "strata_cuda_trainer_create_v2";

}  // namespace strata::engine
