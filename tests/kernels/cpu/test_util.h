// Shared helpers for the CPU kernel tests: seeded random data, central finite
// differences in double, gradient comparison, thread-count control.
#pragma once

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace strata::kernels::cpu::testing {

using Vec = std::vector<double>;

// FD step and tolerance for the double gradient checks. With h = 1e-6 the
// truncation error is O(h^2) ~ 1e-12 and the rounding error ~ 1e-16 |L| / h.
inline constexpr double kFdStep = 1e-6;
inline constexpr double kFdRelTol = 1e-6;
inline constexpr double kFdAbsTol = 1e-8;

inline Vec random_uniform(std::size_t n, std::uint64_t seed, double lo = -1.0,
                          double hi = 1.0) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  Vec v(n);
  for (double& x : v) x = dist(gen);
  return v;
}

template <class T>
std::vector<T> convert(const Vec& v) {
  return std::vector<T>(v.begin(), v.end());
}

// The scalar the gradient checks differentiate: L = sum(out * R) for a fixed
// random R, so every output element contributes with its own weight.
template <class T>
double project(const std::vector<T>& out, const Vec& r) {
  double s = 0.0;
  for (std::size_t i = 0; i < out.size(); ++i) s += static_cast<double>(out[i]) * r[i];
  return s;
}

// dL/dx by central differences, perturbing x in place (restored afterwards).
inline Vec numeric_grad(Vec& x, const std::function<double()>& loss,
                        double h = kFdStep) {
  Vec g(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double x0 = x[i];
    x[i] = x0 + h;
    const double up = loss();
    x[i] = x0 - h;
    const double down = loss();
    x[i] = x0;
    g[i] = (up - down) / (2.0 * h);
  }
  return g;
}

// Element-wise |a - n| <= atol + rtol * max(|a|, |n|).
inline void expect_grad_near(const Vec& analytic, const Vec& numeric,
                             const std::string& what, double rtol = kFdRelTol,
                             double atol = kFdAbsTol) {
  ASSERT_EQ(analytic.size(), numeric.size()) << what;
  double worst = 0.0;  // largest error / tolerance: the margin, reported
  for (std::size_t i = 0; i < analytic.size(); ++i) {
    const double a = analytic[i], n = numeric[i];
    const double tol = atol + rtol * std::max(std::abs(a), std::abs(n));
    EXPECT_LE(std::abs(a - n), tol)
        << what << "[" << i << "]: analytic " << a << " vs numeric " << n;
    worst = std::max(worst, std::abs(a - n) / tol);
  }
  std::ostringstream text;
  text << std::scientific << worst;
  ::testing::Test::RecordProperty(what + "_err_over_tol", text.str());
}

// A float result agrees with the double result of the same kernel.
template <class F>
void expect_float_matches_double(const std::vector<F>& f, const Vec& d,
                                 const std::string& what, double rtol = 1e-5,
                                 double atol = 1e-6) {
  ASSERT_EQ(f.size(), d.size()) << what;
  for (std::size_t i = 0; i < d.size(); ++i) {
    EXPECT_LE(std::abs(f[i] - d[i]), atol + rtol * std::abs(d[i]))
        << what << "[" << i << "]: float " << f[i] << " vs double " << d[i];
  }
}

// Runs fn with the OpenMP default team size set to n, then restores it.
template <class Fn>
auto with_threads(int n, Fn&& fn) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(n);
  auto result = fn();
  omp_set_num_threads(saved);
  return result;
}

// Bitwise equality of the results of fn under 1 and 3 OpenMP threads (3 so
// that chunks do not split evenly even on a 2-core machine).
template <class Fn>
void expect_thread_invariant(Fn&& fn, const std::string& what) {
  const auto one = with_threads(1, fn);
  const auto three = with_threads(3, fn);
  ASSERT_EQ(one.size(), three.size()) << what;
  for (std::size_t i = 0; i < one.size(); ++i)
    ASSERT_EQ(one[i], three[i]) << what << "[" << i << "] differs across thread counts";
}

}  // namespace strata::kernels::cpu::testing
