#include "kernels/cuda/gelu.h"

#include "kernels/cuda/common.cuh"

namespace strata::kernels::cuda {
using namespace detail;
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;

__global__ void gelu_forward_kernel(bf* out, const bf* inp, index_t n) {
  const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float x = ld(inp + i);
  st(out + i, 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + kCubic * x * x * x))));
}

// d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2), t = tanh(...).
__global__ void gelu_backward_kernel(bf* dinp, const bf* inp, const bf* dout, index_t n) {
  const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float x = ld(inp + i);
  const float t = tanhf(kSqrt2OverPi * (x + kCubic * x * x * x));
  const float grad = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kCubic * x * x);
  st(dinp + i, grad * ld(dout + i));
}

}  // namespace

void gelu_forward(Stream stream, bf16* out, const bf16* inp, index_t n) {
  if (n == 0) return;
  gelu_forward_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(dev(out), dev(inp), n);
  STRATA_CUDA_CHECK_LAUNCH("gelu_forward_kernel");
}

void gelu_backward(Stream stream, bf16* dinp, const bf16* inp, const bf16* dout, index_t n) {
  if (n == 0) return;
  gelu_backward_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(dev(dinp), dev(inp), dev(dout), n);
  STRATA_CUDA_CHECK_LAUNCH("gelu_backward_kernel");
}

}  // namespace strata::kernels::cuda
