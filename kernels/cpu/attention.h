// Causal multi-head self-attention, GPT-2 layout (as llm.c):
//   qkv [B,S,3C]: q = channels [0,C), k = [C,2C), v = [2C,3C); inside each,
//   head h owns channels [h*HS, (h+1)*HS) with HS = C/NH.
//   out [B,S,C]: heads concatenated the same way. Scores are scaled by
//   1/sqrt(HS); query s attends to keys 0..s.
//
// Memory: the forward keeps only lse [B,NH,S] (log-sum-exp of each score row).
// The backward recomputes the probabilities from q, k and lse, a block of
// query rows at a time, in caller-provided scratch: no [S,S] matrix per head
// survives the forward (FlashAttention-style). Work is parallel over (b,h).
// Instantiated for T = float and T = double only.
#pragma once

#include "kernels/cpu/types.h"

namespace strata::kernels::cpu {

struct AttentionShape {
  index_t B = 0;   // batch
  index_t S = 0;   // sequence length
  index_t C = 0;   // channels (= NH * HS)
  index_t NH = 0;  // heads
  index_t head_size() const { return C / NH; }
};

// Query rows processed together: their score rows live in scratch while the
// k/v rows they share are reused from cache.
inline constexpr index_t kAttentionQueryBlock = 16;

// Elements of T (not bytes) of scratch that attention_forward/_backward need
// when run with n_threads threads: per thread 2*(HS + kAttentionQueryBlock)
// rows of ~S+16 elements (K^T and V^T of one head plus two query blocks of
// probabilities / their gradient): O(S*HS), never O(S^2). Allocate it once
// per shape; the kernels themselves never allocate.
index_t attention_scratch_elems(const AttentionShape& shape, int n_threads);

// out [B,S,C] written; lse [B,NH,S] written (saved for the backward).
// probs_out: null, or [B,NH,S,S] to capture the attention probabilities
// (explainability; rows sum to 1, entries above the diagonal are written 0).
// scratch: attention_scratch_elems(shape, n_threads) elements. The kernel runs
// at most n_threads OpenMP threads. Throws std::invalid_argument on a bad
// shape (C not divisible by NH) or n_threads < 1.
template <class T>
void attention_forward(T* out, T* lse, T* probs_out, const T* qkv,
                       const AttentionShape& shape, T* scratch, int n_threads);

// dqkv [B,S,3C] accumulated (+=), or written with InputGrad::kWrite (each head
// clears its own dk and dv slices on its own thread and writes its dq rows, so
// the caller need not zero-fill dqkv). dout [B,S,C]; qkv and lse as given to
// and produced by the forward. dprobs_out: null, or [B,NH,S,S] receiving
// dL/dprobs (written; = dout_s · v_j for j <= s, and 0 above the diagonal,
// where the probabilities are structurally zero -- a dense PyTorch reference
// would report dout_s · v_j there too).
template <class T>
void attention_backward(T* dqkv, T* dprobs_out, const T* dout, const T* qkv,
                        const T* lse, const AttentionShape& shape, T* scratch,
                        int n_threads,
                        InputGrad dqkv_mode = InputGrad::kAccumulate);

}  // namespace strata::kernels::cpu
