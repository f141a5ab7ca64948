#include "kernels/cpu/crossentropy.h"

#include <cmath>
#include <stdexcept>

#include "tests/kernels/cpu/test_util.h"

namespace strata::kernels::cpu {
namespace {

using testing::Vec;

constexpr index_t N = 10, V = 7;  // N = B*S with B=2, S=5
// Two ignored rows: they must contribute neither loss nor gradient.
const std::vector<token_t> kTargets = {3, 0, kIgnoreTarget, 6, 2, 2, 5, kIgnoreTarget, 1, 4};

template <class T>
struct Forward {
  std::vector<T> losses, lse;
  double mean;
};

template <class T>
Forward<T> forward(const std::vector<T>& logits, const std::vector<token_t>& targets = kTargets) {
  const index_t n = static_cast<index_t>(targets.size());
  const index_t v = static_cast<index_t>(logits.size()) / n;
  Forward<T> f{std::vector<T>(n), std::vector<T>(n), 0.0};
  f.mean = crossentropy_forward(f.losses.data(), f.lse.data(), logits.data(), targets.data(), n, v);
  return f;
}

template <class T>
std::vector<T> backward(const std::vector<T>& logits, T scale,
                        const std::vector<token_t>& targets = kTargets) {
  const index_t n = static_cast<index_t>(targets.size());
  const index_t v = static_cast<index_t>(logits.size()) / n;
  const Forward<T> f = forward(logits, targets);
  std::vector<T> d(logits.size(), T{-5});  // garbage: must be overwritten
  crossentropy_backward(d.data(), logits.data(), f.lse.data(), targets.data(), scale, n, v);
  return d;
}

TEST(CrossEntropy, UniformLogitsGiveLogV) {
  const Forward<double> f = forward(Vec(N * V, 0.37));
  for (index_t n = 0; n < N; ++n)
    EXPECT_NEAR(f.losses[n], kTargets[n] == kIgnoreTarget ? 0.0 : std::log(double{V}), 1e-15);
  EXPECT_NEAR(f.mean, std::log(double{V}), 1e-15);
}

TEST(CrossEntropy, KnownAnswer) {
  // softmax(0, ln 2, ln 3) = (1/6, 2/6, 3/6): target 2 costs ln 2, target 0 ln 6.
  const Vec logits = {0, std::log(2.0), std::log(3.0), 0, std::log(2.0), std::log(3.0)};
  const Forward<double> f = forward(logits, {2, 0});
  EXPECT_NEAR(f.losses[0], std::log(2.0), 1e-15);
  EXPECT_NEAR(f.losses[1], std::log(6.0), 1e-15);
  EXPECT_NEAR(f.mean, 0.5 * (std::log(2.0) + std::log(6.0)), 1e-15);
  const Vec d = backward(logits, 1.0, {2, 0});
  const Vec expect = {1.0 / 6, 2.0 / 6, 3.0 / 6 - 1, 1.0 / 6 - 1, 2.0 / 6, 3.0 / 6};
  for (std::size_t i = 0; i < d.size(); ++i) EXPECT_NEAR(d[i], expect[i], 1e-15);
}

TEST(CrossEntropy, StableForHugeLogits) {
  // exp(200) overflows float, exp(1000) double: the max must be subtracted.
  const std::vector<float> flogits = {200.f, 0.f, -200.f, 200.f, 0.f, -200.f};
  const Forward<float> f = forward(flogits, {0, 1});
  EXPECT_NEAR(f.losses[0], 0.0f, 1e-6f);
  EXPECT_NEAR(f.losses[1], 200.0f, 1e-4f);
  const Forward<double> d = forward(Vec{1000, 0, -1000}, {2});
  EXPECT_NEAR(d.losses[0], 2000.0, 1e-9);
  for (float g : backward(flogits, 1.0f, {0, 1})) EXPECT_TRUE(std::isfinite(g));
}

TEST(CrossEntropy, BackwardOfMeanMatchesFiniteDifferences) {
  Vec logits = testing::random_uniform(N * V, 1, -3.0, 3.0);
  const double scale = 1.0 / static_cast<double>(crossentropy_count_valid(kTargets.data(), N));
  const Vec d = backward(logits, scale);
  auto loss = [&] { return forward(logits).mean; };
  testing::expect_grad_near(d, testing::numeric_grad(logits, loss), "dlogits");
}

TEST(CrossEntropy, IgnoredRowsHaveZeroLossAndGradient) {
  const Vec logits = testing::random_uniform(N * V, 2, -3.0, 3.0);
  const Forward<double> f = forward(logits);
  const Vec d = backward(logits, 0.125);
  for (index_t n = 0; n < N; ++n) {
    if (kTargets[n] != kIgnoreTarget) continue;
    EXPECT_EQ(f.losses[n], 0.0);
    for (index_t j = 0; j < V; ++j) EXPECT_EQ(d[n * V + j], 0.0);
  }
  EXPECT_EQ(crossentropy_count_valid(kTargets.data(), N), 8);
}

TEST(CrossEntropy, AllIgnoredMeanIsNaN) {
  EXPECT_TRUE(std::isnan(forward(Vec(2 * V, 0.0), {kIgnoreTarget, kIgnoreTarget}).mean));
}

TEST(CrossEntropy, InPlaceEqualsSeparateBuffer) {
  const Vec logits = testing::random_uniform(N * V, 3, -3.0, 3.0);
  const Forward<double> f = forward(logits);
  Vec in_place = logits;
  crossentropy_backward(in_place.data(), in_place.data(), f.lse.data(), kTargets.data(), 0.25, N, V);
  EXPECT_EQ(in_place, backward(logits, 0.25));
}

TEST(CrossEntropy, RejectsOutOfRangeTargets) {
  const Vec logits(2 * V, 0.0);
  EXPECT_THROW(forward(logits, {0, static_cast<token_t>(V)}), std::invalid_argument);
  EXPECT_THROW(forward(logits, {-2, 0}), std::invalid_argument);
}

TEST(CrossEntropy, FloatMatchesDouble) {
  const Vec logits = testing::random_uniform(N * V, 4, -5.0, 5.0);
  const auto flogits = testing::convert<float>(logits);
  const Forward<double> d = forward(logits);
  const Forward<float> f = forward(flogits);
  testing::expect_float_matches_double(f.losses, d.losses, "losses");
  EXPECT_NEAR(f.mean, d.mean, 1e-6);
  testing::expect_float_matches_double(backward(flogits, 0.1f), backward(logits, 0.1), "dlogits");
}

TEST(CrossEntropy, MeanIsThreadCountInvariant) {
  constexpr index_t n = 20000, v = 8;
  const auto logits = testing::convert<float>(testing::random_uniform(n * v, 5, -4.0, 4.0));
  std::vector<token_t> targets(n);
  for (index_t i = 0; i < n; ++i) targets[i] = static_cast<token_t>(i % 9) - 1;
  testing::expect_thread_invariant([&] {
    const Forward<float> f = forward(logits, targets);
    return Vec{f.mean};
  }, "mean");
}

}  // namespace
}  // namespace strata::kernels::cpu
