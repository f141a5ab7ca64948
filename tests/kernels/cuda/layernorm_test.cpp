// GPU LayerNorm against the CPU kernel.
#include <gtest/gtest.h>

#include <cstring>

#include "kernels/cpu/layernorm.h"
#include "kernels/cuda/layernorm.h"
#include "tests/kernels/cuda/gpu_test_util.h"

namespace strata::kernels::cuda::testing {
namespace {

namespace kc = kernels::cpu;

struct Shape {
  index_t N, C;
};

class CudaLayerNorm : public ::testing::TestWithParam<Shape> {};

TEST_P(CudaLayerNorm, ForwardAndBackwardMatchCpu) {
  const auto [N, C] = GetParam();
  std::printf("  shape N=%lld C=%lld\n", static_cast<long long>(N), static_cast<long long>(C));
  // Rows with a large offset and scale: the mean must really be subtracted.
  const std::vector<float> x = random_bf16_exact(N * C, 1, 1.0f, 5.0f);
  const std::vector<float> w = random_bf16_exact(C, 2, 0.5f, 1.5f), b = random_bf16_exact(C, 3, -0.5f, 0.5f);
  DeviceArray<bf16> d_x(to_bf16(x)), d_w(to_bf16(w)), d_b(to_bf16(b)), d_out(N * C);
  DeviceArray<float> d_mean(N), d_rstd(N);
  layernorm_forward(nullptr, d_out.get(), d_mean.get(), d_rstd.get(), d_x.get(), d_w.get(), d_b.get(), N, C);
  sync();
  std::vector<float> out(N * C), mean(N), rstd(N);
  kc::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C);
  // Statistics in fp32 against double-then-rounded: a few fp32 ulps.
  expect_close("layernorm mean", d_mean.download(), mean, {1e-5, 1e-6, 1e-6});
  expect_close("layernorm rstd", d_rstd.download(), rstd, {1e-4, 1e-6, 1e-5});
  expect_close("layernorm out", to_float(d_out.download()), out, {kBf16Ulp, 1e-4, 4e-3});

  // Backward accumulates into non-zero gradients.
  const std::vector<float> dout = random_bf16_exact(N * C, 4);
  std::vector<float> dinp = random_bf16_exact(N * C, 5), dw = random_floats(C, 6), db = random_floats(C, 7);
  DeviceArray<bf16> d_dout(to_bf16(dout)), d_dinp(to_bf16(dinp));
  DeviceArray<float> d_dw(dw), d_db(db), d_scratch(layernorm_backward_scratch_floats(N, C));
  layernorm_backward(nullptr, d_dinp.get(), d_dw.get(), d_db.get(), d_dout.get(), d_x.get(), d_w.get(), d_mean.get(),
                     d_rstd.get(), N, C, d_scratch.get());
  sync();
  kc::layernorm_backward(dinp.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), mean.data(), rstd.data(),
                         N, C);
  // dinp: one bf16 rounding of (old + delta); old + delta may cancel, hence the atol.
  expect_close("layernorm dinp", to_float(d_dinp.download()), dinp, {kBf16Ulp, 1e-3, 4e-3});
  // Parameter gradients: fp32 sums over N rows, in another order, from fp32 statistics.
  const std::vector<float> gpu_dw = d_dw.download();
  expect_close("layernorm dweight", gpu_dw, dw, {1e-3, 1e-4, 1e-4});
  expect_close("layernorm dbias", d_db.download(), db, {1e-3, 1e-4, 1e-4});

  // Deterministic: the same accumulation from the same state, the same bits.
  d_dw.upload(random_floats(C, 6));
  layernorm_backward(nullptr, d_dinp.get(), d_dw.get(), d_db.get(), d_dout.get(), d_x.get(), d_w.get(), d_mean.get(),
                     d_rstd.get(), N, C, d_scratch.get());
  sync();
  const std::vector<float> again = d_dw.download();
  EXPECT_EQ(0, std::memcmp(again.data(), gpu_dw.data(), again.size() * sizeof(float)))
      << "dweight not bitwise repeatable";
}

// C = 768 is GPT-2's width; C = 100 is not a multiple of the warp (nor of 8: the scalar
// kernels); N = 300 spans three row chunks of the parameter-gradient reduction, the last one
// partial; C = 64 leaves most lanes of the 16-byte path idle, C = 1024 is its widest row (4
// chunks per lane), and C = 1536 takes the scalar dinp kernel with the 16-byte column sums.
INSTANTIATE_TEST_SUITE_P(Shapes, CudaLayerNorm, ::testing::Values(Shape{300, 100}, Shape{257, 768}, Shape{1, 64},
                                                                   Shape{130, 1024}, Shape{33, 1536}));

}  // namespace
}  // namespace strata::kernels::cuda::testing
