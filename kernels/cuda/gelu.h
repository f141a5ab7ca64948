// GELU, GPT-2's tanh approximation, on bf16 activations (math in fp32):
//   gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
#pragma once

#include "kernels/cuda/types.h"

namespace strata::kernels::cuda {

// out[i] = gelu(inp[i]), WRITTEN; out may equal inp.
void gelu_forward(Stream stream, bf16* out, const bf16* inp, index_t n);

// dinp[i] = gelu'(inp[i]) * dout[i], WRITTEN (the model's dinp is a fresh buffer;
// the CPU kernel accumulates). dinp may equal dout.
void gelu_backward(Stream stream, bf16* dinp, const bf16* inp, const bf16* dout, index_t n);

}  // namespace strata::kernels::cuda
