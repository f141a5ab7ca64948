// Token + position embedding (GPT-2 "encoder" in llm.c terms).
//
// Notation in all kernel headers: B batch, S sequence length (llm.c's T; the
// letter T is taken by the element type), C channels, V vocabulary size.
// Instantiated for T = float and T = double only (see encoder.cpp).
#pragma once

#include "kernels/cpu/types.h"

namespace strata::kernels::cpu {

// out[b,s,:] = wte[tokens[b,s],:] + wpe[s,:]
//   out    [B,S,C]   written (not accumulated)
//   tokens [B,S]     each in [0, V); throws std::invalid_argument otherwise
//   wte    [V,C], wpe [maxS,C] with maxS >= S
template <class T>
void encoder_forward(T* out, const token_t* tokens, const T* wte, const T* wpe,
                     index_t B, index_t S, index_t C, index_t V);

// dwte[tokens[b,s],:] += dout[b,s,:];  dwpe[s,:] += dout[b,s,:]
// Deterministic: each thread owns a block of channels and walks the tokens in
// order, so a token that repeats is accumulated in the same order every run.
template <class T>
void encoder_backward(T* dwte, T* dwpe, const T* dout, const token_t* tokens,
                      index_t B, index_t S, index_t C, index_t V);

}  // namespace strata::kernels::cpu
