// GELU, tanh approximation exactly as GPT-2:
//   gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
// Instantiated for T = float and T = double only.
#pragma once

#include "kernels/cpu/types.h"

namespace strata::kernels::cpu {

// out[i] = gelu(inp[i]) for i < n (written). out may equal inp.
template <class T>
void gelu_forward(T* out, const T* inp, index_t n);

// dinp[i] += gelu'(inp[i]) * dout[i] (accumulated), or = when accumulate is false (for a
// dinp that nothing else feeds: it saves zero-filling it first and reading it back).
// Needs the forward input. dinp may equal dout.
template <class T>
void gelu_backward(T* dinp, const T* inp, const T* dout, index_t n, bool accumulate = true);

}  // namespace strata::kernels::cpu
