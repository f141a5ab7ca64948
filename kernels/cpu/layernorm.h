// LayerNorm over the last dimension, eps = 1e-5, biased variance (as PyTorch).
// Instantiated for T = float and T = double only.
#pragma once

#include "kernels/cpu/types.h"

namespace strata::kernels::cpu {

inline constexpr double kLayerNormEps = 1e-5;

// out[n,:] = (inp[n,:] - mean_n) * rstd_n * weight + bias, for N = B*S rows.
//   out, inp [N,C]; weight, bias [C]
//   mean, rstd [N]: saved for the backward (row statistics are accumulated in
//   double, then rounded to T; the forward uses the rounded values so the
//   backward recomputes exactly the same normalised activations).
template <class T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* weight,
                       const T* bias, index_t N, index_t C);

// Accumulates (+=) into dinp [N,C], dweight [C], dbias [C].
template <class T>
void layernorm_backward(T* dinp, T* dweight, T* dbias, const T* dout,
                        const T* inp, const T* weight, const T* mean,
                        const T* rstd, index_t N, index_t C);

}  // namespace strata::kernels::cpu
