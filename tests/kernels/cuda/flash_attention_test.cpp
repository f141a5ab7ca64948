// Fused (FlashAttention-style) GPU attention against the CPU kernel, which computes in fp32
// with exact probabilities. Shapes cover every supported head size, sequences that are not
// a multiple of the 64-row tile (the zero-padded rows and the masked keys beyond S), one
// token, and GPT-2's own head at S = 1024. Outputs are poisoned (NaN) before each launch, so
// an unwritten row shows.
#include <gtest/gtest.h>

#include <omp.h>

#include <cmath>

#include "kernels/cpu/attention.h"
#include "kernels/cuda/flash_attention.h"
#include "tests/kernels/cuda/gpu_test_util.h"

namespace strata::kernels::cuda::testing {
namespace {

namespace kc = kernels::cpu;

// The same bounds as the materialised path (attention_test.cpp): P rounded to bf16 once
// before P·V, the output rounded once; the gradients chain the roundings of dO, P and dS.
constexpr Bound kOut{3e-2, 1e-2, 1e-2};
constexpr Bound kGrad{1e-1, 3e-2, 2e-2};
// The log-sum-exp is all fp32 on both sides (sums in a different order).
constexpr Bound kLse{1e-4, 1e-5, 1e-5};

struct Shape {
  index_t B, S, C, NH;
};

class CudaFlashAttention : public ::testing::TestWithParam<Shape> {};

TEST_P(CudaFlashAttention, ForwardBackwardAndLogSumExpMatchCpu) {
  const auto [B, S, C, NH] = GetParam();
  std::printf("  shape B=%lld S=%lld C=%lld NH=%lld (head size %lld)\n", static_cast<long long>(B),
              static_cast<long long>(S), static_cast<long long>(C), static_cast<long long>(NH),
              static_cast<long long>(C / NH));
  const AttentionShape gsh{B, S, C, NH};
  ASSERT_TRUE(flash_attention_supported(gsh));
  const index_t N = B * S;
  const std::vector<float> qkv = random_bf16_exact(N * 3 * C, 3, -2.0f, 2.0f);
  const std::vector<float> dout = random_bf16_exact(N * C, 4);

  const kc::AttentionShape csh{B, S, C, NH};
  const int threads = omp_get_max_threads();
  std::vector<float> scratch(kc::attention_scratch_elems(csh, threads));
  std::vector<float> out(N * C), lse(B * NH * S), dqkv(N * 3 * C, 0.0f);
  kc::attention_forward(out.data(), lse.data(), static_cast<float*>(nullptr), qkv.data(), csh, scratch.data(),
                        threads);
  kc::attention_backward(dqkv.data(), static_cast<float*>(nullptr), dout.data(), qkv.data(), lse.data(), csh,
                         scratch.data(), threads);

  cuda::Blas blas(nullptr, nullptr, 0);
  DeviceArray<bf16> d_qkv(to_bf16(qkv)), d_out(N * C), d_dout(to_bf16(dout)), d_dqkv(N * 3 * C);
  DeviceArray<float> d_lse(B * NH * S);
  DeviceArray<char> d_scratch(flash_attention_scratch_bytes(gsh));
  flash_attention_forward(blas, d_out.get(), d_lse.get(), d_qkv.get(), gsh);
  sync();
  const std::vector<float> gpu_out = to_float(d_out.download());
  expect_close("flash attention out", gpu_out, out, kOut);
  // The device's lse is in base 2 (log2 of the sum of 2^(s * scale * log2 e)).
  std::vector<float> gpu_lse = d_lse.download();
  for (float& v : gpu_lse) v = static_cast<float>(v * std::log(2.0));
  expect_close("flash attention lse", gpu_lse, lse, kLse);

  // The backward reads the forward's own output (rounded to bf16), as the model does.
  flash_attention_backward(blas, d_dqkv.get(), d_dout.get(), d_qkv.get(), d_out.get(), d_lse.get(), gsh,
                           d_scratch.get());
  sync();
  const std::vector<float> g = to_float(d_dqkv.download());
  for (int part = 0; part < 3; ++part) {  // q, k and v apart: a bug in one kernel shows by name
    std::vector<float> gp, rp;
    for (index_t n = 0; n < N; ++n)
      for (index_t c = 0; c < C; ++c) {
        gp.push_back(g[n * 3 * C + part * C + c]);
        rp.push_back(dqkv[n * 3 * C + part * C + c]);
      }
    expect_close(std::string("flash attention d") + "qkv"[part], gp, rp, kGrad);
  }

  // Deterministic: no atomics, so a second backward is bit-identical.
  d_dqkv.poison();
  flash_attention_backward(blas, d_dqkv.get(), d_dout.get(), d_qkv.get(), d_out.get(), d_lse.get(), gsh,
                           d_scratch.get());
  sync();
  const std::vector<bf16> again = d_dqkv.download();
  index_t differ = 0;
  for (index_t i = 0; i < N * 3 * C; ++i) differ += to_float(again[i]) != g[i] && !(std::isnan(g[i]));
  std::printf("  [check] second backward: %lld of %lld values differ (want 0)\n", static_cast<long long>(differ),
              static_cast<long long>(N * 3 * C));
  EXPECT_EQ(differ, 0);
}

// HS 16 at S = 70 (two tiles, the second mostly padding); HS 64 at S = 128; one token; HS 128
// at S = 200; HS 32 at S = 130; GPT-2 (HS 64, 12 heads) at S = 1024.
INSTANTIATE_TEST_SUITE_P(Shapes, CudaFlashAttention,
                         ::testing::Values(Shape{2, 70, 64, 4}, Shape{1, 128, 192, 3}, Shape{3, 1, 32, 2},
                                           Shape{2, 200, 256, 2}, Shape{1, 130, 128, 4}, Shape{1, 1024, 768, 12}));

TEST(CudaFlashAttention, SaysWhichShapesItSupports) {
  EXPECT_TRUE(flash_attention_supported({16, 1024, 768, 12}));    // GPT-2: head size 64
  EXPECT_FALSE(flash_attention_supported({2, 16, 24, 3}));        // head size 8
  EXPECT_FALSE(flash_attention_supported({2, 16, 96 * 2, 2}));    // head size 96
  EXPECT_THROW(flash_attention_supported({2, 16, 10, 3}), std::invalid_argument);  // C % NH != 0
  cuda::Blas blas(nullptr, nullptr, 0);
  EXPECT_THROW(flash_attention_forward(blas, nullptr, nullptr, nullptr, {2, 16, 24, 3}), std::invalid_argument);
}

}  // namespace
}  // namespace strata::kernels::cuda::testing
