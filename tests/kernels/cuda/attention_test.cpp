// GPU attention (cuBLAS products + fused masked softmax) against the CPU kernel, which
// computes everything in fp32 with exact (unrounded) probabilities.
#include <gtest/gtest.h>

#include <omp.h>

#include "kernels/cpu/attention.h"
#include "kernels/cuda/attention.h"
#include "tests/kernels/cuda/gpu_test_util.h"

namespace strata::kernels::cuda::testing {
namespace {

namespace kc = kernels::cpu;

// Probabilities: one bf16 rounding of an fp32 softmax.
constexpr Bound kProbs{kBf16Ulp, 1e-6, 4e-3};
// Outputs go through two roundings (P to bf16, then P·V to bf16), and each output sums
// S rounded terms, so the error is normwise ~2^-8; elementwise it is relative to the
// row's scale, hence the atol.
constexpr Bound kOut{3e-2, 1e-2, 1e-2};
// Gradients chain more bf16 roundings (dY, P, dS = P·(dP - rowdot) which cancels,
// then dS·K and dS^T·Q): 2% normwise.
constexpr Bound kGrad{1e-1, 3e-2, 2e-2};

struct Shape {
  index_t B, S, C, NH;
};

class CudaAttention : public ::testing::TestWithParam<Shape> {};

TEST_P(CudaAttention, ForwardBackwardAndProbabilitiesMatchCpu) {
  const auto [B, S, C, NH] = GetParam();
  std::printf("  shape B=%lld S=%lld C=%lld NH=%lld\n", static_cast<long long>(B), static_cast<long long>(S),
              static_cast<long long>(C), static_cast<long long>(NH));
  const index_t N = B * S;
  const std::vector<float> qkv = random_bf16_exact(N * 3 * C, 1, -2.0f, 2.0f);
  const std::vector<float> dout = random_bf16_exact(N * C, 2);

  const kc::AttentionShape csh{B, S, C, NH};
  const int threads = omp_get_max_threads();
  std::vector<float> scratch(kc::attention_scratch_elems(csh, threads));
  std::vector<float> out(N * C), lse(B * NH * S), probs(B * NH * S * S), dqkv(N * 3 * C, 0.0f);
  kc::attention_forward(out.data(), lse.data(), probs.data(), qkv.data(), csh, scratch.data(), threads);
  kc::attention_backward(dqkv.data(), static_cast<float*>(nullptr), dout.data(), qkv.data(), lse.data(), csh, scratch.data(), threads);

  // Whole S x S products (1 block), and the causal blocking (uneven 3, and 8 blocks), which
  // leaves the masked blocks of the fp32 scratch unwritten: the poisoned scratch (NaN)
  // shows any read of them.
  for (const index_t blocks : {index_t{1}, index_t{3}, index_t{8}}) {
    const AttentionShape gsh{B, S, C, NH, blocks};
    const std::string tag = " (causal blocks " + std::to_string(blocks) + ")";
    std::printf("  [check] path: causal blocks %lld (clamped to S = %lld)\n", static_cast<long long>(blocks),
                static_cast<long long>(S));
    cuda::Blas blas(nullptr, nullptr, 0);
    DeviceArray<bf16> d_qkv(to_bf16(qkv)), d_out(N * C), d_probs(B * NH * S * S), d_dout(to_bf16(dout)),
        d_dqkv(N * 3 * C);
    DeviceArray<char> d_scratch(attention_scratch_bytes(gsh));
    attention_forward(blas, d_out.get(), d_probs.get(), d_qkv.get(), gsh, d_scratch.get());
    sync();
    d_scratch.poison();  // the backward must not depend on the forward's scratch
    attention_backward(blas, d_dqkv.get(), d_dout.get(), d_qkv.get(), d_probs.get(), gsh, d_scratch.get());
    sync();

    const std::vector<float> gpu_probs = to_float(d_probs.download());
    expect_close("attention probs" + tag, gpu_probs, probs, kProbs);
    // Causality is exact: nothing above the diagonal, and every row sums to 1.
    double worst_row = 0.0;
    index_t above = 0;
    for (index_t r = 0; r < B * NH * S; ++r) {
      const index_t i = r % S;
      double sum = 0.0;
      for (index_t j = 0; j < S; ++j) {
        const float p = gpu_probs[r * S + j];
        if (j > i && p != 0.0f) ++above;
        sum += p;
      }
      worst_row = std::max(worst_row, std::fabs(sum - 1.0));
    }
    std::printf("  [check] attention probs%s: %lld non-zero above the diagonal, worst |row sum - 1| = %.3g\n",
                tag.c_str(), static_cast<long long>(above), worst_row);
    EXPECT_EQ(above, 0);
    EXPECT_LE(worst_row, 0.02);  // bf16 probabilities each off by up to 2^-9 relative
    expect_close("attention out" + tag, to_float(d_out.download()), out, kOut);
    const std::vector<float> g = to_float(d_dqkv.download());
    // q, k and v parts separately: a bug in one of the three products shows by name.
    for (int part = 0; part < 3; ++part) {
      std::vector<float> gp, rp;
      for (index_t n = 0; n < N; ++n)
        for (index_t c = 0; c < C; ++c) {
          gp.push_back(g[n * 3 * C + part * C + c]);
          rp.push_back(dqkv[n * 3 * C + part * C + c]);
        }
      expect_close(std::string("attention d") + "qkv"[part] + tag, gp, rp, kGrad);
    }
  }
}

// HS = 16 with S = 70 (no multiple of the warp); GPT-2's HS = 64 with S = 128; S = 1.
INSTANTIATE_TEST_SUITE_P(Shapes, CudaAttention,
                         ::testing::Values(Shape{2, 70, 64, 4}, Shape{1, 128, 192, 3}, Shape{3, 1, 32, 2}));

}  // namespace
}  // namespace strata::kernels::cuda::testing
