// LayerNorm over the last dimension on the GPU: eps = 1e-5, biased variance (PyTorch).
#pragma once

#include "kernels/cuda/types.h"

namespace strata::kernels::cuda {

// out[n,:] = bf16((inp[n,:] - mean_n) * rstd_n * weight + bias), statistics in fp32
// (two passes over the row: mean, then variance). One warp per row.
//   out, inp [N,C] bf16; weight, bias [C] bf16; mean, rstd [N] fp32 WRITTEN (saved).
void layernorm_forward(Stream stream, bf16* out, float* mean, float* rstd, const bf16* inp, const bf16* weight,
                       const bf16* bias, index_t N, index_t C);

// fp32 elements of scratch that layernorm_backward needs for N rows of C channels.
index_t layernorm_backward_scratch_floats(index_t N, index_t C);

// ACCUMULATES: dinp [N,C] bf16 += (read, added in fp32, rounded once); dweight, dbias [C]
// fp32 += (deterministic: fixed row chunks summed in order, see colsum.cuh).
// dinp must not alias dout or inp. scratch: layernorm_backward_scratch_floats(N, C).
void layernorm_backward(Stream stream, bf16* dinp, float* dweight, float* dbias, const bf16* dout, const bf16* inp,
                        const bf16* weight, const float* mean, const float* rstd, index_t N, index_t C,
                        float* scratch);

}  // namespace strata::kernels::cuda
