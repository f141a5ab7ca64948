// Vocabulary-parallel embedding and cross-entropy (Megatron-LM's VocabParallelEmbedding
// and vocab_parallel_cross_entropy): a tensor-parallel rank holds rows [v0, v0 + Vl) of
// wte and so only those columns of the logits. Each function computes this rank's part;
// the caller all-reduces between the steps as noted, so no rank ever holds [N, V].
//
// The results equal the single-rank kernels' (encoder.h, crossentropy.h) up to the order
// of the exp-sum, which the all-reduce splits: summing a token's row with zeros from the
// ranks that do not own it is exact.
// Instantiated for T = float and T = double only.
#pragma once

#include "kernels/cpu/types.h"

namespace strata::kernels::cpu {

// out[b,s,:] = wte_slice[tokens[b,s] - v0,:] when v0 <= tokens[b,s] < v0 + Vl, else 0.
// All-reduce (sum) out over the tensor-parallel group, then add the positions with
// encoder_add_positions. tokens must lie in [0, V) (std::invalid_argument otherwise).
template <class T>
void encoder_forward_slice(T* out, const token_t* tokens, const T* wte_slice, index_t v0, index_t Vl,
                           index_t B, index_t S, index_t C, index_t V);

// out[b,s,:] += wpe[s,:]
template <class T>
void encoder_add_positions(T* out, const T* wpe, index_t B, index_t S, index_t C);

// dwte_slice[tokens - v0] += dout for the tokens in the slice; dwpe (may be null) += dout
// for every position. Same order of accumulation as encoder_backward, so the owned rows
// get bit-identical gradients.
template <class T>
void encoder_backward_slice(T* dwte_slice, T* dwpe, const T* dout, const token_t* tokens, index_t v0, index_t Vl,
                            index_t B, index_t S, index_t C, index_t V);

// Step 1: rowmax[n] = max_j logits_slice[n, j]. All-reduce MAX over the group.
template <class T>
void crossentropy_slice_max(double* rowmax, const T* logits_slice, index_t N, index_t Vl);

// Step 2: sumexp[n] = sum_j exp(x[n,j] - rowmax[n]) (in double) and target_logit[n] =
// x[n, targets[n] - v0] when this slice holds the target, else 0. All-reduce SUM both.
// Targets must lie in [-1, V) (std::invalid_argument otherwise); -1 rows give 0, 0.
template <class T>
void crossentropy_slice_partials(double* sumexp, double* target_logit, const T* logits_slice, const double* rowmax,
                                 const token_t* targets, index_t v0, index_t N, index_t Vl, index_t V);

// Step 3 (no communication): lse[n] = rowmax + log(sumexp), losses[n] = lse - target
// logit (both 0 for ignored rows). Returns the mean loss over the valid rows (NaN if none),
// summed as crossentropy_forward does.
template <class T>
double crossentropy_slice_finish(T* losses, T* lse, const double* rowmax, const double* sumexp,
                                 const double* target_logit, const token_t* targets, index_t N);

// dlogits_slice = (softmax - onehot) * dloss_scale on this slice; 0 for ignored rows. May
// run in place (dlogits == logits), as crossentropy_backward.
template <class T>
void crossentropy_slice_backward(T* dlogits, const T* logits, const T* lse, const token_t* targets, T dloss_scale,
                                 index_t v0, index_t N, index_t Vl);

}  // namespace strata::kernels::cpu
