// Residual connection on bf16 activations: out = a + b (summed in fp32, rounded once).
// There is no residual backward kernel: the gradient passes through unchanged, and the
// model simply keeps using the same gradient buffer for both branches (as the CPU model).
#pragma once

#include "kernels/cuda/types.h"

namespace strata::kernels::cuda {

// out[i] = a[i] + b[i], WRITTEN; out may equal a or b.
void residual_forward(Stream stream, bf16* out, const bf16* a, const bf16* b, index_t n);

}  // namespace strata::kernels::cuda
