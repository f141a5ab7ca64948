#include "kernels/cuda/colsum.cuh"

#include "kernels/cuda/common.cuh"

namespace strata::kernels::cuda::detail {
namespace {

__global__ void sum_partials_kernel(const float* partials, index_t chunks, index_t stride, index_t width,
                                    float* out) {
  const index_t j = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= width) return;
  // One accumulator, chunks in order (the same bits as a plain loop); the unrolling lets
  // the loads of 8 chunks be in flight together instead of one L2 round trip per chunk.
  float s = 0.0f;
#pragma unroll 8
  for (index_t c = 0; c < chunks; ++c) s += partials[c * stride + j];
  out[j] += s;
}

}  // namespace

void launch_sum_partials(const float* partials, index_t chunks, index_t stride, index_t width, float* out,
                         cudaStream_t stream) {
  if (width <= 0) return;
  sum_partials_kernel<<<blocks_for(width, 256), 256, 0, stream>>>(partials, chunks, stride, width, out);
  STRATA_CUDA_CHECK_LAUNCH("sum_partials_kernel");
}

}  // namespace strata::kernels::cuda::detail
