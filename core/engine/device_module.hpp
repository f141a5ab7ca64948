// Device trainers come from modules the host loads only when a run asks for that device,
// so the strata binary needs no CUDA library to start (and a CPU run pays nothing for the
// GPU code: loading cuBLAS alone costs about 160 MB of resident memory).
//
// The CUDA module is <bin>/../<libdir>/strata/libstrata_engine_cuda.so (built when CMake
// finds nvcc); it exports strata_cuda_trainer_create_v2 (core/engine/cuda/trainer_module.cpp).
#pragma once

#include "core/engine/device_trainer.hpp"

namespace strata::engine {

// A factory that loads the CUDA module at its first call and builds trainers from it. Its
// calls throw std::runtime_error naming the module when it is missing (a build without
// CUDA) or cannot be loaded, and pass on the module's own errors (no device, no memory).
DeviceTrainerFactory cuda_trainer_from_module();

}  // namespace strata::engine
