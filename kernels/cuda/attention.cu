#include "kernels/cuda/attention.h"

#include <cmath>
#include <stdexcept>

#include "kernels/cuda/common.cuh"

namespace strata::kernels::cuda {
using namespace detail;
namespace {

constexpr int kThreads = 256;
constexpr int kRowsPerBlock = kThreads / 32;  // softmax kernels: one warp per row

// Scratch carve-up; every region starts on a 256-byte boundary.
struct Scratch {
  bf *q, *k, *v;     // [B,NH,S,HS] each
  bf* y;             // [B,NH,S,HS]: the forward's P·V, the backward's dout permuted
  bf *dq, *dk, *dv;  // [B,NH,S,HS] each
  float* scores;     // [B,NH,S,S]: QK^T (forward), dP (backward)
  bf* dscores;       // [B,NH,S,S]: d(QK^T) (backward)
  std::size_t bytes;
};

std::size_t align256(std::size_t n) { return (n + 255) / 256 * 256; }

Scratch carve(const AttentionShape& sh, void* base) {
  const std::size_t nc = static_cast<std::size_t>(sh.B * sh.S * sh.C);
  const std::size_t ss = static_cast<std::size_t>(sh.B * sh.NH * sh.S * sh.S);
  char* p = static_cast<char*>(base);
  std::size_t at = 0;
  auto take = [&](std::size_t bytes) {
    char* r = p == nullptr ? nullptr : p + at;
    at += align256(bytes);
    return r;
  };
  Scratch s{};
  s.q = reinterpret_cast<bf*>(take(nc * 2));
  s.k = reinterpret_cast<bf*>(take(nc * 2));
  s.v = reinterpret_cast<bf*>(take(nc * 2));
  s.y = reinterpret_cast<bf*>(take(nc * 2));
  s.dq = reinterpret_cast<bf*>(take(nc * 2));
  s.dk = reinterpret_cast<bf*>(take(nc * 2));
  s.dv = reinterpret_cast<bf*>(take(nc * 2));
  s.scores = reinterpret_cast<float*>(take(ss * 4));
  s.dscores = reinterpret_cast<bf*>(take(ss * 2));
  s.bytes = at;
  return s;
}

void check_shape(const AttentionShape& sh) {
  if (sh.B < 1 || sh.S < 1 || sh.C < 1 || sh.NH < 1 || sh.C % sh.NH != 0)
    throw std::invalid_argument("attention: bad shape (B, S, C, NH must be positive and C divisible by NH)");
}

// One thread per element of [B,NH,S,HS]; `i` decomposed into (b, h, s, d) and the matching
// offset in the [B,S,3C] (or [B,S,C]) tensor.
struct Index {
  index_t packed;  // offset in the head-major [B,NH,S,HS] tensor
  index_t b, h, s, d;
};
__device__ __forceinline__ Index decompose(index_t i, index_t NH, index_t S, index_t HS) {
  Index x;
  x.packed = i;
  x.d = i % HS;
  x.s = (i / HS) % S;
  x.h = (i / (HS * S)) % NH;
  x.b = i / (HS * S * NH);
  return x;
}

__global__ void permute_qkv_kernel(bf* q, bf* k, bf* v, const bf* qkv, index_t B, index_t S, index_t NH,
                                   index_t HS) {
  const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= B * NH * S * HS) return;
  const Index x = decompose(i, NH, S, HS);
  const index_t C = NH * HS;
  const index_t src = (x.b * S + x.s) * 3 * C + x.h * HS + x.d;
  q[i] = qkv[src];
  k[i] = qkv[src + C];
  v[i] = qkv[src + 2 * C];
}

// [B,NH,S,HS] -> [B,S,C]
__global__ void unpermute_kernel(bf* out, const bf* y, index_t B, index_t S, index_t NH, index_t HS) {
  const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= B * NH * S * HS) return;
  const Index x = decompose(i, NH, S, HS);
  out[(x.b * S + x.s) * NH * HS + x.h * HS + x.d] = y[i];
}

// [B,S,C] -> [B,NH,S,HS]
__global__ void permute_kernel(bf* y, const bf* in, index_t B, index_t S, index_t NH, index_t HS) {
  const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= B * NH * S * HS) return;
  const Index x = decompose(i, NH, S, HS);
  y[i] = in[(x.b * S + x.s) * NH * HS + x.h * HS + x.d];
}

// three [B,NH,S,HS] -> [B,S,3C]
__global__ void unpermute_qkv_kernel(bf* dqkv, const bf* dq, const bf* dk, const bf* dv, index_t B, index_t S,
                                     index_t NH, index_t HS) {
  const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= B * NH * S * HS) return;
  const Index x = decompose(i, NH, S, HS);
  const index_t C = NH * HS;
  const index_t dst = (x.b * S + x.s) * 3 * C + x.h * HS + x.d;
  dqkv[dst] = dq[i];
  dqkv[dst + C] = dk[i];
  dqkv[dst + 2 * C] = dv[i];
}

// Row r of [B*NH*S, S] is query i = r % S: p_j = softmax_j(scale * scores_j) over j <= i,
// 0 for j > i. Max-subtracted, fp32.
__global__ void softmax_forward_kernel(bf* probs, const float* scores, index_t rows, index_t S, float scale) {
  const index_t r = static_cast<index_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= rows) return;
  const index_t i = r % S;
  const float* x = scores + r * S;
  float m = -INFINITY;
  for (index_t j = lane; j <= i; j += 32) m = fmaxf(m, scale * x[j]);
  m = warp_max(m);
  float sum = 0.0f;
  for (index_t j = lane; j <= i; j += 32) sum += expf(scale * x[j] - m);
  const float inv = 1.0f / warp_sum(sum);
  bf* p = probs + r * S;
  for (index_t j = lane; j < S; j += 32) st(p + j, j <= i ? expf(scale * x[j] - m) * inv : 0.0f);
}

// d(QK^T)_j = scale * p_j * (dP_j - sum_k p_k dP_k) for j <= i, 0 above the diagonal.
__global__ void softmax_backward_kernel(bf* dscores, const bf* probs, const float* dp, index_t rows, index_t S,
                                        float scale) {
  const index_t r = static_cast<index_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= rows) return;
  const index_t i = r % S;
  const bf* p = probs + r * S;
  const float* g = dp + r * S;
  float dot = 0.0f;
  for (index_t j = lane; j <= i; j += 32) dot += ld(p + j) * g[j];
  dot = warp_sum(dot);
  bf* out = dscores + r * S;
  for (index_t j = lane; j < S; j += 32) st(out + j, j <= i ? scale * ld(p + j) * (g[j] - dot) : 0.0f);
}

// Calls f(r0, r1) for each causal row block [r0, r1) of the S query rows.
template <class F>
void for_row_blocks(const AttentionShape& sh, F f) {
  const index_t n = sh.causal_blocks < 1 ? 1 : (sh.causal_blocks > sh.S ? sh.S : sh.causal_blocks);
  const index_t T = (sh.S + n - 1) / n;
  for (index_t r0 = 0; r0 < sh.S; r0 += T) f(r0, r0 + T < sh.S ? r0 + T : sh.S);
}

void launch_rows(const char* what, index_t rows) {
  if (rows / kRowsPerBlock + 1 > INT_MAX) throw std::invalid_argument(std::string(what) + ": too many rows");
}

}  // namespace

std::size_t attention_scratch_bytes(const AttentionShape& shape) {
  check_shape(shape);
  return carve(shape, nullptr).bytes;
}

void attention_forward(const Blas& blas, bf16* out, bf16* probs, const bf16* qkv, const AttentionShape& sh,
                       void* scratch) {
  check_shape(sh);
  const index_t B = sh.B, S = sh.S, NH = sh.NH, HS = sh.head_size(), BH = B * NH, n = B * S * sh.C;
  const Scratch s = carve(sh, scratch);
  cudaStream_t stream = blas.stream();
  blas.mark_part("permute qkv", "attention (permutes)");
  permute_qkv_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(s.q, s.k, s.v, dev(qkv), B, S, NH, HS);
  STRATA_CUDA_CHECK_LAUNCH("permute_qkv_kernel");
  blas.mark_part("QK^T gemm", "gemm (attention)");
  // scores[bh] = Q · K^T  (fp32 out; the scale is applied in the softmax). Row block
  // [r0, r1) needs key columns [0, r1) only; the rest of scores is left unwritten.
  for_row_blocks(sh, [&](index_t r0, index_t r1) {
    GemmArgs g;
    g.trans_b = true;
    g.M = r1 - r0;
    g.N = r1;
    g.K = HS;
    g.A = reinterpret_cast<const bf16*>(s.q + r0 * HS);
    g.lda = HS;
    g.stride_a = S * HS;
    g.B = reinterpret_cast<const bf16*>(s.k);
    g.ldb = HS;
    g.stride_b = S * HS;
    g.C = s.scores + r0 * S;
    g.c_type = OutType::F32;
    g.ldc = S;
    g.stride_c = S * S;
    g.batch = BH;
    gemm(blas, g);
  });
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  launch_rows("attention softmax", BH * S);
  blas.mark_part("softmax", "attention (softmax)");
  softmax_forward_kernel<<<blocks_for(BH * S, kRowsPerBlock), kThreads, 0, stream>>>(dev(probs), s.scores, BH * S, S,
                                                                                 scale);
  STRATA_CUDA_CHECK_LAUNCH("softmax_forward_kernel");
  blas.mark_part("PV gemm", "gemm (attention)");
  // y[bh] = P · V; row block [r0, r1) sums over keys [0, r1) (P is 0 beyond).
  for_row_blocks(sh, [&](index_t r0, index_t r1) {
    GemmArgs g;
    g.M = r1 - r0;
    g.N = HS;
    g.K = r1;
    g.A = probs + r0 * S;
    g.lda = S;
    g.stride_a = S * S;
    g.B = reinterpret_cast<const bf16*>(s.v);
    g.ldb = HS;
    g.stride_b = S * HS;
    g.C = s.y + r0 * HS;
    g.ldc = HS;
    g.stride_c = S * HS;
    g.batch = BH;
    gemm(blas, g);
  });
  blas.mark_part("unpermute", "attention (permutes)");
  unpermute_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(dev(out), s.y, B, S, NH, HS);
  STRATA_CUDA_CHECK_LAUNCH("unpermute_kernel");
}

void attention_backward(const Blas& blas, bf16* dqkv, const bf16* dout, const bf16* qkv, const bf16* probs,
                        const AttentionShape& sh, void* scratch) {
  check_shape(sh);
  const index_t B = sh.B, S = sh.S, NH = sh.NH, HS = sh.head_size(), BH = B * NH, n = B * S * sh.C;
  const Scratch s = carve(sh, scratch);
  cudaStream_t stream = blas.stream();
  blas.mark_part("permute qkv, dout", "attention (permutes)");
  permute_qkv_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(s.q, s.k, s.v, dev(qkv), B, S, NH, HS);
  STRATA_CUDA_CHECK_LAUNCH("permute_qkv_kernel");
  permute_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(s.y, dev(dout), B, S, NH, HS);
  STRATA_CUDA_CHECK_LAUNCH("permute_kernel");
  auto batched = [&](GemmArgs g) {
    g.batch = BH;
    gemm(blas, g);
  };
  const auto c = [](const bf* p) { return reinterpret_cast<const bf16*>(p); };
  blas.mark_part("dP gemm", "gemm (attention)");
  // Row blocks [r0, r1) of dP, dQ need key columns [0, r1); column blocks [c0, c1) of dV,
  // dK need query rows [c0, S) (P and dS are 0 above the diagonal).
  for_row_blocks(sh, [&](index_t r0, index_t r1) {  // dP[bh] = dY · V^T  (fp32)
    GemmArgs g;
    g.trans_b = true;
    g.M = r1 - r0, g.N = r1, g.K = HS;
    g.A = c(s.y + r0 * HS), g.lda = HS, g.stride_a = S * HS;
    g.B = c(s.v), g.ldb = HS, g.stride_b = S * HS;
    g.C = s.scores + r0 * S, g.c_type = OutType::F32, g.ldc = S, g.stride_c = S * S;
    batched(g);
  });
  blas.mark_part("dV gemm", "gemm (attention)");
  for_row_blocks(sh, [&](index_t c0, index_t c1) {  // dV[bh] = P^T · dY
    GemmArgs g;
    g.trans_a = true;
    g.M = c1 - c0, g.N = HS, g.K = S - c0;
    g.A = probs + c0 * S + c0, g.lda = S, g.stride_a = S * S;
    g.B = c(s.y + c0 * HS), g.ldb = HS, g.stride_b = S * HS;
    g.C = s.dv + c0 * HS, g.ldc = HS, g.stride_c = S * HS;
    batched(g);
  });
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  launch_rows("attention softmax backward", BH * S);
  blas.mark_part("softmax backward", "attention (softmax)");
  softmax_backward_kernel<<<blocks_for(BH * S, kRowsPerBlock), kThreads, 0, stream>>>(s.dscores, dev(probs), s.scores,
                                                                                  BH * S, S, scale);
  STRATA_CUDA_CHECK_LAUNCH("softmax_backward_kernel");
  blas.mark_part("dQ gemm", "gemm (attention)");
  for_row_blocks(sh, [&](index_t r0, index_t r1) {  // dQ[bh] = dS · K
    GemmArgs g;
    g.M = r1 - r0, g.N = HS, g.K = r1;
    g.A = c(s.dscores + r0 * S), g.lda = S, g.stride_a = S * S;
    g.B = c(s.k), g.ldb = HS, g.stride_b = S * HS;
    g.C = s.dq + r0 * HS, g.ldc = HS, g.stride_c = S * HS;
    batched(g);
  });
  blas.mark_part("dK gemm", "gemm (attention)");
  for_row_blocks(sh, [&](index_t c0, index_t c1) {  // dK[bh] = dS^T · Q
    GemmArgs g;
    g.trans_a = true;
    g.M = c1 - c0, g.N = HS, g.K = S - c0;
    g.A = c(s.dscores + c0 * S + c0), g.lda = S, g.stride_a = S * S;
    g.B = c(s.q + c0 * HS), g.ldb = HS, g.stride_b = S * HS;
    g.C = s.dk + c0 * HS, g.ldc = HS, g.stride_c = S * HS;
    batched(g);
  });
  blas.mark_part("unpermute dqkv", "attention (permutes)");
  unpermute_qkv_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(dev(dqkv), s.dq, s.dk, s.dv, B, S, NH, HS);
  STRATA_CUDA_CHECK_LAUNCH("unpermute_qkv_kernel");
}

}  // namespace strata::kernels::cuda
