// Shared vocabulary of the CUDA kernels' public headers. Plain C++: no CUDA header is
// needed to include any launcher header, so host code (the engine, the tests, the bench)
// compiles with the host compiler alone.
//
// Notation as kernels/cpu: B batch, S sequence length, C channels, NH heads, HS = C/NH,
// V vocabulary, N = B*S rows.
#pragma once

#include <cstdint>
#include <cstring>

// The CUDA runtime's stream and cuBLAS's handle are pointers to these opaque structs
// (cudaStream_t is `CUstream_st*`, cublasHandle_t is `cublasContext*`); naming the structs
// here keeps <cuda_runtime.h> out of the public headers while passing the real types.
struct CUstream_st;
struct cublasContext;

namespace strata::kernels::cuda {

using index_t = std::int64_t;
using token_t = std::int32_t;
using Stream = CUstream_st*;  // == cudaStream_t; nullptr is the legacy default stream

inline constexpr token_t kIgnoreTarget = -1;
inline constexpr float kLayerNormEps = 1e-5f;

// bfloat16 as stored on the device: layout-identical to CUDA's __nv_bfloat16 (the .cu
// files reinterpret the pointers), so host code can size, fill and read bf16 buffers
// without cuda_bf16.h.
struct bf16 {
  std::uint16_t bits;
};
static_assert(sizeof(bf16) == 2);

// Round to nearest even, as __float2bfloat16 does; NaN stays a (quiet) NaN.
// (memcpy rather than std::bit_cast: the .cu files include this header as C++17.)
inline bf16 to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{static_cast<std::uint16_t>((u >> 16) | 0x0040u)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{static_cast<std::uint16_t>(u >> 16)};
}

inline float to_float(bf16 h) {
  const std::uint32_t u = static_cast<std::uint32_t>(h.bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// The float nearest to f that a bf16 holds exactly (for oracles that must see the same
// inputs as the device).
inline float round_to_bf16(float f) { return to_float(to_bf16(f)); }

}  // namespace strata::kernels::cuda
