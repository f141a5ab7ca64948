// AdamW over one flat fp32 master-weight buffer, and global gradient-norm clipping, on the
// GPU. Semantics as kernels/cpu/adamw.h (torch.optim.AdamW, torch clip_grad_norm_); the
// fp32 element math is the CPU kernel's, so results agree to float rounding.
#pragma once

#include <cstddef>

#include "kernels/cuda/types.h"

namespace strata::kernels::cuda {

// Per-step scalars, formed on the host in double and rounded to float once (as torch
// passes Python floats into its float kernels). make_adamw_scalars(lr, b1, b2, eps, wd,
// step) with step >= 1 (throws std::invalid_argument otherwise).
struct AdamWScalars {
  float decay;          // 1 - lr*wd (applied only when the segment is decayed)
  float lerp_weight;    // 1 - beta1
  float beta2;
  float one_minus_b2;
  float bc2_sqrt;       // sqrt(1 - beta2^step)
  float neg_step_size;  // -lr / (1 - beta1^step)
  float eps;
};
AdamWScalars make_adamw_scalars(double lr, double beta1, double beta2, double eps, double weight_decay,
                                index_t step);

// One AdamW step over elements [0, n) of param (fp32 master), m, v (fp32), reading grad
// (fp32) multiplied by *grad_scale when grad_scale (a DEVICE pointer, e.g. the clipping
// coefficient) is non-null. Writes param, m, v and, when param_bf16 is non-null, the bf16
// working copy bf16(param). `decayed` says whether weight decay applies to this range (the
// caller launches once per decay / no-decay segment of the layout).
void adamw_update(Stream stream, float* param, bf16* param_bf16, const float* grad, float* m, float* v, index_t n,
                  const AdamWScalars& s, bool decayed, const float* grad_scale);

// Partial sums of squares (double) written by grad_norm_squared: fixed count, independent
// of the GPU, so the reduction order (and the result) is the same everywhere.
inline constexpr int kGradNormBlocks = 1024;

// *norm_squared = sum g^2 over [0, n), in double, deterministic two-pass reduction.
// partials: kGradNormBlocks doubles of device scratch.
void grad_norm_squared(Stream stream, double* norm_squared, const float* grad, index_t n, double* partials);

// From *norm_squared: *norm = sqrt(..) and *coef = the factor clip_grad_norm_ applies:
// max_norm / (norm + 1e-6) when that is < 1 or NaN (torch applies a NaN coefficient),
// else 1. All device pointers; one thread, so no host round trip is needed.
void clip_coefficient(Stream stream, float* coef, double* norm, const double* norm_squared, double max_norm);

// grad[i] *= *coef (device scalar).
void scale_by(Stream stream, float* grad, index_t n, const float* coef);

// torch.nn.utils.clip_grad_norm_ in place: the three launches above plus scale_by; the
// norm before clipping lands in *norm (device). scratch: kGradNormBlocks + 2 doubles + 1
// float, i.e. clip_grad_norm_scratch_bytes().
std::size_t clip_grad_norm_scratch_bytes();
void clip_grad_norm(Stream stream, float* grad, index_t n, double max_norm, double* norm, void* scratch);

}  // namespace strata::kernels::cuda
