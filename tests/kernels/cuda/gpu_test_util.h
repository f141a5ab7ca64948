// Helpers for the GPU tests: device arrays that are poisoned before every launch, seeded
// random inputs that are exactly representable in bf16 (so the CPU oracle and the GPU
// see the same numbers), and a comparison that always prints its error figures, so one
// log of a device run is enough to diagnose a failure.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/check.h"
#include "kernels/cuda/types.h"

namespace strata::kernels::cuda::testing {

template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(std::size_t n) : n_(n) {
    void* p = nullptr;
    STRATA_CUDA_CHECK(cudaMalloc(&p, std::max<std::size_t>(n, 1) * sizeof(T)));
    p_ = static_cast<T*>(p);
    poison();
  }
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) { upload(host); }
  ~DeviceArray() { cudaFree(p_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* get() { return p_; }
  const T* get() const { return p_; }
  std::size_t size() const { return n_; }
  // All bytes 0xFF: NaN in bf16, fp32 and fp64, -1 in int32. An output the kernel fails
  // to write shows up as NaN (or as a wrong index) in the comparison.
  void poison() { STRATA_CUDA_CHECK(cudaMemset(p_, 0xFF, std::max<std::size_t>(n_, 1) * sizeof(T))); }
  void upload(const std::vector<T>& host) {
    if (host.size() != n_) throw std::invalid_argument("DeviceArray::upload: size mismatch");
    STRATA_CUDA_CHECK(cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    STRATA_CUDA_CHECK(cudaDeviceSynchronize());
    STRATA_CUDA_CHECK(cudaMemcpy(host.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

// Waits for the device and surfaces any asynchronous fault at the kernel that caused it.
inline void sync() { STRATA_CUDA_CHECK(cudaDeviceSynchronize()); }

// Uniform in [lo, hi) scaled, then rounded to bf16: non-zero, varied, bf16-exact.
inline std::vector<float> random_bf16_exact(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = round_to_bf16(dist(gen));
  return v;
}

inline std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

inline std::vector<bf16> to_bf16(const std::vector<float>& v) {
  std::vector<bf16> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = ::strata::kernels::cuda::to_bf16(v[i]);
  return out;
}

inline std::vector<float> to_float(const std::vector<bf16>& v) {
  std::vector<float> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = ::strata::kernels::cuda::to_float(v[i]);
  return out;
}

// bf16's unit roundoff: 8 significant bits, so one rounding moves a value by at most
// 2^-8 of itself, and one ulp is 2^-7 of it.
inline constexpr double kBf16Ulp = 1.0 / 128.0;

// Pass when: no NaN/Inf anywhere, every element satisfies
//   |gpu - ref| <= rtol * |ref| + atol_frac * max|ref|,
// and the relative L2 error ||gpu - ref|| / ||ref|| <= l2.
struct Bound {
  double rtol = 0.0;
  double atol_frac = 0.0;
  double l2 = 0.0;
};

inline void expect_close(const std::string& what, const std::vector<float>& gpu, const std::vector<float>& ref,
                         const Bound& bound) {
  ASSERT_EQ(gpu.size(), ref.size()) << what;
  double max_ref = 0.0, diff2 = 0.0, ref2 = 0.0, max_abs = 0.0, max_rel = 0.0, worst_ratio = 0.0;
  std::size_t nonfinite = 0, worst = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) max_ref = std::max(max_ref, std::fabs(static_cast<double>(ref[i])));
  const double atol = bound.atol_frac * max_ref;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double g = gpu[i], r = ref[i];
    if (!std::isfinite(g)) {
      if (nonfinite++ == 0) worst = i;
      continue;
    }
    const double d = std::fabs(g - r);
    diff2 += d * d;
    ref2 += r * r;
    max_abs = std::max(max_abs, d);
    if (std::fabs(r) > 1e-3 * max_ref) max_rel = std::max(max_rel, d / std::fabs(r));
    const double tol = bound.rtol * std::fabs(r) + atol;
    const double ratio = tol > 0 ? d / tol : (d > 0 ? INFINITY : 0.0);
    if (ratio > worst_ratio && nonfinite == 0) {
      worst_ratio = ratio;
      worst = i;
    }
  }
  const double rel_l2 = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  std::printf("  [check] %-34s n=%-9zu max|ref|=%-10.4g max_abs_err=%-10.4g max_rel_err=%-10.4g rel_l2=%-10.4g "
              "(bound l2 %.3g, rtol %.3g) nonfinite=%zu worst[%zu]: gpu %.7g ref %.7g\n",
              what.c_str(), ref.size(), max_ref, max_abs, max_rel, rel_l2, bound.l2, bound.rtol, nonfinite, worst,
              static_cast<double>(gpu[worst]), static_cast<double>(ref[worst]));
  std::fflush(stdout);
  EXPECT_EQ(nonfinite, 0u) << what << ": " << nonfinite << " NaN/Inf outputs (first at " << worst
                           << "; the poison is NaN, so an unwritten output shows here)";
  EXPECT_LE(worst_ratio, 1.0) << what << ": element " << worst << " gpu " << gpu[worst] << " ref " << ref[worst]
                              << " beyond rtol " << bound.rtol << " + atol " << atol;
  EXPECT_LE(rel_l2, bound.l2) << what << ": relative L2 error " << rel_l2 << " > " << bound.l2;
}

}  // namespace strata::kernels::cuda::testing
