// Device-side helpers shared by the kernel files (internal; CUDA only).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda/check.h"
#include "kernels/cuda/types.h"

namespace strata::kernels::cuda::detail {

using bf = __nv_bfloat16;

inline bf* dev(bf16* p) { return reinterpret_cast<bf*>(p); }
inline const bf* dev(const bf16* p) { return reinterpret_cast<const bf*>(p); }
inline cudaStream_t native(Stream s) { return s; }

// Blocks for a one-thread-per-element launch; throws rather than truncating the grid.
inline unsigned int blocks_for(index_t n, int threads) {
  const index_t b = (n + threads - 1) / threads;
  if (n < 0 || b > INT_MAX) throw std::invalid_argument("CUDA launch: " + std::to_string(n) + " elements is too many");
  return static_cast<unsigned int>(b < 1 ? 1 : b);
}

inline int checked_int(index_t v, const char* what) {
  if (v < 0 || v > INT_MAX)
    throw std::invalid_argument(std::string(what) + " = " + std::to_string(v) + " does not fit int");
  return static_cast<int>(v);
}

__device__ __forceinline__ float ld(const bf* p) { return __bfloat162float(*p); }
__device__ __forceinline__ void st(bf* p, float v) { *p = __float2bfloat16_rn(v); }

// Eight bf16 values in one 16-byte access (p must be 16-byte aligned): a warp then moves
// 512 contiguous bytes per instruction instead of 64, which is what keeps enough loads in
// flight for the row-wise kernels to approach the memory bandwidth.
__device__ __forceinline__ void ld8(float (&out)[8], const bf* p) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __bfloat1622float2(h[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}
__device__ __forceinline__ void st8(bf* p, const float (&in)[8]) {
  uint4 u;
  __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(in[2 * i], in[2 * i + 1]);
  *reinterpret_cast<uint4*>(p) = u;
}
inline bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// Butterfly reductions: every lane ends with the same value, and the order of the
// additions is fixed, so results are identical run to run.
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum (or max) over a whole block of at most 1024 threads; every thread gets the result.
// `scratch` is 32 elements of shared memory; the leading __syncthreads lets callers use the
// same scratch for consecutive reductions.
template <class T>
__device__ T block_sum(T v, T* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = (blockDim.x + 31) / 32;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T r = lane < warps ? scratch[lane] : T(0);
  return warp_sum(r);
}
__device__ inline float block_max(float v, float* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = (blockDim.x + 31) / 32;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = lane < warps ? scratch[lane] : -INFINITY;
  return warp_max(r);
}

}  // namespace strata::kernels::cuda::detail
