#include "kernels/cuda/residual.h"

#include "kernels/cuda/common.cuh"

namespace strata::kernels::cuda {
using namespace detail;
namespace {

__global__ void residual_forward_kernel(bf* out, const bf* a, const bf* b, index_t n) {
  const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) st(out + i, ld(a + i) + ld(b + i));
}

}  // namespace

void residual_forward(Stream stream, bf16* out, const bf16* a, const bf16* b, index_t n) {
  if (n == 0) return;
  residual_forward_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(dev(out), dev(a), dev(b), n);
  STRATA_CUDA_CHECK_LAUNCH("residual_forward_kernel");
}

}  // namespace strata::kernels::cuda
