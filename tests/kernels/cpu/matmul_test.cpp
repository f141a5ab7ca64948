#include "kernels/cpu/matmul.h"

#include <bit>
#include <cstdint>
#include <limits>

#include "tests/kernels/cpu/test_util.h"

namespace strata::kernels::cpu {
namespace {

using testing::Vec;

constexpr index_t N = 10, C = 8, OC = 6;  // N = B*S with B=2, S=5

template <class T>
std::vector<T> forward(const std::vector<T>& inp, const std::vector<T>& w,
                       const T* bias, index_t n = N, index_t c = C, index_t oc = OC) {
  std::vector<T> out(n * oc, T{-7});  // garbage: the forward must overwrite
  matmul_forward(out.data(), inp.data(), w.data(), bias, n, c, oc);
  return out;
}

TEST(Matmul, KnownAnswerWithBias) {
  // inp [2,3], W [2,3] (nn.Linear layout), bias [2]
  const Vec inp = {1, 2, 3, 4, 5, 6};
  const Vec w = {1, 0, -1, 2, 1, 0};
  const Vec bias = {0.5, -1};
  const Vec out = forward(inp, w, bias.data(), 2, 3, 2);
  // row0: [1-3, 2+2] + bias; row1: [4-6, 8+5] + bias
  EXPECT_EQ(out, (Vec{-1.5, 3, -1.5, 12}));
}

TEST(Matmul, NullBiasOverwritesOutput) {
  const Vec inp = {1, 2, 3, 4, 5, 6};
  const Vec w = {1, 0, -1, 2, 1, 0};
  EXPECT_EQ(forward(inp, w, static_cast<const double*>(nullptr), 2, 3, 2),
            (Vec{-2, 4, -2, 13}));
}

TEST(Matmul, BackwardMatchesFiniteDifferences) {
  Vec inp = testing::random_uniform(N * C, 1), w = testing::random_uniform(OC * C, 2),
      bias = testing::random_uniform(OC, 3);
  const Vec r = testing::random_uniform(N * OC, 4);
  Vec dinp(N * C, 0.0), dw(OC * C, 0.0), db(OC, 0.0);
  matmul_backward(dinp.data(), dw.data(), db.data(), r.data(), inp.data(), w.data(), N, C, OC);

  auto loss = [&] { return testing::project(forward(inp, w, bias.data()), r); };
  testing::expect_grad_near(dinp, testing::numeric_grad(inp, loss), "dinp");
  testing::expect_grad_near(dw, testing::numeric_grad(w, loss), "dweight");
  testing::expect_grad_near(db, testing::numeric_grad(bias, loss), "dbias");
}

TEST(Matmul, BackwardAccumulatesAndSkipsNullOutputs) {
  const Vec inp = testing::random_uniform(N * C, 5), w = testing::random_uniform(OC * C, 6),
            dout = testing::random_uniform(N * OC, 7);
  Vec dinp0(N * C, 0.0), dw0(OC * C, 0.0), db0(OC, 0.0);
  matmul_backward(dinp0.data(), dw0.data(), db0.data(), dout.data(), inp.data(), w.data(), N, C, OC);

  Vec dinp = testing::random_uniform(N * C, 8), dw = testing::random_uniform(OC * C, 9),
      db = testing::random_uniform(OC, 10);
  const Vec dinp_init = dinp, dw_init = dw, db_init = db;
  matmul_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  for (index_t i = 0; i < N * C; ++i) EXPECT_NEAR(dinp[i], dinp_init[i] + dinp0[i], 1e-14);
  for (index_t i = 0; i < OC * C; ++i) EXPECT_NEAR(dw[i], dw_init[i] + dw0[i], 1e-14);
  for (index_t i = 0; i < OC; ++i) EXPECT_NEAR(db[i], db_init[i] + db0[i], 1e-14);

  Vec dw_only = dw_init;  // null dinp and dbias: only dweight is touched
  matmul_backward<double>(nullptr, dw_only.data(), nullptr, dout.data(), inp.data(), w.data(), N, C, OC);
  for (index_t i = 0; i < OC * C; ++i) EXPECT_NEAR(dw_only[i], dw_init[i] + dw0[i], 1e-14);
}

TEST(Matmul, FloatMatchesDouble) {
  const Vec inp = testing::random_uniform(N * C, 9), w = testing::random_uniform(OC * C, 10),
            bias = testing::random_uniform(OC, 11), dout = testing::random_uniform(N * OC, 12);
  const auto fi = testing::convert<float>(inp), fw = testing::convert<float>(w),
             fb = testing::convert<float>(bias), fdout = testing::convert<float>(dout);
  testing::expect_float_matches_double(forward(fi, fw, fb.data()), forward(inp, w, bias.data()), "out");
  Vec dinp(N * C, 0.0), dw(OC * C, 0.0), db(OC, 0.0);
  std::vector<float> fdinp(N * C, 0.f), fdw(OC * C, 0.f), fdb(OC, 0.f);
  matmul_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  matmul_backward(fdinp.data(), fdw.data(), fdb.data(), fdout.data(), fi.data(), fw.data(), N, C, OC);
  testing::expect_float_matches_double(fdinp, dinp, "dinp");
  testing::expect_float_matches_double(fdw, dw, "dweight");
  testing::expect_float_matches_double(fdb, db, "dbias");
}

TEST(Matmul, BiasGradientIsThreadCountInvariant) {
  constexpr index_t n = 1024, c = 4, oc = 100;
  const auto inp = testing::convert<float>(testing::random_uniform(n * c, 13));
  const auto w = testing::convert<float>(testing::random_uniform(oc * c, 14));
  const auto dout = testing::convert<float>(testing::random_uniform(n * oc, 15));
  testing::expect_thread_invariant([&] {
    std::vector<float> dw(oc * c, 0.f), db(oc, 0.f);
    matmul_backward<float>(nullptr, dw.data(), db.data(), dout.data(), inp.data(), w.data(), n, c, oc);
    return db;
  }, "dbias");
}

// On two threads a small layer's dinp and dweight products run side by side, one single-
// threaded call each, so they must give exactly the one-thread bits, every output. (OpenBLAS's
// own multi-threaded split changes the last bits, so 3 threads are not compared here.)
TEST(Matmul, SideBySideBackwardOnTwoThreadsEqualsOneThreadBitwise) {
  constexpr index_t n = 512, c = 64, oc = 96;
  const auto inp = testing::convert<float>(testing::random_uniform(n * c, 16));
  const auto w = testing::convert<float>(testing::random_uniform(oc * c, 17));
  const auto dout = testing::convert<float>(testing::random_uniform(n * oc, 18));
  auto run = [&] {
    std::vector<float> out(n * c, 0.5f);  // dinp, then dweight, then dbias, all accumulated into
    out.resize(n * c + oc * c + oc, 0.25f);
    matmul_backward<float>(out.data(), out.data() + n * c, out.data() + n * c + oc * c, dout.data(),
                           inp.data(), w.data(), n, c, oc);
    return out;
  };
  const auto one = testing::with_threads(1, run), two = testing::with_threads(2, run);
  ASSERT_EQ(one.size(), two.size());
  for (std::size_t i = 0; i < one.size(); ++i)
    ASSERT_EQ(one[i], two[i]) << "element " << i << " differs between 1 and 2 threads";
}

// InputGrad::kWrite replaces whatever dinp held (NaN here) with exactly the bits that
// accumulating into zeros gives (a zero-fill, then the same products); dweight and dbias
// still accumulate. Both paths: the side-by-side one (a small layer on two threads) and the
// usual one (one thread, and a layer over its bound).
TEST(Matmul, WrittenInputGradientEqualsAccumulatedIntoZeros) {
  struct Case {
    index_t n, c, oc;
    int threads;
  };
  for (const Case k : {Case{512, 64, 96, 2}, Case{512, 64, 96, 1}, Case{2048, 384, 512, 2}}) {
    const auto inp = testing::convert<float>(testing::random_uniform(k.n * k.c, 19));
    const auto w = testing::convert<float>(testing::random_uniform(k.oc * k.c, 20));
    const auto dout = testing::convert<float>(testing::random_uniform(k.n * k.oc, 21));
    auto run = [&](float dinp_init, InputGrad mode) {
      std::vector<float> out(k.n * k.c, dinp_init);  // dinp, then dweight and dbias
      out.resize(k.n * k.c + k.oc * k.c + k.oc, 0.25f);
      matmul_backward<float>(out.data(), out.data() + k.n * k.c, out.data() + k.n * k.c + k.oc * k.c,
                             dout.data(), inp.data(), w.data(), k.n, k.c, k.oc, mode);
      return out;
    };
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const auto accumulated =
        testing::with_threads(k.threads, [&] { return run(0.f, InputGrad::kAccumulate); });
    const auto written = testing::with_threads(k.threads, [&] { return run(nan, InputGrad::kWrite); });
    ASSERT_EQ(written.size(), accumulated.size());
    for (std::size_t i = 0; i < written.size(); ++i)
      ASSERT_EQ(std::bit_cast<std::uint32_t>(written[i]), std::bit_cast<std::uint32_t>(accumulated[i]))
          << "element " << i << ", N " << k.n << " C " << k.c << " OC " << k.oc << ", " << k.threads
          << " threads";
  }
}

}  // namespace
}  // namespace strata::kernels::cpu
