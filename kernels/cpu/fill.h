// Zero-filling of activation and gradient buffers. Instantiated for T = float
// and double.
#pragma once

#include "kernels/cpu/types.h"

namespace strata::kernels::cpu {

// p[0, n) = 0. From 2^17 elements up the chunks are shared by an OpenMP team
// (one thread when called inside a parallel region); below that, one thread.
template <class T>
void fill_zero(T* p, index_t n);

}  // namespace strata::kernels::cpu
