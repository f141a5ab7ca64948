// Causal multi-head self-attention on the GPU, GPT-2 / llm.c layout (as kernels/cpu):
//   qkv [B,S,3C] bf16: q = channels [0,C), k = [C,2C), v = [2C,3C); head h owns
//   channels [h*HS, (h+1)*HS) of each. out [B,S,C]. Scores scaled by 1/sqrt(HS).
//
// First pass, llm.c's cuBLAS formulation: q, k, v are permuted to [B,NH,S,HS]; QK^T and
// P·V are strided-batched cuBLAS products (bf16 in, fp32 accumulation); a fused kernel
// applies the scale, the causal mask and the softmax (fp32 math) and writes the
// probabilities P [B,NH,S,S] in bf16. P is kept for the backward, so the same buffer is
// the explainers' opt-in capture (rows sum to 1, exact zeros above the diagonal) at no
// extra cost. Memory is O(B·NH·S²) per layer; a tiled FlashAttention kernel that keeps
// only the log-sum-exp (as the CPU kernel does) is future work.
#pragma once

#include <cstddef>

#include "kernels/cuda/blas.h"
#include "kernels/cuda/types.h"

namespace strata::kernels::cuda {

struct AttentionShape {
  index_t B = 0, S = 0, C = 0, NH = 0;
  // Causal row blocks for the batched products (1: whole S x S products). With n blocks of
  // T = ceil(S/n) query rows, block r's products cover key columns [0, (r+1)T) only, so
  // the masked upper-right blocks are neither computed nor stored nor read: (n+1)/(2n) of
  // the S x S work (56% at n = 8). Clamped to [1, S]; the result is the same either way
  // (the skipped terms are exact zeros), only cuBLAS's blocking of the sums can differ.
  index_t causal_blocks = 1;
  index_t head_size() const { return C / NH; }
};

// Bytes of device scratch that attention_forward / attention_backward need (one buffer
// serves both; it holds nothing between calls). Dominated by one fp32 and one bf16
// [B,NH,S,S] matrix.
std::size_t attention_scratch_bytes(const AttentionShape& shape);

// out [B,S,C] bf16 WRITTEN; probs [B,NH,S,S] bf16 WRITTEN (entries above the diagonal 0).
// Throws std::invalid_argument when C is not divisible by NH.
void attention_forward(const Blas& blas, bf16* out, bf16* probs, const bf16* qkv, const AttentionShape& shape,
                       void* scratch);

// dqkv [B,S,3C] bf16 WRITTEN (the CPU kernel accumulates); dout [B,S,C]; qkv and probs
// as given to and produced by the forward.
void attention_backward(const Blas& blas, bf16* dqkv, const bf16* dout, const bf16* qkv, const bf16* probs,
                        const AttentionShape& shape, void* scratch);

}  // namespace strata::kernels::cuda
