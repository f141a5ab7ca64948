// Fused softmax + cross-entropy over the tied LM head's logits [N,V] (bf16, row stride
// ldv >= V, so rows can be padded for aligned GEMMs), int32 targets, -1 = ignore. Same
// semantics as kernels/cpu/crossentropy.h; the math is fp32 (exp-sums over a row are
// block tree reductions, which are accurate to ~1e-6 relative at V = 50257).
#pragma once

#include "kernels/cuda/types.h"

namespace strata::kernels::cuda {

// losses[n] = lse_n - logits[n, targets[n]] and lse[n] = logsumexp(logits[n,:]), fp32,
// WRITTEN (both 0 for an ignored row). One block per row, max-subtracted. Targets must be
// in [-1, V): the caller validates them (a kernel cannot throw).
void crossentropy_forward(Stream stream, float* losses, float* lse, const bf16* logits, const token_t* targets,
                          index_t N, index_t V, index_t ldv);

// *mean = inv_count * sum(losses[0..N)), in double, one block, fixed order: deterministic.
// Pass inv_count = 1 / (non-ignored rows), or NaN when every row is ignored (as torch).
void crossentropy_mean(Stream stream, double* mean, const float* losses, index_t N, double inv_count);

// dlogits[n,:] = bf16((softmax(logits[n,:]) - onehot(targets[n])) * dloss_scale), WRITTEN,
// 0 for ignored rows; columns [V, ldv) are not read, and not written except those in the
// last 8-column chunk of a row, which the 16-byte path (ldv % 8 == 0) writes as 0. dlogits
// may be the very same pointer as logits (in place, as llm.c: saves an [N,V] buffer); no partial overlap.
void crossentropy_backward(Stream stream, bf16* dlogits, const bf16* logits, const float* lse,
                           const token_t* targets, float dloss_scale, index_t N, index_t V, index_t ldv);

}  // namespace strata::kernels::cuda
