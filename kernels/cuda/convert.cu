#include "kernels/cuda/convert.h"

#include "kernels/cuda/common.cuh"

namespace strata::kernels::cuda {
using namespace detail;
namespace {

__global__ void to_bf16_kernel(bf* out, const float* in, index_t n) {
  const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) st(out + i, in[i]);
}

__global__ void to_float_kernel(float* out, const bf* in, index_t n) {
  const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = ld(in + i);
}

__global__ void fill_bf16_kernel(bf* p, float value, index_t n) {
  const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) st(p + i, value);
}

}  // namespace

void convert_to_bf16(Stream stream, bf16* out, const float* in, index_t n) {
  if (n == 0) return;
  to_bf16_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(dev(out), in, n);
  STRATA_CUDA_CHECK_LAUNCH("to_bf16_kernel");
}

void convert_to_float(Stream stream, float* out, const bf16* in, index_t n) {
  if (n == 0) return;
  to_float_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(out, dev(in), n);
  STRATA_CUDA_CHECK_LAUNCH("to_float_kernel");
}

void fill_bf16(Stream stream, bf16* p, float value, index_t n) {
  if (n == 0) return;
  fill_bf16_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(dev(p), value, n);
  STRATA_CUDA_CHECK_LAUNCH("fill_bf16_kernel");
}

}  // namespace strata::kernels::cuda
