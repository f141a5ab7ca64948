#include "kernels/cpu/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "kernels/cpu/fast_math.h"
#include "kernels/cpu/parallel.h"

namespace strata::kernels::cpu {
namespace {

constexpr index_t kQB = kAttentionQueryBlock;

// ---------------------------------------------------------------------------
// Small single-threaded GEMM for the per-head products. BLAS is not used here
// on purpose: these products run inside the OpenMP loop over (b,h), and the
// pthread OpenBLAS would start its own threads from every OpenMP thread.

// One 32-byte vector register of T (GCC/Clang vector extension): 8 floats or
// 4 doubles; with -march=x86-64-v3 it maps to a ymm register.
template <class T>
struct Vec32;
template <>
struct Vec32<float> {
  typedef float type __attribute__((vector_size(32)));
};
template <>
struct Vec32<double> {
  typedef double type __attribute__((vector_size(32)));
};

// Unaligned load/store. Vectors travel by reference, never by value: a
// 32-byte vector argument or return value changes the ABI when AVX is off,
// which GCC warns about (-Wpsabi) for baseline x86-64 builds.
template <class V, class T>
void load(V& v, const T* p) {
  std::memcpy(&v, p, sizeof v);
}

template <class V, class T>
void store(T* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}

// Register tile: up to kTileRows rows x kTileVecs vectors of columns,
// accumulated over the whole inner dimension before C is touched once. 6 x 2
// keeps 12 accumulators in flight (Zen/Skylake need 8-10 to cover the FMA
// latency on both pipes) plus 2 B vectors and one broadcast: 15 of the 16 ymm
// registers.
constexpr int kTileRows = 6;
constexpr int kTileVecs = 2;
template <class T>
constexpr index_t kLanes =
    static_cast<index_t>(sizeof(typename Vec32<T>::type) / sizeof(T));

// Operand A is read through strides so that both A and A^T can be fed
// without copies: A(i,p) = a[i*rs + p*cs].
template <class T>
struct StridedA {
  const T* a;
  index_t rs, cs;
  const T* at(index_t i, index_t p) const { return a + i * rs + p * cs; }
};

// C[MR x NV vectors] (+)= alpha * A·B with B row-major (ldb). MR and NV are
// template arguments so that the ragged row edge (MR < kTileRows) and the
// one-vector column edge keep their accumulators in registers too.
template <class T, int MR, int NV>
void gemm_tile(index_t k, T alpha, StridedA<T> a, const T* b, index_t ldb,
               T* c, index_t ldc, bool accumulate) {
  using V = typename Vec32<T>::type;
  constexpr index_t L = kLanes<T>;
  V acc[MR][NV] = {};
  for (index_t p = 0; p < k; ++p) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) load(bv[v], b + p * ldb + v * L);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const T ar = *a.at(r, p);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] += ar * bv[v];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      T* cr = c + r * ldc + v * L;
      V out = alpha * acc[r][v];
      if (accumulate) {
        V old;
        load(old, cr);
        out += old;
      }
      store(cr, out);
    }
  }
}

// Columns left over after the whole vectors (nc < kLanes): plain loops, same
// summation order over p as gemm_tile.
template <class T>
void gemm_edge(index_t mr, index_t nc, index_t k, T alpha, StridedA<T> a,
               const T* b, index_t ldb, T* c, index_t ldc, bool accumulate) {
  for (index_t i = 0; i < mr; ++i)
    for (index_t j = 0; j < nc; ++j) {
      T acc = T{0};
      for (index_t p = 0; p < k; ++p) acc += *a.at(i, p) * b[p * ldb + j];
      T* cij = c + i * ldc + j;
      *cij = accumulate ? *cij + alpha * acc : alpha * acc;
    }
}

// One band of MR rows across all n columns: whole kTileVecs-vector tiles,
// then one-vector tiles, then the scalar edge.
template <class T, int MR>
void gemm_band(index_t n, index_t k, T alpha, StridedA<T> a, const T* b,
               index_t ldb, T* c, index_t ldc, bool accumulate) {
  constexpr index_t L = kLanes<T>, W = kTileVecs * L;
  index_t j = 0;
  for (; j + W <= n; j += W)
    gemm_tile<T, MR, kTileVecs>(k, alpha, a, b + j, ldb, c + j, ldc, accumulate);
  for (; j + L <= n; j += L)
    gemm_tile<T, MR, 1>(k, alpha, a, b + j, ldb, c + j, ldc, accumulate);
  if (j < n) gemm_edge(MR, n - j, k, alpha, a, b + j, ldb, c + j, ldc, accumulate);
}

// C[m,n] (+)= alpha * A[m,k] · B[k,n]. Every C element is summed over p in
// order, whatever the tiling, so results do not depend on thread count.
template <class T>
void small_gemm(index_t m, index_t n, index_t k, T alpha, StridedA<T> a,
                const T* b, index_t ldb, T* c, index_t ldc, bool accumulate) {
  for (index_t i = 0; i < m; i += kTileRows) {
    const StridedA<T> ai{a.at(i, 0), a.rs, a.cs};
    T* ci = c + i * ldc;
    switch (std::min<index_t>(kTileRows, m - i)) {
      case 6: gemm_band<T, 6>(n, k, alpha, ai, b, ldb, ci, ldc, accumulate); break;
      case 5: gemm_band<T, 5>(n, k, alpha, ai, b, ldb, ci, ldc, accumulate); break;
      case 4: gemm_band<T, 4>(n, k, alpha, ai, b, ldb, ci, ldc, accumulate); break;
      case 3: gemm_band<T, 3>(n, k, alpha, ai, b, ldb, ci, ldc, accumulate); break;
      case 2: gemm_band<T, 2>(n, k, alpha, ai, b, ldb, ci, ldc, accumulate); break;
      default: gemm_band<T, 1>(n, k, alpha, ai, b, ldb, ci, ldc, accumulate); break;
    }
  }
}

// ---------------------------------------------------------------------------
// Attention proper.

// One head of one sequence inside a [S, 3C] qkv slab; Ptr is const T* for the
// activations and T* for their gradients. Row i of q is q + i*ld.
template <class Ptr>
struct HeadQkv {
  Ptr q, k, v;
  index_t ld;
};

template <class Ptr>
HeadQkv<Ptr> head_qkv(Ptr qkv, const AttentionShape& sh, index_t b, index_t h) {
  const Ptr base = qkv + b * sh.S * 3 * sh.C + h * sh.head_size();
  return {base, base + sh.C, base + 2 * sh.C, 3 * sh.C};
}

// Row stride of the scratch matrices: S rounded up to 16 plus 16 more, so
// that consecutive rows do not sit a power of two apart (S = 1024 floats
// would put every row of K^T in the same L1 set).
index_t scratch_ld(const AttentionShape& sh) {
  return (sh.S + 15) / 16 * 16 + 16;
}

// Per-thread scratch, all with row stride ld: K^T and V^T of the current
// head [HS,S] (so score-like products stream keys contiguously), and two
// query-block buffers [kQB,S] (probabilities and their gradient).
template <class T>
struct HeadScratch {
  T* kt;
  T* vt;
  T* p;
  T* dp;
  index_t ld;
};

index_t scratch_per_thread(const AttentionShape& sh) {
  return 2 * (sh.head_size() + kQB) * scratch_ld(sh);
}

template <class T>
HeadScratch<T> thread_scratch(T* scratch, const AttentionShape& sh) {
  T* base = scratch + omp_get_thread_num() * scratch_per_thread(sh);
  const index_t ld = scratch_ld(sh), hs_ld = sh.head_size() * ld;
  return {base, base + hs_ld, base + 2 * hs_ld, base + 2 * hs_ld + kQB * ld,
          ld};
}

// dst[d*ldd + j] = rows[j*ld + d] for j < S, d < HS: the scalar loops, a
// band of kTransposeBand rows at a time so that the band's source rows stay
// in L1 while each destination row gets a short contiguous run. Used whole for
// double and for the edges of the float version below.
constexpr index_t kTransposeBand = 16;
template <class T>
void transpose_scalar(T* dst, index_t ldd, const T* rows, index_t ld,
                      index_t j_begin, index_t S, index_t d_begin, index_t HS) {
  for (index_t j0 = j_begin; j0 < S; j0 += kTransposeBand) {
    const index_t j1 = std::min(S, j0 + kTransposeBand);
    for (index_t d = d_begin; d < HS; ++d) {
      T* out = dst + d * ldd;
      for (index_t j = j0; j < j1; ++j) out[j] = rows[j * ld + d];
    }
  }
}

template <class T>
void transpose_head(T* dst, index_t ldd, const T* rows, index_t ld, index_t S,
                    index_t HS) {
  transpose_scalar(dst, ldd, rows, ld, 0, S, 0, HS);
}

// The float version moves 8 x 8 blocks through registers (the unpack /
// shuffle / 128-bit-lane permute sequence of the classic AVX transpose):
// element by element, the transposes of K and V were a quarter of the
// attention's own (non-product) time.
using F8 = Vec32<float>::type;
using I8 = int __attribute__((vector_size(32)));

void transpose_8x8(F8 (&r)[8]) {
  const I8 lo{0, 8, 1, 9, 4, 12, 5, 13}, hi{2, 10, 3, 11, 6, 14, 7, 15};
  const I8 even{0, 1, 8, 9, 4, 5, 12, 13}, odd{2, 3, 10, 11, 6, 7, 14, 15};
  const I8 low128{0, 1, 2, 3, 8, 9, 10, 11}, high128{4, 5, 6, 7, 12, 13, 14, 15};
  F8 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = __builtin_shuffle(r[2 * i], r[2 * i + 1], lo);
    t[2 * i + 1] = __builtin_shuffle(r[2 * i], r[2 * i + 1], hi);
  }
  // u[0..3]: rows 0-3's columns {0,4}, {1,5}, {2,6}, {3,7}; u[4..7]: rows 4-7's.
  for (int h = 0; h < 2; ++h) {
    u[4 * h + 0] = __builtin_shuffle(t[4 * h], t[4 * h + 2], even);
    u[4 * h + 1] = __builtin_shuffle(t[4 * h], t[4 * h + 2], odd);
    u[4 * h + 2] = __builtin_shuffle(t[4 * h + 1], t[4 * h + 3], even);
    u[4 * h + 3] = __builtin_shuffle(t[4 * h + 1], t[4 * h + 3], odd);
  }
  for (int c = 0; c < 4; ++c) {
    r[c] = __builtin_shuffle(u[c], u[c + 4], low128);
    r[c + 4] = __builtin_shuffle(u[c], u[c + 4], high128);
  }
}

template <>
void transpose_head<float>(float* dst, index_t ldd, const float* rows,
                           index_t ld, index_t S, index_t HS) {
  const index_t S8 = S / 8 * 8, HS8 = HS / 8 * 8;
  for (index_t j = 0; j < S8; j += 8)
    for (index_t d = 0; d < HS8; d += 8) {
      F8 r[8];
      for (int i = 0; i < 8; ++i) load(r[i], rows + (j + i) * ld + d);
      transpose_8x8(r);
      for (int i = 0; i < 8; ++i) store(dst + (d + i) * ldd + j, r[i]);
    }
  transpose_scalar(dst, ldd, rows, ld, S8, S, 0, HS);    // the last rows
  transpose_scalar(dst, ldd, rows, ld, 0, S8, HS8, HS);  // the last columns
}

// s[r, j] = scale * q_{i0+r} · k_j for the block's rows and keys j < i1.
// Entries above the diagonal are computed too (cheaper than ragged tiles)
// but never read.
template <class T>
void block_scores(T* s, const HeadQkv<const T*>& hd, const HeadScratch<T>& ws,
                  index_t i0, index_t i1, index_t HS, T scale) {
  small_gemm(i1 - i0, i1, HS, scale, StridedA<T>{hd.q + i0 * hd.ld, hd.ld, 1},
             ws.kt, ws.ld, s, ws.ld, false);
}

// Forward softmax of each causal score row, in place: max-subtracted exps,
// their sum in double (detail::serial_sum's fixed lanes, so it vectorises and
// stays independent of the thread count), lse = max + log(sum) saved for the
// backward, and p = exp(s - max) / sum. Zeros for i < j < i1 so that block
// products may run over all keys < i1.
template <class T>
void block_softmax(T* s, index_t ld, T* lse, index_t i0, index_t i1) {
  for (index_t i = i0; i < i1; ++i) {
    T* row = s + (i - i0) * ld;
    const T m = detail::max_of(row, i + 1);
    for (index_t j = 0; j <= i; ++j) row[j] = detail::exp_of(row[j] - m);  // vectorises
    const double sum = detail::serial_sum(
        0, i + 1, [row](index_t j) { return static_cast<double>(row[j]); });
    lse[i] = static_cast<T>(static_cast<double>(m) + std::log(sum));
    const T inv = static_cast<T>(1.0 / sum);
    for (index_t j = 0; j <= i; ++j) row[j] *= inv;
    std::fill(row + i + 1, row + i1, T{0});
  }
}

// Backward recompute, in place: p_ij = exp(s_ij - lse_i) for j <= i (one exp
// per entry thanks to the saved lse; equal to the forward's p up to
// rounding), zeros for i < j < i1 as above.
template <class T>
void block_probs(T* s, index_t ld, const T* lse, index_t i0, index_t i1) {
  for (index_t i = i0; i < i1; ++i) {
    T* row = s + (i - i0) * ld;
    const T l = lse[i];
    for (index_t j = 0; j <= i; ++j) row[j] = detail::exp_of(row[j] - l);
    std::fill(row + i + 1, row + i1, T{0});
  }
}

// Copies the causal part of block rows into a dense [S,S] capture matrix and
// zero-fills above the diagonal, so the capture is a full matrix.
template <class T>
void block_capture(T* dst, const T* rows, index_t ld, index_t i0, index_t i1,
                   index_t S) {
  for (index_t i = i0; i < i1; ++i) {
    const T* row = rows + (i - i0) * ld;
    T* d = dst + i * S;
    std::copy(row, row + i + 1, d);
    std::fill(d + i + 1, d + S, T{0});
  }
}

// Softmax backward in place: ds_ij = p_ij (dp_ij - sum_k p_ik dp_ik) for
// j <= i, zeros above the diagonal (see block_probs).
template <class T>
void block_dscores(T* dp, const T* p, index_t ld, index_t i0, index_t i1) {
  for (index_t i = i0; i < i1; ++i) {
    const T* pr = p + (i - i0) * ld;
    T* dr = dp + (i - i0) * ld;
    const T c = static_cast<T>(detail::serial_sum(0, i + 1, [pr, dr](index_t j) {
      return static_cast<double>(pr[j] * dr[j]);
    }));
    for (index_t j = 0; j <= i; ++j) dr[j] = pr[j] * (dr[j] - c);
    std::fill(dr + i + 1, dr + i1, T{0});
  }
}

void check_args(const AttentionShape& sh, int n_threads) {
  if (sh.B < 0 || sh.S < 0 || sh.C <= 0 || sh.NH <= 0 || sh.C % sh.NH != 0)
    throw std::invalid_argument("attention: C must be a positive multiple of NH");
  if (n_threads < 1)
    throw std::invalid_argument("attention: n_threads must be >= 1");
}

// Below this many multiply-adds a thread team is not worth starting.
constexpr index_t kMinParallelFlops = index_t{1} << 16;

bool worth_parallel(const AttentionShape& sh) {
  return sh.B * sh.NH * sh.S * sh.S * sh.head_size() >= kMinParallelFlops;
}

template <class T>
T score_scale(const AttentionShape& sh) {
  return static_cast<T>(1.0 / std::sqrt(static_cast<double>(sh.head_size())));
}

// Forward for one (b,h): per query block, scores -> lse -> probs -> output.
template <class T>
void head_forward(T* out, T* lse, T* probs, const T* qkv,
                  const AttentionShape& sh, index_t b, index_t h,
                  const HeadScratch<T>& ws) {
  const index_t S = sh.S, HS = sh.head_size();
  const HeadQkv<const T*> hd = head_qkv(qkv, sh, b, h);
  T* out_h = out + b * S * sh.C + h * HS;
  T* lse_h = lse + (b * sh.NH + h) * S;
  transpose_head(ws.kt, ws.ld, hd.k, hd.ld, S, HS);
  for (index_t i0 = 0; i0 < S; i0 += kQB) {
    const index_t i1 = std::min(S, i0 + kQB), nr = i1 - i0;
    block_scores(ws.p, hd, ws, i0, i1, HS, score_scale<T>(sh));
    block_softmax(ws.p, ws.ld, lse_h, i0, i1);
    // out_i = sum_{j < i1} p_ij v_j
    small_gemm(nr, HS, i1, T{1}, StridedA<T>{ws.p, ws.ld, 1}, hd.v, hd.ld,
               out_h + i0 * sh.C, sh.C, false);
    if (probs != nullptr)
      block_capture(probs + (b * sh.NH + h) * S * S, ws.p, ws.ld, i0, i1, S);
  }
}

// Backward for one (b,h): recompute the probabilities of a query block from
// q, k and the saved lse, then push gradients into dq, dk, dv. Only this
// (b,h) writes these dqkv entries.
template <class T>
void head_backward(T* dqkv, T* dprobs, const T* dout, const T* qkv,
                   const T* lse, const AttentionShape& sh, index_t b,
                   index_t h, const HeadScratch<T>& ws, InputGrad mode) {
  const index_t S = sh.S, HS = sh.head_size();
  const T scale = score_scale<T>(sh);
  const HeadQkv<const T*> hd = head_qkv(qkv, sh, b, h);
  const HeadQkv<T*> g = head_qkv(dqkv, sh, b, h);
  // Written mode: each query block writes its own dq rows once, so only dk and
  // dv, which every later block adds to, start from zero.
  const bool write = mode == InputGrad::kWrite;
  if (write)
    for (index_t i = 0; i < S; ++i) {
      std::fill(g.k + i * g.ld, g.k + i * g.ld + HS, T{0});
      std::fill(g.v + i * g.ld, g.v + i * g.ld + HS, T{0});
    }
  const T* dout_h = dout + b * S * sh.C + h * HS;
  const T* lse_h = lse + (b * sh.NH + h) * S;
  transpose_head(ws.kt, ws.ld, hd.k, hd.ld, S, HS);
  transpose_head(ws.vt, ws.ld, hd.v, hd.ld, S, HS);
  for (index_t i0 = 0; i0 < S; i0 += kQB) {
    const index_t i1 = std::min(S, i0 + kQB), nr = i1 - i0;
    block_scores(ws.p, hd, ws, i0, i1, HS, scale);
    block_probs(ws.p, ws.ld, lse_h, i0, i1);
    // dp_ij = dout_i · v_j
    small_gemm(nr, i1, HS, T{1}, StridedA<T>{dout_h + i0 * sh.C, sh.C, 1},
               ws.vt, ws.ld, ws.dp, ws.ld, false);
    if (dprobs != nullptr)
      block_capture(dprobs + (b * sh.NH + h) * S * S, ws.dp, ws.ld, i0, i1, S);
    block_dscores(ws.dp, ws.p, ws.ld, i0, i1);
    // dq_i += scale sum_j ds_ij k_j
    small_gemm(nr, HS, i1, scale, StridedA<T>{ws.dp, ws.ld, 1}, hd.k, hd.ld,
               g.q + i0 * g.ld, g.ld, !write);
    // dk_j += scale sum_i ds_ij q_i   (A = ds^T through strides)
    small_gemm(i1, HS, nr, scale, StridedA<T>{ws.dp, 1, ws.ld},
               hd.q + i0 * hd.ld, hd.ld, g.k, g.ld, true);
    // dv_j += sum_i p_ij dout_i
    small_gemm(i1, HS, nr, T{1}, StridedA<T>{ws.p, 1, ws.ld},
               dout_h + i0 * sh.C, sh.C, g.v, g.ld, true);
  }
}

}  // namespace

index_t attention_scratch_elems(const AttentionShape& shape, int n_threads) {
  check_args(shape, n_threads);
  return scratch_per_thread(shape) * n_threads;
}

template <class T>
void attention_forward(T* out, T* lse, T* probs_out, const T* qkv,
                       const AttentionShape& shape, T* scratch, int n_threads) {
  check_args(shape, n_threads);
  // num_threads bounds the team, so omp_get_thread_num() indexes a valid
  // scratch slot. Each (b,h) costs the same, hence a static schedule, which
  // also gives each thread a contiguous run of heads: neighbouring heads
  // share cache lines of dqkv, which a dynamic schedule would make the
  // threads write at the same time (measured: a 50% slower backward).
#pragma omp parallel for schedule(static) num_threads(n_threads) \
    if (worth_parallel(shape))
  for (index_t bh = 0; bh < shape.B * shape.NH; ++bh)
    head_forward(out, lse, probs_out, qkv, shape, bh / shape.NH, bh % shape.NH,
                 thread_scratch(scratch, shape));
}

template <class T>
void attention_backward(T* dqkv, T* dprobs_out, const T* dout, const T* qkv,
                        const T* lse, const AttentionShape& shape, T* scratch,
                        int n_threads, InputGrad dqkv_mode) {
  check_args(shape, n_threads);
#pragma omp parallel for schedule(static) num_threads(n_threads) \
    if (worth_parallel(shape))
  for (index_t bh = 0; bh < shape.B * shape.NH; ++bh)
    head_backward(dqkv, dprobs_out, dout, qkv, lse, shape, bh / shape.NH,
                  bh % shape.NH, thread_scratch(scratch, shape), dqkv_mode);
}

#define STRATA_INSTANTIATE(T)                                              \
  template void attention_forward<T>(T*, T*, T*, const T*,                 \
                                     const AttentionShape&, T*, int);      \
  template void attention_backward<T>(T*, T*, const T*, const T*, const T*, \
                                      const AttentionShape&, T*, int, InputGrad);
STRATA_INSTANTIATE(float)
STRATA_INSTANTIATE(double)
#undef STRATA_INSTANTIATE

}  // namespace strata::kernels::cpu
