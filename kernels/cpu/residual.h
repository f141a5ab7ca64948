// Residual connection: out = a + b. Instantiated for T = float and double only.
#pragma once

#include "kernels/cpu/types.h"

namespace strata::kernels::cpu {

// out[i] = a[i] + b[i] (written). out may equal a or b.
template <class T>
void residual_forward(T* out, const T* a, const T* b, index_t n);

// da[i] += dout[i]; db[i] += dout[i] (accumulated). da and db must differ.
template <class T>
void residual_backward(T* da, T* db, const T* dout, index_t n);

}  // namespace strata::kernels::cpu
