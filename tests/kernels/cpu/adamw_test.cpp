#include "kernels/cpu/adamw.h"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "tests/kernels/cpu/test_util.h"

namespace strata::kernels::cpu {
namespace {

using testing::Vec;

const AdamWHyper kHp{0.1, 0.9, 0.999, 1e-8, 0.1};  // lr, beta1, beta2, eps, wd
const std::vector<DecayRange> kDecayFirstTwo = {{0, 2}};

template <class T>
struct State {
  std::vector<T> p, m, v;
};

template <class T>
State<T> two_steps(const std::vector<DecayRange>& ranges = kDecayFirstTwo) {
  State<T> s{{T(1.0), T(-2.0), T(0.5)}, std::vector<T>(3, T{0}), std::vector<T>(3, T{0})};
  const std::vector<std::vector<T>> grads = {{T(0.1), T(-0.2), T(0.3)},
                                             {T(-0.05), T(0.4), T(0.0)}};
  for (index_t step = 1; step <= 2; ++step)
    adamw_step(s.p.data(), grads[step - 1].data(), s.m.data(), s.v.data(), 3, kHp, step, ranges);
  return s;
}

// Element 0 by hand (decayed):
//  step 1: p = 1*(1 - 0.1*0.1) = 0.99; m = 0 + 0.1*(0.1 - 0) = 0.01;
//          v = 0.001*0.1^2 = 1e-5; bc1 = 0.1, bc2 = 0.001;
//          p = 0.99 - (0.1/0.1) * 0.01 / (sqrt(1e-5)/sqrt(1e-3) + 1e-8)
//            = 0.99 - 0.01/0.10000001 = 0.89000001
//  step 2: p = 0.89000001*0.99; m = 0.01 + 0.1*(-0.05 - 0.01) = 0.004;
//          v = 0.999e-5 + 0.001*0.0025 = 1.249e-5; bc1 = 0.19, bc2 = 0.001999;
//          p -= (0.1/0.19) * 0.004 / (sqrt(1.249e-5)/sqrt(0.001999) + 1e-8)
//            = 0.8544663093...
// Elements 1 (decayed) and 2 (outside the decay range) with the same
// arithmetic, evaluated in double (Python floats).
TEST(AdamW, TwoStepsMatchHandComputation) {
  const State<double> s = two_steps<double>();
  const Vec p = {0.8544663093033908, -1.897810356496037, 0.33299418107915446};
  const Vec m = {0.004, 0.022, 0.026999999999999993};
  const Vec v = {1.2490000000000014e-05, 0.00019996000000000022, 8.991000000000008e-05};
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(s.p[i], p[i], 1e-14) << i;
    EXPECT_NEAR(s.m[i], m[i], 1e-15) << i;
    EXPECT_NEAR(s.v[i], v[i], 1e-18) << i;
  }
}

TEST(AdamW, DecayOnlyInsideRanges) {
  const State<double> none = two_steps<double>({}), all = two_steps<double>({{0, 3}});
  const State<double> first_two = two_steps<double>();
  EXPECT_EQ(first_two.p[2], none.p[2]);
  EXPECT_EQ(first_two.p[0], all.p[0]);
  EXPECT_NE(first_two.p[0], none.p[0]);
  // Decay shrinks |p| (decoupled, before the Adam update).
  EXPECT_LT(std::abs(all.p[2]), std::abs(none.p[2]));
}

TEST(AdamW, FloatMatchesDouble) {
  const State<float> f = two_steps<float>();
  const State<double> d = two_steps<double>();
  testing::expect_float_matches_double(f.p, d.p, "p");
  testing::expect_float_matches_double(f.m, d.m, "m");
  testing::expect_float_matches_double(f.v, d.v, "v", 1e-5, 1e-10);
}

TEST(AdamW, LargeBufferIsThreadCountInvariantAndSegmentsCoverAll) {
  constexpr index_t n = 100003;
  const std::vector<DecayRange> ranges = {{10, 5000}, {5000, 5001}, {70000, n}};
  const auto g = testing::convert<float>(testing::random_uniform(n, 1));
  const auto p0 = testing::convert<float>(testing::random_uniform(n, 2));
  testing::expect_thread_invariant([&] {
    std::vector<float> p = p0, m(n, 0.f), v(n, 0.f);
    adamw_step(p.data(), g.data(), m.data(), v.data(), n, kHp, 1, ranges);
    return p;
  }, "param");
  std::vector<float> p = p0, m(n, 0.f), v(n, 0.f);
  adamw_step(p.data(), g.data(), m.data(), v.data(), n, kHp, 1, ranges);
  for (index_t i = 0; i < n; ++i) ASSERT_NE(p[i], p0[i]) << i;  // every element stepped
}

TEST(AdamW, RejectsBadArguments) {
  std::vector<double> p(4), g(4), m(4), v(4);
  auto step = [&](index_t t, std::vector<DecayRange> r) {
    adamw_step(p.data(), g.data(), m.data(), v.data(), 4, kHp, t, r);
  };
  EXPECT_THROW(step(0, {}), std::invalid_argument);
  EXPECT_THROW(step(1, {{2, 3}, {1, 2}}), std::invalid_argument);  // unsorted
  EXPECT_THROW(step(1, {{0, 3}, {2, 4}}), std::invalid_argument);  // overlap
  EXPECT_THROW(step(1, {{0, 5}}), std::invalid_argument);          // past n
}

TEST(GradNorm, ComputesL2InDouble) {
  const std::vector<float> g = {3.f, 0.f, -4.f};
  EXPECT_DOUBLE_EQ(grad_l2_norm(g.data(), 3), 5.0);
}

TEST(GradNorm, ClipScalesLikeTorch) {
  std::vector<double> g = {3.0, 0.0, -4.0};
  EXPECT_DOUBLE_EQ(clip_grad_norm(g.data(), 3, 1.0), 5.0);  // returns pre-clip norm
  const double coef = 1.0 / (5.0 + 1e-6);
  EXPECT_DOUBLE_EQ(g[0], 3.0 * coef);
  EXPECT_DOUBLE_EQ(g[2], -4.0 * coef);
  EXPECT_NEAR(grad_l2_norm(g.data(), 3), 1.0, 1e-6);
}

TEST(GradNorm, NoClipBelowMaxNorm) {
  std::vector<double> g = {3.0, 0.0, -4.0};
  EXPECT_DOUBLE_EQ(clip_grad_norm(g.data(), 3, 10.0), 5.0);
  EXPECT_EQ(g, (std::vector<double>{3.0, 0.0, -4.0}));
  // max_norm == norm: coef = 5/(5+1e-6) < 1, so torch still scales slightly.
  clip_grad_norm(g.data(), 3, 5.0);
  EXPECT_LT(g[0], 3.0);
}

TEST(GradNorm, ThreadCountInvariant) {
  constexpr index_t n = 1 << 20;
  const auto g = testing::convert<float>(testing::random_uniform(n, 3));
  testing::expect_thread_invariant([&] { return Vec{grad_l2_norm(g.data(), n)}; }, "norm");
  const double norm = grad_l2_norm(g.data(), n);
  double ref = 0.0;
  for (float x : g) ref += double{x} * x;
  EXPECT_NEAR(norm, std::sqrt(ref), 1e-12 * norm);
}

}  // namespace
}  // namespace strata::kernels::cpu
