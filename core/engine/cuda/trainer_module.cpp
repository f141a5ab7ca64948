// libstrata_engine_cuda.so: the CUDA DeviceTrainer behind the module boundary of
// core/engine/device_module_abi.hpp. Exceptions stop here and become a message.
#include <cstdio>
#include <exception>

#include "core/engine/cuda/cuda_trainer.hpp"
#include "core/engine/device_module_abi.hpp"

extern "C" __attribute__((visibility("default"))) strata::engine::DeviceTrainer* strata_cuda_trainer_create_v2(
    const strata::engine::GptConfig* config, int64_t max_batch, int64_t max_seq,
    const strata::engine::DeviceAdamW* adamw, int local_rank, char* error, size_t error_size) {
  try {
    return strata::engine::cuda::make_cuda_trainer(*config, max_batch, max_seq, *adamw, local_rank).release();
  } catch (const std::exception& e) {
    std::snprintf(error, error_size, "%s", e.what());
  } catch (...) {
    std::snprintf(error, error_size, "unknown error in the CUDA engine");
  }
  return nullptr;
}
