#include "kernels/cuda/flash_attention.h"

#include <cuda_pipeline.h>
#include <mma.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda/common.cuh"

namespace strata::kernels::cuda {
using namespace detail;
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kTile = 64;  // query rows and key columns of one tile
constexpr int kWarps = 4;  // each warp owns 16 rows (one WMMA tile) of the block's tile
constexpr int kThreads = kWarps * 32;
constexpr int kRows = 16;
constexpr float kLog2e = 1.4426950408889634f;

// Shared-memory geometry for head size HS. Row strides are padded by 16 bytes so that the
// rows of a WMMA load fall into different banks; every sub-buffer starts on a 32-byte
// boundary, as WMMA requires.
template <int HS>
struct Geometry {
  static constexpr int ldh = HS + 8;                         // bf16 q/k/v/dout tile [kTile][ldh]
  static constexpr int lds = (HS > kTile ? HS : kTile) + 4;  // fp32 per-warp staging [kRows][lds]
  static constexpr int ldp = kTile + 8;                      // bf16 per-warp P or dS [kRows][ldp]
  static constexpr int tile_bytes = kTile * ldh * 2;
  static constexpr int stage_bytes = kWarps * kRows * lds * 4;
  static constexpr int p_bytes = kWarps * kRows * ldp * 2;
  static constexpr int forward_smem = 5 * tile_bytes + stage_bytes + p_bytes;  // q, k and v twice
  static constexpr int dkdv_smem = 4 * tile_bytes + stage_bytes + 2 * p_bytes + 2 * kTile * 4;
  static constexpr int dq_smem = 4 * tile_bytes + stage_bytes + p_bytes;
  static_assert(HS % 16 == 0 && HS <= 128, "head size");
};

// Blocks per SM the register allocation must allow: 3 for head sizes up to 64 (as shared
// memory allows; the fragments held across the loops would otherwise take the kernels to
// 2), 1 for 128, whose operands need the registers.
template <int HS>
constexpr int kMinBlocks = HS <= 64 ? 3 : 1;

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf, wmma::row_major>;
using FragBRow = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf, wmma::row_major>;
using FragBCol = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf, wmma::col_major>;
using FragAcc = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

// Rows [row0, row0 + kTile) of one head's HS channels into a shared tile [kTile][ldh], with
// 16-byte loads; rows at or beyond S are zero. `src` is channel 0 of the head in row 0;
// consecutive rows are `stride` elements apart.
template <int HS>
__device__ __forceinline__ void load_tile(bf* tile, const bf* src, index_t stride, int row0, int S) {
  constexpr int chunks = HS / 8;
  for (int i = threadIdx.x; i < kTile * chunks; i += kThreads) {
    const int r = i / chunks, c = i % chunks;
    uint4 v = make_uint4(0u, 0u, 0u, 0u);
    if (row0 + r < S) v = *reinterpret_cast<const uint4*>(src + (row0 + r) * stride + c * 8);
    *reinterpret_cast<uint4*>(tile + r * Geometry<HS>::ldh + c * 8) = v;
  }
}

// As load_tile, with asynchronous copies (cp.async): the copies run while the block computes
// on the other buffer; __pipeline_commit closes the batch and __pipeline_wait_prior waits for
// it. Rows at or beyond S are zero-filled without reading `src`.
template <int HS>
__device__ __forceinline__ void load_tile_async(bf* tile, const bf* src, index_t stride, int row0, int S) {
  constexpr int chunks = HS / 8;
  for (int i = threadIdx.x; i < kTile * chunks; i += kThreads) {
    const int r = i / chunks, c = i % chunks;
    const bool in = row0 + r < S;
    __pipeline_memcpy_async(tile + r * Geometry<HS>::ldh + c * 8, in ? src + (row0 + r) * stride + c * 8 : src, 16,
                            in ? 0 : 16);
  }
}

__device__ __forceinline__ void load_values(float* dst, const float* src, int row0, int S) {
  for (int i = threadIdx.x; i < kTile; i += kThreads) dst[i] = row0 + i < S ? src[row0 + i] : 0.0f;
}

// A warp's 16 rows of a shared tile [kTile][ldh] as the A operand of warp_abt, loaded once:
// in every kernel that operand (its own queries, keys, values or output gradients) stays
// the same for all the tiles it meets, so holding it in registers saves a third of the
// shared-memory fragment traffic.
template <int HS>
__device__ __forceinline__ void load_row_frags(FragA (&fa)[HS / 16], const bf* a) {
#pragma unroll
  for (int k = 0; k < HS / 16; ++k) wmma::load_matrix_sync(fa[k], a + k * 16, Geometry<HS>::ldh);
}

// One warp: out [16 x kTile] fp32 (staging, ld lds) = A [16 x HS] · B^T, where A is held in
// fragments (load_row_frags) and B is a whole shared tile [kTile x HS] (ld ldh).
template <int HS>
__device__ __forceinline__ void warp_abt(float* out, const FragA (&fa)[HS / 16], const bf* b) {
  using G = Geometry<HS>;
#pragma unroll
  for (int j = 0; j < kTile / 16; ++j) {
    FragAcc acc;
    wmma::fill_fragment(acc, 0.0f);
#pragma unroll
    for (int k = 0; k < HS / 16; ++k) {
      FragBCol fb;
      wmma::load_matrix_sync(fb, b + j * 16 * G::ldh + k * 16, G::ldh);
      wmma::mma_sync(acc, fa[k], fb, acc);
    }
    wmma::store_matrix_sync(out + j * 16, acc, G::lds, wmma::mem_row_major);
  }
}

// One warp: acc[n] += A [16 x kTile] (bf16, ld ldp) · B [kTile x HS] (a shared tile, ld
// ldh), over the HS/16 column blocks n.
template <int HS>
__device__ __forceinline__ void warp_ab_accumulate(FragAcc (&acc)[HS / 16], const bf* a, const bf* b) {
  using G = Geometry<HS>;
#pragma unroll
  for (int k = 0; k < kTile / 16; ++k) {
    FragA fa;
    wmma::load_matrix_sync(fa, a + k * 16, G::ldp);
#pragma unroll
    for (int n = 0; n < HS / 16; ++n) {
      FragBRow fb;
      wmma::load_matrix_sync(fb, b + k * 16 * G::ldh + n * 16, G::ldh);
      wmma::mma_sync(acc[n], fa, fb, acc[n]);
    }
  }
}

template <int HS>
__device__ __forceinline__ void zero(FragAcc (&acc)[HS / 16]) {
#pragma unroll
  for (int n = 0; n < HS / 16; ++n) wmma::fill_fragment(acc[n], 0.0f);
}

// Writes a warp's [16 x HS] accumulators as bf16: row r to dst + (row0 + r) * stride when
// row0 + r < S, through the warp's fp32 staging buffer.
template <int HS>
__device__ __forceinline__ void warp_store_rows(bf* dst, index_t stride, int row0, int S, FragAcc (&acc)[HS / 16],
                                                float* stage) {
  using G = Geometry<HS>;
  __syncwarp();  // the staging buffer's previous contents have been read
#pragma unroll
  for (int n = 0; n < HS / 16; ++n) wmma::store_matrix_sync(stage + n * 16, acc[n], G::lds, wmma::mem_row_major);
  __syncwarp();
  const int lane = threadIdx.x % 32;
  for (int r = 0; r < kRows && row0 + r < S; ++r)
    for (int c = lane; c < HS; c += 32) st(dst + (row0 + r) * stride + c, stage[r * G::lds + c]);
}

// Forward. Block (x, y): query tile gridDim.x-1-x (the longest rows start first, so they do
// not finish last) of head y % NH of batch element y / NH. Warp w owns query rows
// [q0 + 16w, q0 + 16w + 16); for every key tile up to the diagonal it computes its scores,
// updates the running max m and sum l of each row (base 2: scale2 = scale * log2 e),
// rescales its output accumulator and adds P·V. Two lanes share a row: lane 2r + half
// holds row r's scores [32 half, 32 half + 32) of the tile and its output columns
// [HS/2 half, HS/2 (half + 1)), so a row's max and sum need one shuffle each, and the
// accumulator lives in registers. The next key tile's K and V are copied asynchronously
// into the second pair of buffers while the current pair is in use.
template <int HS>
__global__ void __launch_bounds__(kThreads, kMinBlocks<HS>)
    flash_forward_kernel(bf* out, float* lse, const bf* qkv, int S, int NH, float scale2) {
  using G = Geometry<HS>;
  constexpr int kHalf = HS / 2;  // output columns per lane
  extern __shared__ __align__(128) unsigned char smem[];
  bf* sq = reinterpret_cast<bf*>(smem);
  // K's two buffers are tiles 1 and 2, V's tiles 3 and 4 (arithmetic, not an array of
  // pointers, which would be indexed at run time from local memory).
  const auto sk = [&](int i) { return sq + (1 + i) * kTile * G::ldh; };
  const auto sv = [&](int i) { return sq + (3 + i) * kTile * G::ldh; };
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* stage = reinterpret_cast<float*>(smem + 5 * G::tile_bytes) + warp * kRows * G::lds;
  bf* sp = reinterpret_cast<bf*>(smem + 5 * G::tile_bytes + G::stage_bytes) + warp * kRows * G::ldp;

  const int qt = static_cast<int>(gridDim.x - 1 - blockIdx.x);
  const int bh = static_cast<int>(blockIdx.y), b = bh / NH, h = bh % NH;
  const index_t C = static_cast<index_t>(NH) * HS, stride = 3 * C;
  const bf* base = qkv + static_cast<index_t>(b) * S * stride + h * HS;
  const int q0 = qt * kTile, row0 = q0 + warp * kRows;
  const int r = lane / 2, half = lane % 2, row = row0 + r;
  const float* srow = stage + r * G::lds;  // 16-byte aligned: lds * 4 is a multiple of 16

  load_tile_async<HS>(sk(0), base + C, stride, 0, S);
  load_tile_async<HS>(sv(0), base + 2 * C, stride, 0, S);
  __pipeline_commit();
  load_tile<HS>(sq, base, stride, q0, S);
  __syncthreads();
  FragA qf[HS / 16];
  load_row_frags<HS>(qf, sq + warp * kRows * G::ldh);
  float m = -INFINITY, l = 0.0f, o[kHalf];
#pragma unroll
  for (int j = 0; j < kHalf; ++j) o[j] = 0.0f;

  for (int kt = 0; kt <= qt; ++kt) {
    const int k0 = kt * kTile, cur = kt & 1;
    if (kt < qt) {  // the next tile into the other buffers (free: the barrier below ended their use)
      load_tile_async<HS>(sk(cur ^ 1), base + C, stride, k0 + kTile, S);
      load_tile_async<HS>(sv(cur ^ 1), base + 2 * C, stride, k0 + kTile, S);
      __pipeline_commit();
      __pipeline_wait_prior(1);  // this tile's copies are done, the next tile's may run on
    } else {
      __pipeline_wait_prior(0);
    }
    __syncthreads();  // every thread's copies are visible
    warp_abt<HS>(stage, qf, sk(cur));
    __syncwarp();
    // Every row sees key k0 <= q0 <= row, so the new max is finite and no 0 * inf arises.
    float sc[32], mx = -INFINITY;
#pragma unroll
    for (int q = 0; q < 8; ++q) {
      const float4 v = *reinterpret_cast<const float4*>(srow + half * 32 + 4 * q);
      const float vv[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int j = 4 * q + e;
        sc[j] = k0 + half * 32 + j <= row ? vv[e] * scale2 : -INFINITY;
        mx = fmaxf(mx, sc[j]);
      }
    }
    const float m_new = fmaxf(m, fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1)));
    const float alpha = exp2f(m - m_new);
    float sum = 0.0f;
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      float p[8];
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        p[e] = exp2f(sc[8 * q + e] - m_new);
        sum += p[e];
      }
      st8(sp + r * G::ldp + half * 32 + 8 * q, p);
    }
    l = l * alpha + sum + __shfl_xor_sync(0xffffffffu, sum, 1);
    m = m_new;
    __syncwarp();
    FragAcc pv[HS / 16];
    zero<HS>(pv);
    warp_ab_accumulate<HS>(pv, sp, sv(cur));
#pragma unroll
    for (int n = 0; n < HS / 16; ++n) wmma::store_matrix_sync(stage + n * 16, pv[n], G::lds, wmma::mem_row_major);
    __syncwarp();
#pragma unroll
    for (int q = 0; q < kHalf / 4; ++q) {
      const float4 v = *reinterpret_cast<const float4*>(srow + half * kHalf + 4 * q);
      o[4 * q] = o[4 * q] * alpha + v.x;
      o[4 * q + 1] = o[4 * q + 1] * alpha + v.y;
      o[4 * q + 2] = o[4 * q + 2] * alpha + v.z;
      o[4 * q + 3] = o[4 * q + 3] * alpha + v.w;
    }
    __syncthreads();  // every warp is done with this tile's buffers before they are refilled
  }

  if (row < S) {
    bf* dst = out + (static_cast<index_t>(b) * S + row) * C + h * HS + half * kHalf;
    const float inv = 1.0f / l;
#pragma unroll
    for (int q = 0; q < kHalf / 8; ++q) {
      float v[8];
#pragma unroll
      for (int e = 0; e < 8; ++e) v[e] = o[8 * q + e] * inv;
      st8(dst + 8 * q, v);
    }
    if (half == 0) lse[static_cast<index_t>(bh) * S + row] = m + log2f(l);
  }
}

// D[b,h,s] = sum_c dout[b,s,h*HS+c] * out[b,s,h*HS+c], fp32: one warp per (b, s, h).
__global__ void flash_rowdot_kernel(float* D, const bf* dout, const bf* out, index_t rows, int S, int NH, int HS) {
  const index_t w = (static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (w >= rows) return;
  const index_t bs = w / NH, b = bs / S, s = bs % S;
  const int h = static_cast<int>(w % NH);
  const index_t off = bs * NH * HS + static_cast<index_t>(h) * HS;
  float acc = 0.0f;
  for (int c = lane; c < HS; c += 32) acc += ld(dout + off + c) * ld(out + off + c);
  acc = warp_sum(acc);
  if (lane == 0) D[(b * NH + h) * S + s] = acc;
}

// Backward, dK and dV. Block (x, y): key tile x of head y. Warp w owns keys
// [k0 + 16w, k0 + 16w + 16) and accumulates their dK and dV in fragments over the query
// tiles from the diagonal down: P^T = 2^(scale2 K Q^T - lse) (0 where query < key),
// dV += P^T dO, dP^T = V dO^T, dS^T = P^T (dP^T - D) scale, dK += dS^T Q.
template <int HS>
__global__ void __launch_bounds__(kThreads, kMinBlocks<HS>)
    flash_backward_dkdv_kernel(bf* dqkv, const bf* dout, const bf* qkv, const float* lse, const float* D, int S,
                               int NH, float scale, float scale2) {
  using G = Geometry<HS>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf* sk = reinterpret_cast<bf*>(smem);
  bf* sv = sk + kTile * G::ldh;
  bf* sq = sv + kTile * G::ldh;
  bf* sdo = sq + kTile * G::ldh;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  unsigned char* rest = smem + 4 * G::tile_bytes;
  float* stage = reinterpret_cast<float*>(rest) + warp * kRows * G::lds;
  bf* sp = reinterpret_cast<bf*>(rest + G::stage_bytes) + warp * kRows * G::ldp;
  bf* sds = reinterpret_cast<bf*>(rest + G::stage_bytes + G::p_bytes) + warp * kRows * G::ldp;
  float* sl = reinterpret_cast<float*>(rest + G::stage_bytes + 2 * G::p_bytes);
  float* sd = sl + kTile;

  const int kt = static_cast<int>(blockIdx.x), nq = static_cast<int>(gridDim.x);
  const int bh = static_cast<int>(blockIdx.y), b = bh / NH, h = bh % NH;
  const index_t C = static_cast<index_t>(NH) * HS, stride = 3 * C;
  const bf* base = qkv + static_cast<index_t>(b) * S * stride + h * HS;
  const bf* dbase = dout + static_cast<index_t>(b) * S * C + h * HS;
  const float* lse_bh = lse + static_cast<index_t>(bh) * S;
  const float* d_bh = D + static_cast<index_t>(bh) * S;
  const int k0 = kt * kTile, key0 = k0 + warp * kRows;

  load_tile<HS>(sk, base + C, stride, k0, S);
  load_tile<HS>(sv, base + 2 * C, stride, k0, S);
  FragAcc dk[HS / 16], dv[HS / 16];
  zero<HS>(dk);
  zero<HS>(dv);
  for (int qt = kt; qt < nq; ++qt) {
    const int q0 = qt * kTile;
    __syncthreads();  // every warp is done with the previous query tile
    load_tile<HS>(sq, base, stride, q0, S);
    load_tile<HS>(sdo, dbase, C, q0, S);
    load_values(sl, lse_bh, q0, S);
    load_values(sd, d_bh, q0, S);
    __syncthreads();
    {
      // K's and V's fragments are loaded per tile (once per product, not once per column
      // block): holding them across the loop would spill at 3 blocks per SM.
      FragA kf[HS / 16];
      load_row_frags<HS>(kf, sk + warp * kRows * G::ldh);
      warp_abt<HS>(stage, kf, sq);  // S^T [16 keys x 64 queries]
    }
    __syncwarp();
    float p[kRows][2];
#pragma unroll
    for (int r = 0; r < kRows; ++r)
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int qi = lane + 32 * j, q = q0 + qi;
        p[r][j] = q >= key0 + r && q < S ? exp2f(stage[r * G::lds + qi] * scale2 - sl[qi]) : 0.0f;
        st(sp + r * G::ldp + qi, p[r][j]);
      }
    __syncwarp();
    warp_ab_accumulate<HS>(dv, sp, sdo);  // dV += P^T dO
    {
      FragA vf[HS / 16];
      load_row_frags<HS>(vf, sv + warp * kRows * G::ldh);
      warp_abt<HS>(stage, vf, sdo);  // dP^T = V dO^T
    }
    __syncwarp();
#pragma unroll
    for (int r = 0; r < kRows; ++r)
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int qi = lane + 32 * j;
        st(sds + r * G::ldp + qi, p[r][j] * (stage[r * G::lds + qi] - sd[qi]) * scale);
      }
    __syncwarp();
    warp_ab_accumulate<HS>(dk, sds, sq);  // dK += dS^T Q
  }
  bf* dst = dqkv + static_cast<index_t>(b) * S * stride + h * HS;
  warp_store_rows<HS>(dst + C, stride, key0, S, dk, stage);
  warp_store_rows<HS>(dst + 2 * C, stride, key0, S, dv, stage);
}

// Backward, dQ. Block (x, y): query tile gridDim.x-1-x of head y. Warp w owns queries
// [q0 + 16w, q0 + 16w + 16): over the key tiles up to the diagonal, P = 2^(scale2 Q K^T -
// lse), dP = dO V^T, dS = P (dP - D) scale, dQ += dS K. Q and dO are only read once, into
// fragments, so their two tiles then serve as the second K and V buffers: the next key
// tile is copied asynchronously while the current one is in use, in the same shared memory.
template <int HS>
__global__ void __launch_bounds__(kThreads, kMinBlocks<HS>)
    flash_backward_dq_kernel(bf* dqkv, const bf* dout, const bf* qkv, const float* lse, const float* D, int S,
                             int NH, float scale, float scale2) {
  using G = Geometry<HS>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf* sq = reinterpret_cast<bf*>(smem);
  bf* sdo = sq + kTile * G::ldh;
  // Buffer pair 0: tiles 2 (K) and 3 (V); pair 1: tiles 0 and 1, once Q and dO are read.
  const auto sk = [&](int i) { return sq + (i == 0 ? 2 : 0) * kTile * G::ldh; };
  const auto sv = [&](int i) { return sq + (i == 0 ? 3 : 1) * kTile * G::ldh; };
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  unsigned char* rest = smem + 4 * G::tile_bytes;
  float* stage = reinterpret_cast<float*>(rest) + warp * kRows * G::lds;
  bf* sds = reinterpret_cast<bf*>(rest + G::stage_bytes) + warp * kRows * G::ldp;

  const int qt = static_cast<int>(gridDim.x - 1 - blockIdx.x);
  const int bh = static_cast<int>(blockIdx.y), b = bh / NH, h = bh % NH;
  const index_t C = static_cast<index_t>(NH) * HS, stride = 3 * C;
  const bf* base = qkv + static_cast<index_t>(b) * S * stride + h * HS;
  const bf* dbase = dout + static_cast<index_t>(b) * S * C + h * HS;
  const int q0 = qt * kTile, row0 = q0 + warp * kRows;

  load_tile_async<HS>(sk(0), base + C, stride, 0, S);
  load_tile_async<HS>(sv(0), base + 2 * C, stride, 0, S);
  __pipeline_commit();
  load_tile<HS>(sq, base, stride, q0, S);
  load_tile<HS>(sdo, dbase, C, q0, S);
  __syncthreads();
  FragA qf[HS / 16], dof[HS / 16];
  load_row_frags<HS>(qf, sq + warp * kRows * G::ldh);
  load_row_frags<HS>(dof, sdo + warp * kRows * G::ldh);
  __syncthreads();  // Q's and dO's tiles are free for key tiles from here on
  float lr[kRows], dr[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const bool in = row0 + r < S;
    lr[r] = in ? lse[static_cast<index_t>(bh) * S + row0 + r] : 0.0f;
    dr[r] = in ? D[static_cast<index_t>(bh) * S + row0 + r] : 0.0f;
  }
  FragAcc dq[HS / 16];
  zero<HS>(dq);
  for (int kt = 0; kt <= qt; ++kt) {
    const int k0 = kt * kTile, cur = kt & 1;
    if (kt < qt) {  // the next tile into the other pair (free: the barrier below ended its use)
      load_tile_async<HS>(sk(cur ^ 1), base + C, stride, k0 + kTile, S);
      load_tile_async<HS>(sv(cur ^ 1), base + 2 * C, stride, k0 + kTile, S);
      __pipeline_commit();
      __pipeline_wait_prior(1);
    } else {
      __pipeline_wait_prior(0);
    }
    __syncthreads();  // every thread's copies are visible
    warp_abt<HS>(stage, qf, sk(cur));  // S [16 queries x 64 keys]
    __syncwarp();
    float p[kRows][2];
#pragma unroll
    for (int r = 0; r < kRows; ++r)
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int ki = lane + 32 * j;
        p[r][j] = k0 + ki <= row0 + r ? exp2f(stage[r * G::lds + ki] * scale2 - lr[r]) : 0.0f;
      }
    __syncwarp();
    warp_abt<HS>(stage, dof, sv(cur));  // dP [16 queries x 64 keys]
    __syncwarp();
#pragma unroll
    for (int r = 0; r < kRows; ++r)
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int ki = lane + 32 * j;
        st(sds + r * G::ldp + ki, p[r][j] * (stage[r * G::lds + ki] - dr[r]) * scale);
      }
    __syncwarp();
    warp_ab_accumulate<HS>(dq, sds, sk(cur));  // dQ += dS K
    __syncthreads();  // every warp is done with this pair before it is refilled
  }
  warp_store_rows<HS>(dqkv + static_cast<index_t>(b) * S * stride + h * HS, stride, row0, S, dq, stage);
}

void check_shape(const AttentionShape& sh) {
  if (sh.B < 1 || sh.S < 1 || sh.C < 1 || sh.NH < 1 || sh.C % sh.NH != 0)
    throw std::invalid_argument("flash attention: bad shape (B, S, C, NH must be positive and C divisible by NH)");
}

void check_aligned(const void* p, const char* what) {
  if (reinterpret_cast<std::uintptr_t>(p) % 16 != 0)
    throw std::invalid_argument(std::string("flash attention: ") + what + " is not 16-byte aligned");
}

struct Launch {
  dim3 grid;
  int S, NH;
  float scale, scale2;
};

Launch plan(const AttentionShape& sh) {
  if (!flash_attention_supported(sh))
    throw std::invalid_argument("flash attention: unsupported shape (head size " + std::to_string(sh.head_size()) +
                                "; supported: 16, 32, 64, 128 with C % 8 == 0)");
  const float scale = 1.0f / std::sqrt(static_cast<float>(sh.head_size()));
  const auto tiles = static_cast<unsigned>((sh.S + kTile - 1) / kTile);
  return {dim3(tiles, static_cast<unsigned>(sh.B * sh.NH)), static_cast<int>(sh.S), static_cast<int>(sh.NH), scale,
          scale * kLog2e};
}

template <int HS>
void forward_for(cudaStream_t stream, bf* out, float* lse, const bf* qkv, const Launch& x) {
  constexpr int smem = Geometry<HS>::forward_smem;
  STRATA_CUDA_CHECK(cudaFuncSetAttribute(flash_forward_kernel<HS>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  flash_forward_kernel<HS><<<x.grid, kThreads, smem, stream>>>(out, lse, qkv, x.S, x.NH, x.scale2);
  STRATA_CUDA_CHECK_LAUNCH("flash_forward_kernel");
}

template <int HS>
void backward_for(const Blas& blas, bf* dqkv, const bf* dout, const bf* qkv, const float* lse, const float* D,
                  const Launch& x) {
  cudaStream_t stream = blas.stream();
  constexpr int dkdv = Geometry<HS>::dkdv_smem, dq = Geometry<HS>::dq_smem;
  blas.mark_part("dK dV kernel", "attention (fused)");
  STRATA_CUDA_CHECK(
      cudaFuncSetAttribute(flash_backward_dkdv_kernel<HS>, cudaFuncAttributeMaxDynamicSharedMemorySize, dkdv));
  flash_backward_dkdv_kernel<HS><<<x.grid, kThreads, dkdv, stream>>>(dqkv, dout, qkv, lse, D, x.S, x.NH, x.scale,
                                                                     x.scale2);
  STRATA_CUDA_CHECK_LAUNCH("flash_backward_dkdv_kernel");
  blas.mark_part("dQ kernel", "attention (fused)");
  STRATA_CUDA_CHECK(
      cudaFuncSetAttribute(flash_backward_dq_kernel<HS>, cudaFuncAttributeMaxDynamicSharedMemorySize, dq));
  flash_backward_dq_kernel<HS><<<x.grid, kThreads, dq, stream>>>(dqkv, dout, qkv, lse, D, x.S, x.NH, x.scale, x.scale2);
  STRATA_CUDA_CHECK_LAUNCH("flash_backward_dq_kernel");
}

// The most dynamic shared memory any of the three kernels needs at this head size.
template <int HS>
int max_smem() {
  using G = Geometry<HS>;
  return std::max({G::forward_smem, G::dkdv_smem, G::dq_smem});
}

}  // namespace

bool flash_attention_supported(const AttentionShape& sh) {
  check_shape(sh);
  const index_t hs = sh.head_size();
  if (!((hs == 16 || hs == 32 || hs == 64 || hs == 128) && sh.C % 8 == 0 && sh.B * sh.NH <= 65535 &&
        sh.S <= INT_MAX - kTile))
    return false;
  // Head size 128 needs up to 130 kB of shared memory per block: more than GPUs other than
  // the data-centre ones (A100, H100: 227 kB) allow, where the PTX would otherwise run.
  int device = 0, limit = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return true;  // no device to ask (the launch itself will report that)
  }
  const int need = hs == 16 ? max_smem<16>() : hs == 32 ? max_smem<32>() : hs == 64 ? max_smem<64>() : max_smem<128>();
  return need <= limit;
}

std::size_t flash_attention_scratch_bytes(const AttentionShape& sh) {
  check_shape(sh);
  return static_cast<std::size_t>(sh.B * sh.NH * sh.S) * sizeof(float);
}

void flash_attention_forward(const Blas& blas, bf16* out, float* lse, const bf16* qkv, const AttentionShape& sh) {
  const Launch x = plan(sh);
  check_aligned(qkv, "qkv");
  check_aligned(out, "out");
  blas.mark_part("forward kernel", "attention (fused)");
  bf* o = dev(out);
  const bf* q = dev(qkv);
  switch (sh.head_size()) {
    case 16: forward_for<16>(blas.stream(), o, lse, q, x); break;
    case 32: forward_for<32>(blas.stream(), o, lse, q, x); break;
    case 64: forward_for<64>(blas.stream(), o, lse, q, x); break;
    default: forward_for<128>(blas.stream(), o, lse, q, x); break;
  }
}

void flash_attention_backward(const Blas& blas, bf16* dqkv, const bf16* dout, const bf16* qkv, const bf16* out,
                              const float* lse, const AttentionShape& sh, void* scratch) {
  const Launch x = plan(sh);
  check_aligned(qkv, "qkv");
  check_aligned(dout, "dout");
  auto* D = static_cast<float*>(scratch);
  const index_t rows = sh.B * sh.S * sh.NH;
  blas.mark_part("rowdot(dout, out)", "attention (fused)");
  flash_rowdot_kernel<<<blocks_for(rows * 32, 256), 256, 0, blas.stream()>>>(
      D, dev(dout), dev(out), rows, x.S, x.NH, static_cast<int>(sh.head_size()));
  STRATA_CUDA_CHECK_LAUNCH("flash_rowdot_kernel");
  bf* dq = dev(dqkv);
  const bf* g = dev(dout);
  const bf* q = dev(qkv);
  switch (sh.head_size()) {
    case 16: backward_for<16>(blas, dq, g, q, lse, D, x); break;
    case 32: backward_for<32>(blas, dq, g, q, lse, D, x); break;
    case 64: backward_for<64>(blas, dq, g, q, lse, D, x); break;
    default: backward_for<128>(blas, dq, g, q, lse, D, x); break;
  }
}

}  // namespace strata::kernels::cuda
