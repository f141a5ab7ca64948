// Dense layer through CBLAS (sgemm for float, dgemm for double).
// Layout as PyTorch nn.Linear: weight W[OC,C], out = inp · W^T + bias.
// Instantiated for T = float and T = double only. N, C, OC must fit in int
// (the BLAS index type); throws std::invalid_argument otherwise.
#pragma once

#include "kernels/cpu/types.h"

namespace strata::kernels::cpu {

// out[N,OC] = inp[N,C] · W[OC,C]^T + bias[OC]. bias may be null.
// out is written (not accumulated) and must not alias inp or W.
template <class T>
void matmul_forward(T* out, const T* inp, const T* weight, const T* bias,
                    index_t N, index_t C, index_t OC);

// Accumulates (+=):
//   dinp[N,C]    += dout[N,OC] · W[OC,C]       (skipped when dinp is null;
//                   written instead with InputGrad::kWrite)
//   dweight[OC,C] += dout^T · inp[N,C]
//   dbias[OC]    += column sums of dout         (skipped when dbias is null;
//                   summed in double, deterministic)
template <class T>
void matmul_backward(T* dinp, T* dweight, T* dbias, const T* dout,
                     const T* inp, const T* weight, index_t N, index_t C,
                     index_t OC, InputGrad dinp_mode = InputGrad::kAccumulate);

}  // namespace strata::kernels::cpu
