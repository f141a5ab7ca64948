// GPU fused softmax cross-entropy against the CPU kernel on the same bf16 logits.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/cpu/crossentropy.h"
#include "kernels/cuda/crossentropy.h"
#include "tests/kernels/cuda/gpu_test_util.h"

namespace strata::kernels::cuda::testing {
namespace {

namespace kc = kernels::cpu;

struct Shape {
  index_t N, V, ldv;
};

class CudaCrossEntropy : public ::testing::TestWithParam<Shape> {};

TEST_P(CudaCrossEntropy, ForwardMeanAndBackwardMatchCpu) {
  const auto [N, V, ldv] = GetParam();
  std::printf("  shape N=%lld V=%lld ldv=%lld\n", static_cast<long long>(N), static_cast<long long>(V),
              static_cast<long long>(ldv));
  std::vector<float> logits = random_bf16_exact(N * V, 1, -4.0f, 4.0f);
  for (index_t j = 0; j < V; ++j) logits[j] = round_to_bf16(logits[j] * 15.0f);  // row 0: logits of up to ±60
  std::mt19937_64 gen(2);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(V - 1));
  std::vector<int32_t> targets(N);
  for (int32_t& t : targets) t = tok(gen);
  targets[1] = kIgnoreTarget;
  if (N > 5) targets[N - 2] = kIgnoreTarget;
  const index_t valid = kc::crossentropy_count_valid(targets.data(), N);

  std::vector<float> padded(N * ldv, 0.0f);
  for (index_t n = 0; n < N; ++n)
    for (index_t j = 0; j < V; ++j) padded[n * ldv + j] = logits[n * V + j];
  DeviceArray<bf16> d_logits(to_bf16(padded)), d_dlogits(N * ldv);
  DeviceArray<int32_t> d_targets(targets);
  DeviceArray<float> d_losses(N), d_lse(N);
  DeviceArray<double> d_mean(1);
  crossentropy_forward(nullptr, d_losses.get(), d_lse.get(), d_logits.get(), d_targets.get(), N, V, ldv);
  crossentropy_mean(nullptr, d_mean.get(), d_losses.get(), N, 1.0 / static_cast<double>(valid));
  const float scale = 1.0f / static_cast<float>(valid);
  crossentropy_backward(nullptr, d_dlogits.get(), d_logits.get(), d_lse.get(), d_targets.get(), scale, N, V, ldv);
  sync();

  std::vector<float> losses(N), lse(N), dlogits(N * V);
  const double mean = kc::crossentropy_forward(losses.data(), lse.data(), logits.data(), targets.data(), N, V);
  kc::crossentropy_backward(dlogits.data(), logits.data(), lse.data(), targets.data(), scale, N, V);

  // fp32 exp-sums (tree-reduced) against double ones: ~1e-6 relative.
  expect_close("crossentropy losses", d_losses.download(), losses, {1e-5, 1e-6, 1e-5});
  expect_close("crossentropy lse", d_lse.download(), lse, {1e-5, 1e-6, 1e-5});
  const double gpu_mean = d_mean.download()[0];
  std::printf("  [check] crossentropy mean: gpu %.9g cpu %.9g rel err %.3g\n", gpu_mean, mean,
              std::fabs(gpu_mean - mean) / std::fabs(mean));
  EXPECT_NEAR(gpu_mean, mean, 1e-5 * std::fabs(mean));

  auto unpad = [&](const std::vector<float>& p) {
    std::vector<float> r(N * V);
    for (index_t n = 0; n < N; ++n)
      for (index_t j = 0; j < V; ++j) r[n * V + j] = p[n * ldv + j];
    return r;
  };
  // dlogits: one bf16 rounding; p - 1 at the target cancels, hence the atol.
  const Bound kDlogits{kBf16Ulp, 1e-4, 4e-3};
  expect_close("crossentropy dlogits", unpad(to_float(d_dlogits.download())), dlogits, kDlogits);

  // In place (dlogits == logits), as the model runs it.
  crossentropy_backward(nullptr, d_logits.get(), d_logits.get(), d_lse.get(), d_targets.get(), scale, N, V, ldv);
  sync();
  expect_close("crossentropy dlogits in place", unpad(to_float(d_logits.download())), dlogits, kDlogits);
}

// A small vocabulary in padded rows, and GPT-2's 50257 in rows padded to 50304.
INSTANTIATE_TEST_SUITE_P(Shapes, CudaCrossEntropy,
                         ::testing::Values(Shape{66, 1000, 1024}, Shape{7, 50257, 50304}, Shape{3, 5, 5}));

TEST(CudaCrossEntropyMean, AllIgnoredGivesNaN) {
  DeviceArray<float> d_losses(std::vector<float>{0.0f, 0.0f});
  DeviceArray<double> d_mean(1);
  crossentropy_mean(nullptr, d_mean.get(), d_losses.get(), 2, std::nan(""));
  EXPECT_TRUE(std::isnan(d_mean.download()[0]));
}

}  // namespace
}  // namespace strata::kernels::cuda::testing
