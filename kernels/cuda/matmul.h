// Dense layer on the GPU, nn.Linear layout as kernels/cpu/matmul.h: W[OC,C],
// out = inp · W^T + bias. bf16 operands, fp32 accumulation (cuBLAS, CUBLAS_COMPUTE_32F),
// fp32 weight gradients.
#pragma once

#include "kernels/cuda/blas.h"
#include "kernels/cuda/types.h"

namespace strata::kernels::cuda {

// out[N,OC] (row stride ld_out >= OC; 0 means OC) = inp[N,C] · W[OC,C]^T + bias[OC], WRITTEN.
// bias may be null. With a bias, two paths:
//  - fused (returns true): cuBLASLt's bias epilogue adds the bias in fp32 before out's one
//    bf16 rounding. Taken when blas.lt_epilogues() and cuBLASLt accepts the problem
//    (16-byte aligned pointers, leading dimensions multiple of 8; see gemm_lt);
//  - unfused (returns false): the bias is broadcast into out first, then the GEMM adds
//    onto it (beta = 1), as the CPU kernel does; cuBLAS may round the product to bf16
//    before that add (two roundings where product and bias cancel).
bool matmul_forward(const Blas& blas, bf16* out, const bf16* inp, const bf16* weight, const bf16* bias, index_t N,
                    index_t C, index_t OC, index_t ld_out = 0);

// The MLP's first layer with its GELU: pre[N,OC] = inp · W^T + bias and out = gelu(pre),
// both WRITTEN ([N,OC], packed). Fused (returns true): cuBLASLt's GELU_AUX_BIAS epilogue,
// out from the fp32 sum, pre stored for the backward. Unfused (returns false):
// matmul_forward into pre, then gelu_forward from the bf16 pre.
bool matmul_forward_gelu(const Blas& blas, bf16* out, bf16* pre, const bf16* inp, const bf16* weight,
                         const bf16* bias, index_t N, index_t C, index_t OC);

// fp32 elements of scratch that matmul_backward needs (for the bias gradient).
index_t matmul_backward_scratch_floats(index_t N, index_t OC);

// dout [N,OC] with row stride ld_dout (0 means OC).
//   dinp [N,C] bf16 = dout · W (WRITTEN, or ACCUMULATED when accumulate_dinp; skipped if null)
//   dweight [OC,C] fp32 += dout^T · inp (ACCUMULATED; skipped if null)
//   dbias [OC] fp32 += column sums of dout (ACCUMULATED, deterministic; skipped if null)
// scratch: matmul_backward_scratch_floats(N, OC) floats (unused when dbias is null).
// gelu_input [N,C] (optional; dinp must be given and not accumulated): the layer's input
// was gelu(gelu_input), and dinp gets the gradient through the GELU as well:
//   dinp = gelu'(gelu_input) * (dout · W)
// fused (returns true) by cuBLASLt's DGELU epilogue from the fp32 product, else (returns
// false) the product rounded to bf16 in dinp, then gelu_backward in place.
bool matmul_backward(const Blas& blas, bf16* dinp, float* dweight, float* dbias, const bf16* dout, const bf16* inp,
                     const bf16* weight, index_t N, index_t C, index_t OC, bool accumulate_dinp, float* scratch,
                     index_t ld_dout = 0, const bf16* gelu_input = nullptr);

}  // namespace strata::kernels::cuda
