#include "kernels/cpu/residual.h"

#include "tests/kernels/cpu/test_util.h"

namespace strata::kernels::cpu {
namespace {

using testing::Vec;

constexpr index_t kN = 2 * 5 * 8;  // B*S*C

template <class T>
std::vector<T> forward(const std::vector<T>& a, const std::vector<T>& b) {
  std::vector<T> out(a.size());
  residual_forward(out.data(), a.data(), b.data(), static_cast<index_t>(a.size()));
  return out;
}

TEST(Residual, ForwardAdds) {
  EXPECT_EQ(forward(Vec{1, -2, 3.5}, Vec{0.5, 2, -1}), (Vec{1.5, 0, 2.5}));
}

TEST(Residual, BackwardMatchesFiniteDifferences) {
  Vec a = testing::random_uniform(kN, 1), b = testing::random_uniform(kN, 2);
  const Vec r = testing::random_uniform(kN, 3);
  Vec da(kN, 0.0), db(kN, 0.0);
  residual_backward(da.data(), db.data(), r.data(), kN);
  auto loss = [&] { return testing::project(forward(a, b), r); };
  testing::expect_grad_near(da, testing::numeric_grad(a, loss), "da");
  testing::expect_grad_near(db, testing::numeric_grad(b, loss), "db");
}

TEST(Residual, BackwardAccumulatesIntoBoth) {
  const Vec dout = testing::random_uniform(kN, 4);
  Vec da = testing::random_uniform(kN, 5), db = testing::random_uniform(kN, 6);
  const Vec da0 = da, db0 = db;
  residual_backward(da.data(), db.data(), dout.data(), kN);
  for (index_t i = 0; i < kN; ++i) {
    EXPECT_EQ(da[i], da0[i] + dout[i]);
    EXPECT_EQ(db[i], db0[i] + dout[i]);
  }
}

TEST(Residual, FloatMatchesDouble) {
  const Vec a = testing::random_uniform(kN, 7), b = testing::random_uniform(kN, 8);
  testing::expect_float_matches_double(
      forward(testing::convert<float>(a), testing::convert<float>(b)), forward(a, b), "out");
}

}  // namespace
}  // namespace strata::kernels::cpu
