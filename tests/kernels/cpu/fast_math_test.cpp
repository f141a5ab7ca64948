// The vectorisable float exp (kernels/cpu/fast_math.h) that the softmax, the cross-entropy
// and GELU's tanh use: its error against std::exp in double over the whole clamped range,
// the clamp itself, and the chunked double sum.
#include "kernels/cpu/fast_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace strata::kernels::cpu {
namespace {

TEST(FastMathTest, ExpIsWithinTwoUlpOfTheTrueValue) {
  double worst = 0;
  for (int i = 0; i <= 2'000'000; ++i) {
    const float x = -87.0f + 175.0f * static_cast<float>(i) / 2'000'000.0f;
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(static_cast<double>(detail::exp_fast(x)) - want) / want);
  }
  EXPECT_LT(worst, 2.5e-7) << "relative error";
  EXPECT_EQ(detail::exp_fast(0.0f), 1.0f);
}

TEST(FastMathTest, ExpClampsInsteadOfOverflowingOrGoingDenormal) {
  EXPECT_TRUE(std::isfinite(detail::exp_fast(1000.0f)));
  EXPECT_GT(detail::exp_fast(-1000.0f), 0.0f);
  EXPECT_LT(detail::exp_fast(-1000.0f), 2e-38f);
  EXPECT_EQ(detail::exp_fast(-1000.0f), detail::exp_fast(-87.0f));
  EXPECT_EQ(detail::exp_of(-1000.0), 0.0);  // double keeps std::exp
}

TEST(FastMathTest, SumExpMatchesADoubleSumAcrossChunks) {
  std::mt19937 gen(3);
  std::normal_distribution<float> d(0.0f, 4.0f);
  std::vector<float> x(1000);  // several 256-element chunks and a partial one
  for (float& v : x) v = d(gen);
  const float m = 2.0f;
  double want = 0;
  for (float v : x) want += std::exp(static_cast<double>(v - m));
  EXPECT_NEAR(detail::sum_exp(x.data(), m, static_cast<int64_t>(x.size())), want, 1e-6 * want);
  EXPECT_EQ(detail::sum_exp(x.data(), m, 0), 0.0);
}

TEST(FastMathTest, MaxOfFindsTheLargestWhereverItIs) {
  // Every length from 1 to 40 (whole vectors and ragged tails) and every position of the
  // largest value, among negative values so that a lane left at 0 would show.
  for (int64_t n = 1; n <= 40; ++n)
    for (int64_t at = 0; at < n; ++at) {
      std::vector<float> x(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = -100.0f - static_cast<float>(i % 7);
      x[static_cast<size_t>(at)] = -3.5f;
      ASSERT_EQ(detail::max_of(x.data(), n), -3.5f) << "n " << n << " at " << at;
    }
  const std::vector<double> d{-1e300, -2.0, -1e-300};
  EXPECT_EQ(detail::max_of(d.data(), 3), -1e-300);
}

}  // namespace
}  // namespace strata::kernels::cpu
