#include "kernels/cuda/adamw.h"

#include <cmath>
#include <stdexcept>

#include "kernels/cuda/common.cuh"

namespace strata::kernels::cuda {
using namespace detail;
namespace {

template <bool Decayed, bool SmallWeight>
__global__ void adamw_kernel(float* param, bf* param_bf16, const float* grad, float* m, float* v, index_t n,
                             AdamWScalars s, const float* grad_scale) {
  const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = grad_scale != nullptr ? grad[i] * *grad_scale : grad[i];
  float p = param[i];
  if (Decayed) p = p * s.decay;
  // torch's lerp picks its form by |w| < 0.5 (see kernels/cpu/adamw.cpp).
  const float w = s.lerp_weight;
  const float mi = SmallWeight ? m[i] + w * (g - m[i]) : g - (g - m[i]) * (1.0f - w);
  const float vi = v[i] * s.beta2 + s.one_minus_b2 * g * g;
  const float denom = sqrtf(vi) / s.bc2_sqrt + s.eps;
  p = p + s.neg_step_size * mi / denom;
  m[i] = mi;
  v[i] = vi;
  param[i] = p;
  if (param_bf16 != nullptr) st(param_bf16 + i, p);
}

constexpr int kNormThreads = 256;

__global__ void norm_partial_kernel(double* partials, const float* grad, index_t n) {
  __shared__ double scratch[32];
  double s = 0.0;
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const double g = grad[i];
    s += g * g;
  }
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

__global__ void norm_finish_kernel(double* out, const double* partials, int count) {
  double s = 0.0;
  for (int i = 0; i < count; ++i) s += partials[i];
  *out = s;
}

__global__ void clip_coefficient_kernel(float* coef, double* norm, const double* norm_squared, double max_norm) {
  const double nrm = sqrt(*norm_squared);
  const double c = max_norm / (nrm + 1e-6);
  *norm = nrm;
  *coef = !(c >= 1.0) ? static_cast<float>(c) : 1.0f;  // negated: a NaN coef is applied
}

__global__ void scale_kernel(float* grad, index_t n, const float* coef) {
  const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) grad[i] *= *coef;
}

}  // namespace

AdamWScalars make_adamw_scalars(double lr, double beta1, double beta2, double eps, double weight_decay,
                                index_t step) {
  if (step < 1) throw std::invalid_argument("adamw: step is 1-based");
  const double t = static_cast<double>(step);
  const double bc1 = 1.0 - std::pow(beta1, t);
  const double bc2 = 1.0 - std::pow(beta2, t);
  return {static_cast<float>(1.0 - lr * weight_decay),
          static_cast<float>(1.0 - beta1),
          static_cast<float>(beta2),
          static_cast<float>(1.0 - beta2),
          static_cast<float>(std::sqrt(bc2)),
          static_cast<float>(-(lr / bc1)),
          static_cast<float>(eps)};
}

void adamw_update(Stream stream, float* param, bf16* param_bf16, const float* grad, float* m, float* v, index_t n,
                  const AdamWScalars& s, bool decayed, const float* grad_scale) {
  if (n == 0) return;
  const bool small = std::fabs(s.lerp_weight) < 0.5f;
  const unsigned int blocks = blocks_for(n, 256);
  bf* pb = param_bf16 != nullptr ? dev(param_bf16) : nullptr;
  if (decayed && small)
    adamw_kernel<true, true><<<blocks, 256, 0, stream>>>(param, pb, grad, m, v, n, s, grad_scale);
  else if (decayed)
    adamw_kernel<true, false><<<blocks, 256, 0, stream>>>(param, pb, grad, m, v, n, s, grad_scale);
  else if (small)
    adamw_kernel<false, true><<<blocks, 256, 0, stream>>>(param, pb, grad, m, v, n, s, grad_scale);
  else
    adamw_kernel<false, false><<<blocks, 256, 0, stream>>>(param, pb, grad, m, v, n, s, grad_scale);
  STRATA_CUDA_CHECK_LAUNCH("adamw_kernel");
}

void grad_norm_squared(Stream stream, double* norm_squared, const float* grad, index_t n, double* partials) {
  norm_partial_kernel<<<kGradNormBlocks, kNormThreads, 0, stream>>>(partials, grad, n);
  STRATA_CUDA_CHECK_LAUNCH("norm_partial_kernel");
  norm_finish_kernel<<<1, 1, 0, stream>>>(norm_squared, partials, kGradNormBlocks);
  STRATA_CUDA_CHECK_LAUNCH("norm_finish_kernel");
}

void clip_coefficient(Stream stream, float* coef, double* norm, const double* norm_squared, double max_norm) {
  clip_coefficient_kernel<<<1, 1, 0, stream>>>(coef, norm, norm_squared, max_norm);
  STRATA_CUDA_CHECK_LAUNCH("clip_coefficient_kernel");
}

void scale_by(Stream stream, float* grad, index_t n, const float* coef) {
  if (n == 0) return;
  scale_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(grad, n, coef);
  STRATA_CUDA_CHECK_LAUNCH("scale_kernel");
}

std::size_t clip_grad_norm_scratch_bytes() { return (kGradNormBlocks + 2) * sizeof(double) + sizeof(float); }

void clip_grad_norm(Stream stream, float* grad, index_t n, double max_norm, double* norm, void* scratch) {
  double* partials = static_cast<double*>(scratch);
  double* norm_squared = partials + kGradNormBlocks;
  float* coef = reinterpret_cast<float*>(partials + kGradNormBlocks + 1);
  grad_norm_squared(stream, norm_squared, grad, n, partials);
  clip_coefficient(stream, coef, norm, norm_squared, max_norm);
  scale_by(stream, grad, n, coef);
}

}  // namespace strata::kernels::cuda
