// Dense layer on the GPU, nn.Linear layout as kernels/cpu/matmul.h: W[OC,C],
// out = inp · W^T + bias. bf16 operands, fp32 accumulation (cuBLAS, CUBLAS_COMPUTE_32F),
// fp32 weight gradients.
#pragma once

#include "kernels/cuda/blas.h"
#include "kernels/cuda/types.h"

namespace strata::kernels::cuda {

// out[N,OC] (row stride ld_out >= OC; 0 means OC) = inp[N,C] · W[OC,C]^T + bias[OC], WRITTEN.
// bias may be null. The bias is fused the way the CPU kernel does it: broadcast into out
// first, then the GEMM adds onto it (beta = 1), so out is rounded to bf16 once.
void matmul_forward(const Blas& blas, bf16* out, const bf16* inp, const bf16* weight, const bf16* bias, index_t N,
                    index_t C, index_t OC, index_t ld_out = 0);

// fp32 elements of scratch that matmul_backward needs (for the bias gradient).
index_t matmul_backward_scratch_floats(index_t N, index_t OC);

// dout [N,OC] with row stride ld_dout (0 means OC).
//   dinp [N,C] bf16 = dout · W (WRITTEN, or ACCUMULATED when accumulate_dinp; skipped if null)
//   dweight [OC,C] fp32 += dout^T · inp (ACCUMULATED)
//   dbias [OC] fp32 += column sums of dout (ACCUMULATED, deterministic; skipped if null)
// scratch: matmul_backward_scratch_floats(N, OC) floats (unused when dbias is null).
void matmul_backward(const Blas& blas, bf16* dinp, float* dweight, float* dbias, const bf16* dout, const bf16* inp,
                     const bf16* weight, index_t N, index_t C, index_t OC, bool accumulate_dinp, float* scratch,
                     index_t ld_dout = 0);

}  // namespace strata::kernels::cuda
