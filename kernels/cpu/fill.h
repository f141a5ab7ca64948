// Zero-filling of activation and gradient buffers. Instantiated for T = float and double.
#pragma once

#include "kernels/cpu/types.h"

namespace strata::kernels::cpu {

// p[0, n) = 0, on the calling thread's team when the buffer is large enough for two
// threads to beat one (measured: from about 2^17 elements).
template <class T>
void fill_zero(T* p, index_t n);

}  // namespace strata::kernels::cpu
