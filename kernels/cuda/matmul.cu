#include "kernels/cuda/matmul.h"

#include "kernels/cuda/colsum.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/gelu.h"

namespace strata::kernels::cuda {
using namespace detail;
namespace {

__global__ void broadcast_bias_kernel(bf* out, const bf* bias, index_t N, index_t OC, index_t ldo) {
  const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * OC) return;
  const index_t n = i / OC, o = i % OC;
  out[n * ldo + o] = bias[o];
}

// partial[chunk][o] = sum of dout[r, o] over the chunk's rows (see colsum.cuh).
__global__ void bias_partial_kernel(float* partial, const bf* dout, index_t N, index_t OC, index_t ldd) {
  __shared__ float s[kColsumLanes][kColsumCols + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const index_t col = static_cast<index_t>(blockIdx.x) * kColsumCols + tx;
  const index_t chunk = blockIdx.y;
  const index_t r0 = chunk * kColsumRows;
  const index_t r1 = r0 + kColsumRows < N ? r0 + kColsumRows : N;
  float acc = 0.0f;
  if (col < OC)
    for (index_t r = r0 + ty; r < r1; r += kColsumLanes) acc += ld(dout + r * ldd + col);
  s[ty][tx] = acc;
  __syncthreads();
  if (ty == 0 && col < OC) {
    float sum = 0.0f;
    for (int k = 0; k < kColsumLanes; ++k) sum += s[k][tx];
    partial[chunk * OC + col] = sum;
  }
}

// The same for OC % 8 == 0 and 16-byte aligned rows: each thread sums 8 adjacent columns
// with 16-byte loads (a block covers 256 columns); thread t then adds column t's row-lane
// partials in order (fixed order: the same bits run to run).
__global__ void bias_partial_vec_kernel(float* partial, const bf* dout, index_t N, index_t OC, index_t ldd) {
  constexpr int kSlab = kColsumCols * 8;
  static_assert(kColsumLanes * kColsumCols == kSlab, "a block's threads sum its 256 columns");
  __shared__ float s[kColsumLanes][kSlab];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const index_t col = (static_cast<index_t>(blockIdx.x) * kColsumCols + tx) * 8;
  const index_t chunk = blockIdx.y;
  const index_t r0 = chunk * kColsumRows;
  const index_t r1 = r0 + kColsumRows < N ? r0 + kColsumRows : N;
  float acc[8] = {};
  if (col < OC)
    for (index_t r = r0 + ty; r < r1; r += kColsumLanes) {
      float v[8];
      ld8(v, dout + r * ldd + col);
#pragma unroll
      for (int k = 0; k < 8; ++k) acc[k] += v[k];
    }
#pragma unroll
  for (int k = 0; k < 8; ++k) s[ty][tx * 8 + k] = acc[k];
  __syncthreads();
  const int t = ty * kColsumCols + tx;
  const index_t c = static_cast<index_t>(blockIdx.x) * kSlab + t;
  if (c < OC) {
    float sum = 0.0f;
    for (int k = 0; k < kColsumLanes; ++k) sum += s[k][t];
    partial[chunk * OC + c] = sum;
  }
}

}  // namespace

bool matmul_forward(const Blas& blas, bf16* out, const bf16* inp, const bf16* weight, const bf16* bias, index_t N,
                    index_t C, index_t OC, index_t ld_out) {
  if (ld_out == 0) ld_out = OC;
  if (ld_out < OC) throw std::invalid_argument("matmul_forward: ld_out < OC");
  if (bias != nullptr && N * OC > 0) {
    LtGemmArgs lt;
    lt.trans_b = true;  // W is [OC,C]: out = inp · W^T
    lt.M = N, lt.N = OC, lt.K = C;
    lt.A = inp, lt.lda = C;
    lt.B = weight, lt.ldb = C;
    lt.C = out, lt.ldc = ld_out;
    lt.epilogue = Epilogue::Bias;
    lt.bias = bias;
    blas.mark_part("gemm + bias epilogue", "gemm (linear layers)");
    if (gemm_lt(blas, lt)) return true;
    blas.mark_part("bias broadcast", "bias (broadcast, column sums)");
    broadcast_bias_kernel<<<blocks_for(N * OC, 256), 256, 0, blas.stream()>>>(dev(out), dev(bias), N, OC, ld_out);
    STRATA_CUDA_CHECK_LAUNCH("broadcast_bias_kernel");
    blas.mark_part("gemm", "gemm (linear layers)");
  }
  GemmArgs g;
  g.trans_b = true;  // W is [OC,C]: out = inp · W^T
  g.M = N;
  g.N = OC;
  g.K = C;
  g.beta = bias != nullptr ? 1.0f : 0.0f;
  g.A = inp;
  g.lda = C;
  g.B = weight;
  g.ldb = C;
  g.C = out;
  g.ldc = ld_out;
  gemm(blas, g);
  return false;
}

bool matmul_forward_gelu(const Blas& blas, bf16* out, bf16* pre, const bf16* inp, const bf16* weight,
                         const bf16* bias, index_t N, index_t C, index_t OC) {
  if (bias != nullptr && N * OC > 0) {
    LtGemmArgs lt;
    lt.trans_b = true;
    lt.M = N, lt.N = OC, lt.K = C;
    lt.A = inp, lt.lda = C;
    lt.B = weight, lt.ldb = C;
    lt.C = out, lt.ldc = OC;
    lt.epilogue = Epilogue::GeluAuxBias;
    lt.bias = bias;
    lt.aux = pre, lt.ld_aux = OC;
    blas.mark_part("gemm + bias + gelu epilogue", "gemm (linear layers)");
    if (gemm_lt(blas, lt)) return true;
  }
  matmul_forward(blas, pre, inp, weight, bias, N, C, OC);
  blas.mark_part("gelu", "gelu");
  gelu_forward(blas.stream(), out, pre, N * OC);
  return false;
}

index_t matmul_backward_scratch_floats(index_t N, index_t OC) { return colsum_chunks(N) * OC; }

bool matmul_backward(const Blas& blas, bf16* dinp, float* dweight, float* dbias, const bf16* dout, const bf16* inp,
                     const bf16* weight, index_t N, index_t C, index_t OC, bool accumulate_dinp, float* scratch,
                     index_t ld_dout, const bf16* gelu_input) {
  if (ld_dout == 0) ld_dout = OC;
  if (ld_dout < OC) throw std::invalid_argument("matmul_backward: ld_dout < OC");
  if (gelu_input != nullptr && (dinp == nullptr || accumulate_dinp))
    throw std::invalid_argument("matmul_backward: gelu_input needs a written dinp");
  bool fused = false;
  if (gelu_input != nullptr && N * C > 0) {  // dinp = gelu'(gelu_input) * (dout · W)
    LtGemmArgs lt;
    lt.M = N, lt.N = C, lt.K = OC;
    lt.A = dout, lt.lda = ld_dout;
    lt.B = weight, lt.ldb = C;
    lt.C = dinp, lt.ldc = C;
    lt.epilogue = Epilogue::DGelu;
    lt.aux = const_cast<bf16*>(gelu_input), lt.ld_aux = C;  // read only (DGELU)
    blas.mark_part("dinp gemm + dgelu epilogue", "gemm (linear layers)");
    fused = gemm_lt(blas, lt);
  }
  if (dinp != nullptr && !fused) {  // dinp[N,C] = dout[N,OC] · W[OC,C]
    blas.mark_part("dinp gemm", "gemm (linear layers)");
    GemmArgs g;
    g.M = N;
    g.N = C;
    g.K = OC;
    g.beta = accumulate_dinp ? 1.0f : 0.0f;
    g.A = dout;
    g.lda = ld_dout;
    g.B = weight;
    g.ldb = C;
    g.C = dinp;
    g.ldc = C;
    gemm(blas, g);
    if (gelu_input != nullptr) {
      blas.mark_part("gelu backward", "gelu");
      gelu_backward(blas.stream(), dinp, gelu_input, dinp, N * C);
    }
  }
  if (dweight != nullptr) {  // dweight[OC,C] += dout^T[OC,N] · inp[N,C], in fp32
    blas.mark_part("dweight gemm", "gemm (linear layers)");
    GemmArgs g;
    g.trans_a = true;
    g.M = OC;
    g.N = C;
    g.K = N;
    g.beta = 1.0f;
    g.A = dout;
    g.lda = ld_dout;
    g.B = inp;
    g.ldb = C;
    g.C = dweight;
    g.c_type = OutType::F32;
    g.ldc = C;
    gemm(blas, g);
  }
  if (dbias != nullptr && N > 0) {
    const index_t chunks = colsum_chunks(N);
    if (chunks > 65535) throw std::invalid_argument("matmul_backward: too many rows for the bias reduction");
    blas.mark_part("dbias column sum", "bias (broadcast, column sums)");
    if (OC % 8 == 0 && ld_dout % 8 == 0 && aligned16(dout)) {
      const dim3 grid(blocks_for(OC, kColsumCols * 8), static_cast<unsigned int>(chunks));
      bias_partial_vec_kernel<<<grid, dim3(kColsumCols, kColsumLanes), 0, blas.stream()>>>(scratch, dev(dout), N, OC,
                                                                                           ld_dout);
    } else {
      const dim3 grid(blocks_for(OC, kColsumCols), static_cast<unsigned int>(chunks));
      bias_partial_kernel<<<grid, dim3(kColsumCols, kColsumLanes), 0, blas.stream()>>>(scratch, dev(dout), N, OC,
                                                                                       ld_dout);
    }
    STRATA_CUDA_CHECK_LAUNCH("bias_partial_kernel");
    launch_sum_partials(scratch, chunks, OC, OC, dbias, blas.stream());
  }
  return fused;
}

}  // namespace strata::kernels::cuda
