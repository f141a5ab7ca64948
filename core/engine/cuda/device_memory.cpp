#include "core/engine/cuda/device_memory.hpp"

#include <cuda_runtime_api.h>

#include <stdexcept>

namespace strata::engine::cuda {

void* DeviceAllocator::allocate(std::size_t bytes, const std::string& what) {
  void* p = nullptr;
  // cudaMalloc(0) may return null; a 1-byte floor keeps every buffer a distinct address.
  const cudaError_t e = cudaMalloc(&p, bytes == 0 ? 1 : bytes);
  if (e != cudaSuccess) {
    std::size_t free_b = 0, total_b = 0;
    cudaGetLastError();  // clear the sticky-free error state of a failed allocation
    cudaMemGetInfo(&free_b, &total_b);
    throw std::runtime_error("cudaMalloc(" + std::to_string(bytes) + " bytes) for " + what +
                             " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + "); this model holds " +
                             std::to_string(current_) + " bytes, the device has " + std::to_string(free_b) +
                             " of " + std::to_string(total_b) + " bytes free");
  }
  current_ += bytes;
  if (current_ > peak_) peak_ = current_;
  return p;
}

void DeviceAllocator::release(void* p, std::size_t bytes) noexcept {
  if (p == nullptr) return;
  cudaFree(p);  // errors here cannot be reported from a destructor path
  current_ -= bytes;
}

}  // namespace strata::engine::cuda
