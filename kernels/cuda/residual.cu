#include "kernels/cuda/residual.h"

#include "kernels/cuda/common.cuh"

namespace strata::kernels::cuda {
using namespace detail;
namespace {

__global__ void residual_forward_kernel(bf* out, const bf* a, const bf* b, index_t n) {
  const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) st(out + i, ld(a + i) + ld(b + i));
}

// Eight elements per thread with 16-byte accesses (n % 8 == 0, aligned pointers).
__global__ void residual_forward_vec_kernel(bf* out, const bf* a, const bf* b, index_t n8) {
  const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n8) return;
  float x[8], y[8];
  ld8(x, a + 8 * i);
  ld8(y, b + 8 * i);
#pragma unroll
  for (int k = 0; k < 8; ++k) x[k] += y[k];
  st8(out + 8 * i, x);
}

}  // namespace

void residual_forward(Stream stream, bf16* out, const bf16* a, const bf16* b, index_t n) {
  if (n == 0) return;
  if (n % 8 == 0 && aligned16(out) && aligned16(a) && aligned16(b))
    residual_forward_vec_kernel<<<blocks_for(n / 8, 256), 256, 0, stream>>>(dev(out), dev(a), dev(b), n / 8);
  else
    residual_forward_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(dev(out), dev(a), dev(b), n);
  STRATA_CUDA_CHECK_LAUNCH("residual_forward_kernel");
}

}  // namespace strata::kernels::cuda
