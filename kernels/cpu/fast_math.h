// exp in float without a libm call, so that the loops calling it vectorise (in files built
// with -fno-trapping-math, see kernels/CMakeLists.txt): libm's expf is a
// call per element (the attention softmax and the cross-entropy spent 5-6% of a training
// step in it). exp(x) = 2^k * e^r with k = round(x log2 e), r = x - k ln 2 reduced in two
// steps, and e^r from Cephes' degree-6 polynomial: relative error below 2.5e-7 (about 2
// ulp) over the whole range (tests/kernels/cpu/fast_math_test.cpp). x is clamped to
// [-87, 88], inside float's normal range (exp(-87) ~ 1.6e-38 instead of a denormal or 0,
// negligible next to any softmax sum, which is >= 1).
//
// exp_of(double) keeps std::exp: the fp64 path is the gradient-check oracle.
// Internal to kernels/cpu.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/parallel.h"

namespace strata::kernels::cpu::detail {

inline float exp_fast(float x) {
  // Plain compares and the 1.5*2^23 rounding trick instead of fmin/fmax/floor: those carry
  // NaN and errno semantics that stop GCC from vectorising the loop.
  float v = x < -87.0f ? -87.0f : x;
  v = v > 88.0f ? 88.0f : v;
  const float shifted = v * 1.44269504088896341f + 12582912.0f;  // k = round(v log2 e) in the low bits
  const float k = shifted - 12582912.0f;
  const int32_t ki = std::bit_cast<int32_t>(shifted) - 0x4B400000;
  // r = v - k ln 2 in two steps (Cody-Waite; k * 0.693359375 is exact), |r| <= ln 2 / 2.
  float r = v - k * 0.693359375f;
  r = r - k * -2.12194440e-4f;
  // Cephes' expf polynomial for e^r.
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * std::bit_cast<float>((ki + 127) << 23);
}

inline float exp_of(float x) { return exp_fast(x); }
inline double exp_of(double x) { return std::exp(x); }

// Largest of x[0..n), n >= 1, vectorised through an OpenMP simd max reduction (exact, so the
// lane order does not matter; std::max_element and a plain loop both stay scalar). The
// kernel files that include this header are built with OpenMP.
template <class T>
T max_of(const T* x, int64_t n) {
  T m = x[0];
#pragma omp simd reduction(max : m)
  for (int64_t j = 1; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

// sum_j exp(x_j - m) for j < n, the exps in T and their sum in double (softmax rows of ~50k
// terms of very different sizes), a chunk at a time so that the exps vectorise, each chunk
// summed by serial_sum (parallel.h) over fixed lanes so that the sum does too (one serial
// double chain was 4 cycles per term). The order depends on n only, never on threads.
template <class T>
double sum_exp(const T* x, T m, int64_t n) {
  constexpr int64_t kChunk = 256;
  T e[kChunk];
  double sum = 0.0;
  for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
    const int64_t len = std::min(kChunk, n - j0);
    for (int64_t j = 0; j < len; ++j) e[j] = exp_of(x[j0 + j] - m);
    sum += serial_sum(0, len, [&e](int64_t j) { return static_cast<double>(e[j]); });
  }
  return sum;
}

}  // namespace strata::kernels::cpu::detail
