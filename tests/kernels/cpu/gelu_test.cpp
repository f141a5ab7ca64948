#include "kernels/cpu/gelu.h"

#include <cmath>

#include "tests/kernels/cpu/test_util.h"

namespace strata::kernels::cpu {
namespace {

using testing::Vec;

constexpr index_t kN = 2 * 5 * 8;  // B*S*C

template <class T>
std::vector<T> forward(const std::vector<T>& x) {
  std::vector<T> out(x.size());
  gelu_forward(out.data(), x.data(), static_cast<index_t>(x.size()));
  return out;
}

// Reference values of 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))),
// evaluated independently in Python's math module.
TEST(Gelu, KnownValues) {
  const Vec x = {0.0, 1.0, -1.0, 3.0, -3.0, 0.5};
  const Vec expect = {0.0, 0.8411919906082768, -0.15880800939172324, 2.996362607918227,
                      -0.0036373920817729943, 0.34571400982514394};
  const Vec out = forward(x);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(out[i], expect[i], 1e-15) << x[i];
}

TEST(Gelu, ForwardInPlace) {
  const Vec x = testing::random_uniform(kN, 1, -4.0, 4.0);
  Vec y = x;
  gelu_forward(y.data(), y.data(), kN);
  EXPECT_EQ(y, forward(x));
}

TEST(Gelu, BackwardMatchesFiniteDifferences) {
  Vec x = testing::random_uniform(kN, 2, -4.0, 4.0);
  const Vec r = testing::random_uniform(kN, 3);
  Vec dx(kN, 0.0);
  gelu_backward(dx.data(), x.data(), r.data(), kN);
  auto loss = [&] { return testing::project(forward(x), r); };
  testing::expect_grad_near(dx, testing::numeric_grad(x, loss), "dinp");
}

TEST(Gelu, BackwardAccumulates) {
  const Vec x = testing::random_uniform(kN, 4, -4.0, 4.0), dout = testing::random_uniform(kN, 5);
  Vec d0(kN, 0.0), d = testing::random_uniform(kN, 6);
  const Vec init = d;
  gelu_backward(d0.data(), x.data(), dout.data(), kN);
  gelu_backward(d.data(), x.data(), dout.data(), kN);
  for (index_t i = 0; i < kN; ++i) EXPECT_NEAR(d[i], init[i] + d0[i], 1e-15);
}

TEST(Gelu, BackwardWithoutAccumulateOverwrites) {
  const Vec x = testing::random_uniform(kN, 9, -4.0, 4.0), dout = testing::random_uniform(kN, 10);
  Vec zero_then_add(kN, 0.0), written(kN, std::nan(""));
  gelu_backward(zero_then_add.data(), x.data(), dout.data(), kN);
  gelu_backward(written.data(), x.data(), dout.data(), kN, /*accumulate=*/false);
  EXPECT_EQ(written, zero_then_add);
  // In place over dout, as the argument list allows.
  Vec in_place = dout;
  gelu_backward(in_place.data(), x.data(), in_place.data(), kN, /*accumulate=*/false);
  EXPECT_EQ(in_place, zero_then_add);
}

TEST(Gelu, FloatMatchesDouble) {
  const Vec x = testing::random_uniform(kN, 7, -6.0, 6.0), dout = testing::random_uniform(kN, 8);
  const auto fx = testing::convert<float>(x), fdout = testing::convert<float>(dout);
  testing::expect_float_matches_double(forward(fx), forward(x), "out");
  Vec d(kN, 0.0);
  std::vector<float> fd(kN, 0.f);
  gelu_backward(d.data(), x.data(), dout.data(), kN);
  gelu_backward(fd.data(), fx.data(), fdout.data(), kN);
  testing::expect_float_matches_double(fd, d, "dinp");
}

// The float path computes the gate as a sigmoid with its own vectorisable exp; sweep it
// densely against double std::tanh, including where exp clamps (|x| beyond about 10), and
// values near zero.
TEST(Gelu, FloatTanhIsAccurateEverywhere) {
  std::vector<float> xf;
  for (double x = -12.0; x <= 12.0; x += 1e-3) xf.push_back(static_cast<float>(x));
  for (float tiny : {1e-30f, -1e-30f, 1e-8f, -1e-8f, 0.0f}) xf.push_back(tiny);
  std::vector<float> out(xf.size());
  gelu_forward(out.data(), xf.data(), static_cast<index_t>(xf.size()));
  for (size_t i = 0; i < xf.size(); ++i) {
    const double x = xf[i];
    const double want = 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    ASSERT_NEAR(out[i], want, 5e-7 * std::max(1.0, std::abs(x))) << "x = " << x;
  }
}

}  // namespace
}  // namespace strata::kernels::cpu
