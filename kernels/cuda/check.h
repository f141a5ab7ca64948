// Error checks for every CUDA runtime call, cuBLAS call and kernel launch (internal: needs
// the CUDA headers; included by the .cu/.cpp files that make those calls, never by the
// public launcher headers). A failure throws std::runtime_error naming the call, the
// error, the file and the line, so one log line is enough to find it.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace strata::kernels::cuda::detail {

[[noreturn]] inline void throw_cuda_error(const char* what, cudaError_t e, const char* file, int line) {
  throw std::runtime_error(std::string(what) + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) +
                           ") at " + file + ":" + std::to_string(line));
}

[[noreturn]] inline void throw_cublas_error(const char* what, cublasStatus_t s, const char* file, int line) {
  throw std::runtime_error(std::string(what) + " failed: " + cublasGetStatusName(s) + " (" +
                           cublasGetStatusString(s) + ") at " + file + ":" + std::to_string(line));
}

}  // namespace strata::kernels::cuda::detail

#define STRATA_CUDA_CHECK(call)                                                             \
  do {                                                                                      \
    const cudaError_t strata_err_ = (call);                                                 \
    if (strata_err_ != cudaSuccess)                                                         \
      ::strata::kernels::cuda::detail::throw_cuda_error(#call, strata_err_, __FILE__, __LINE__); \
  } while (0)

#define STRATA_CUBLAS_CHECK(call)                                                               \
  do {                                                                                          \
    const cublasStatus_t strata_st_ = (call);                                                   \
    if (strata_st_ != CUBLAS_STATUS_SUCCESS)                                                    \
      ::strata::kernels::cuda::detail::throw_cublas_error(#call, strata_st_, __FILE__, __LINE__); \
  } while (0)

// After every <<<...>>>: catches bad launch configurations at once (execution faults
// surface at the next synchronising call, which is checked too). `name` is the kernel.
#define STRATA_CUDA_CHECK_LAUNCH(name)                                                       \
  do {                                                                                       \
    const cudaError_t strata_err_ = cudaGetLastError();                                      \
    if (strata_err_ != cudaSuccess)                                                          \
      ::strata::kernels::cuda::detail::throw_cuda_error("launch of " name, strata_err_, __FILE__, __LINE__); \
  } while (0)
