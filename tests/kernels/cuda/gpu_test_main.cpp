// main() of every GPU test binary. Without a usable CUDA device (CI has nvcc but no GPU)
// it prints "SKIPPED: no CUDA device (<reason>)" and returns kSkipCode, which CMake
// registers as the test's SKIP_RETURN_CODE; otherwise it prints the device and runs gtest.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstdio>

namespace {
constexpr int kSkipCode = 77;
}

int main(int argc, char** argv) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    std::printf("SKIPPED: no CUDA device (%s)\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount found 0 devices");
    return kSkipCode;
  }
  cudaDeviceProp prop{};
  int driver = 0, runtime = 0;
  cudaGetDeviceProperties(&prop, 0);
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  std::printf("device 0: %s, compute capability %d.%d, %d SMs, %.1f GiB; driver %d, runtime %d\n", prop.name,
              prop.major, prop.minor, prop.multiProcessorCount,
              static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0), driver, runtime);
  std::fflush(stdout);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
