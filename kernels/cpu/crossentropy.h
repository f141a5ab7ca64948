// Fused softmax + cross-entropy over logits[N,V] (N = B*S rows) with int32
// targets; target -1 marks a row to ignore (no loss, zero gradient).
// Instantiated for T = float and T = double only.
#pragma once

#include "kernels/cpu/types.h"

namespace strata::kernels::cpu {

inline constexpr token_t kIgnoreTarget = -1;

// losses[n] = logsumexp(logits[n,:]) - logits[n, targets[n]] (0 if ignored).
// lse[n] = logsumexp(logits[n,:]) is saved so the backward needs one pass over
// the (large) logits instead of two; 0 for ignored rows.
// Max-subtracted; the exp-sum is accumulated in double.
// Returns the mean loss over non-ignored rows (deterministic, in double), or
// NaN when every row is ignored (as torch's reduction='mean').
// Throws std::invalid_argument for a target outside [-1, V).
template <class T>
double crossentropy_forward(T* losses, T* lse, const T* logits,
                            const token_t* targets, index_t N, index_t V);

// Rows whose target is not kIgnoreTarget.
index_t crossentropy_count_valid(const token_t* targets, index_t N);

// dlogits[n,:] = (softmax(logits[n,:]) - onehot(targets[n])) * dloss_scale,
// and 0 for ignored rows. WRITTEN, not accumulated: the logits are the end of
// the graph. dlogits may be the very same pointer as logits (in place, as
// llm.c, saving an [N,V] buffer) or a disjoint buffer; partial overlap is not
// allowed. For the mean loss pass dloss_scale = dmean / count_valid.
template <class T>
void crossentropy_backward(T* dlogits, const T* logits, const T* lse,
                           const token_t* targets, T dloss_scale, index_t N,
                           index_t V);

}  // namespace strata::kernels::cpu
