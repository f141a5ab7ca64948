#include "kernels/cpu/layernorm.h"

#include "tests/kernels/cpu/test_util.h"

namespace strata::kernels::cpu {
namespace {

using testing::Vec;

constexpr index_t N = 10, C = 8;  // N = B*S with B=2, S=5

template <class T>
struct Fwd {
  std::vector<T> out, mean, rstd;
};

template <class T>
Fwd<T> forward(const std::vector<T>& inp, const std::vector<T>& w,
               const std::vector<T>& b, index_t n = N, index_t c = C) {
  Fwd<T> f{std::vector<T>(n * c), std::vector<T>(n), std::vector<T>(n)};
  layernorm_forward(f.out.data(), f.mean.data(), f.rstd.data(), inp.data(),
                    w.data(), b.data(), n, c);
  return f;
}

// Shifted/scaled input so the two-pass statistics have something to do.
Vec test_input(std::uint64_t seed, index_t n = N, index_t c = C) {
  return testing::random_uniform(n * c, seed, 2.0, 5.0);
}

TEST(LayerNorm, UnitWeightGivesZeroMeanUnitVariance) {
  const Vec inp = test_input(1);
  const Fwd<double> f = forward(inp, Vec(C, 1.0), Vec(C, 0.0));
  for (index_t n = 0; n < N; ++n) {
    double m = 0.0, m_out = 0.0, var_in = 0.0, var_out = 0.0;
    for (index_t c = 0; c < C; ++c) m += inp[n * C + c] / C;
    for (index_t c = 0; c < C; ++c) m_out += f.out[n * C + c] / C;
    for (index_t c = 0; c < C; ++c) {
      var_in += (inp[n * C + c] - m) * (inp[n * C + c] - m) / C;
      var_out += f.out[n * C + c] * f.out[n * C + c] / C;
    }
    EXPECT_NEAR(m_out, 0.0, 1e-12);
    // Exactly var/(var+eps) because of eps; ~1.
    EXPECT_NEAR(var_out, var_in / (var_in + kLayerNormEps), 1e-12);
    EXPECT_NEAR(var_out, 1.0, 1e-3);
    EXPECT_NEAR(f.mean[n], m, 1e-12);
    EXPECT_NEAR(f.rstd[n], 1.0 / std::sqrt(var_in + kLayerNormEps), 1e-9);
  }
}

TEST(LayerNorm, AppliesWeightAndBias) {
  const Vec inp = test_input(2), w = testing::random_uniform(C, 3),
            b = testing::random_uniform(C, 4);
  const Fwd<double> plain = forward(inp, Vec(C, 1.0), Vec(C, 0.0));
  const Fwd<double> f = forward(inp, w, b);
  for (index_t i = 0; i < N * C; ++i)
    EXPECT_NEAR(f.out[i], plain.out[i] * w[i % C] + b[i % C], 1e-14);
}

TEST(LayerNorm, BackwardMatchesFiniteDifferences) {
  Vec inp = test_input(5), w = testing::random_uniform(C, 6),
      b = testing::random_uniform(C, 7);
  const Vec r = testing::random_uniform(N * C, 8);
  const Fwd<double> f = forward(inp, w, b);
  Vec dinp(N * C, 0.0), dw(C, 0.0), db(C, 0.0);
  layernorm_backward(dinp.data(), dw.data(), db.data(), r.data(), inp.data(),
                     w.data(), f.mean.data(), f.rstd.data(), N, C);

  auto loss = [&] { return testing::project(forward(inp, w, b).out, r); };
  testing::expect_grad_near(dinp, testing::numeric_grad(inp, loss), "dinp");
  testing::expect_grad_near(dw, testing::numeric_grad(w, loss), "dweight");
  testing::expect_grad_near(db, testing::numeric_grad(b, loss), "dbias");
}

TEST(LayerNorm, BackwardAccumulatesIntoExistingGradients) {
  const Vec inp = test_input(9), w = testing::random_uniform(C, 10),
            b = testing::random_uniform(C, 11), dout = testing::random_uniform(N * C, 12);
  const Fwd<double> f = forward(inp, w, b);
  Vec dinp0(N * C, 0.0), dw0(C, 0.0), db0(C, 0.0);
  layernorm_backward(dinp0.data(), dw0.data(), db0.data(), dout.data(), inp.data(),
                     w.data(), f.mean.data(), f.rstd.data(), N, C);
  Vec dinp = testing::random_uniform(N * C, 13), dw = testing::random_uniform(C, 14),
      db = testing::random_uniform(C, 15);
  const Vec dinp_init = dinp, dw_init = dw, db_init = db;
  layernorm_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(),
                     w.data(), f.mean.data(), f.rstd.data(), N, C);
  for (index_t i = 0; i < N * C; ++i) EXPECT_NEAR(dinp[i], dinp_init[i] + dinp0[i], 1e-14);
  for (index_t c = 0; c < C; ++c) {
    EXPECT_NEAR(dw[c], dw_init[c] + dw0[c], 1e-14);
    EXPECT_NEAR(db[c], db_init[c] + db0[c], 1e-14);
  }
}

TEST(LayerNorm, FloatMatchesDouble) {
  const Vec inp = test_input(16), w = testing::random_uniform(C, 17),
            b = testing::random_uniform(C, 18), dout = testing::random_uniform(N * C, 19);
  const Fwd<double> fd = forward(inp, w, b);
  const auto fi = testing::convert<float>(inp), fw = testing::convert<float>(w),
             fb = testing::convert<float>(b), fdout = testing::convert<float>(dout);
  const Fwd<float> ff = forward(fi, fw, fb);
  testing::expect_float_matches_double(ff.out, fd.out, "out");

  Vec dinp(N * C, 0.0), dw(C, 0.0), db(C, 0.0);
  std::vector<float> fdinp(N * C, 0.f), fdw(C, 0.f), fdb(C, 0.f);
  layernorm_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(),
                     w.data(), fd.mean.data(), fd.rstd.data(), N, C);
  layernorm_backward(fdinp.data(), fdw.data(), fdb.data(), fdout.data(), fi.data(),
                     fw.data(), ff.mean.data(), ff.rstd.data(), N, C);
  testing::expect_float_matches_double(fdinp, dinp, "dinp", 1e-4, 1e-5);
  testing::expect_float_matches_double(fdw, dw, "dweight", 1e-4, 1e-5);
  testing::expect_float_matches_double(fdb, db, "dbias");
}

TEST(LayerNorm, BackwardIsThreadCountInvariant) {
  constexpr index_t n = 512, c = 96;
  const auto inp = testing::convert<float>(test_input(20, n, c));
  const auto w = testing::convert<float>(testing::random_uniform(c, 21));
  const auto b = testing::convert<float>(testing::random_uniform(c, 22));
  const auto dout = testing::convert<float>(testing::random_uniform(n * c, 23));
  const Fwd<float> f = forward(inp, w, b, n, c);
  testing::expect_thread_invariant([&] {
    std::vector<float> dinp(n * c, 0.f), dw(c, 0.f), db(c, 0.f);
    layernorm_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(),
                       w.data(), f.mean.data(), f.rstd.data(), n, c);
    dinp.insert(dinp.end(), dw.begin(), dw.end());
    dinp.insert(dinp.end(), db.begin(), db.end());
    return dinp;
  }, "dinp|dweight|dbias");
}

}  // namespace
}  // namespace strata::kernels::cpu
