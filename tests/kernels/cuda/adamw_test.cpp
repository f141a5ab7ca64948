// GPU AdamW, gradient norm and clipping against the CPU kernels (fp32 throughout).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/adamw.h"
#include "kernels/cuda/adamw.h"
#include "tests/kernels/cuda/gpu_test_util.h"

namespace strata::kernels::cuda::testing {
namespace {

namespace kc = kernels::cpu;

// Same fp32 formula; the GPU may fuse a multiply-add that the CPU rounds twice.
constexpr Bound kFp32Step{1e-5, 1e-7, 1e-6};

struct Case {
  double beta1;  // 0.9: torch's lerp form for weights < 0.5; 0.3: the other form
  bool scaled;   // gradients multiplied by a device-side coefficient (clipping)
};

class CudaAdamW : public ::testing::TestWithParam<Case> {};

TEST_P(CudaAdamW, StepMatchesCpu) {
  const auto [beta1, scaled] = GetParam();
  const index_t n = 100003;
  const std::vector<kc::DecayRange> ranges{{100, 40000}, {50000, 99000}};
  const kc::AdamWHyper hp{1e-3, beta1, 0.95, 1e-8, 0.1};
  const index_t step = 3;  // bias corrections well away from 1
  std::vector<float> p = random_floats(n, 1), g = random_floats(n, 2, -0.01f, 0.01f), m = random_floats(n, 3, -1e-3f, 1e-3f),
                     v = random_floats(n, 4, 0.0f, 1e-5f);
  const float coef = 0.37f;
  DeviceArray<float> d_p(p), d_g(g), d_m(m), d_v(v), d_coef(std::vector<float>{coef});
  DeviceArray<bf16> d_pb(n);

  const AdamWScalars s = make_adamw_scalars(hp.lr, hp.beta1, hp.beta2, hp.eps, hp.weight_decay, step);
  index_t pos = 0;
  auto launch = [&](index_t lo, index_t hi, bool decayed) {
    adamw_update(nullptr, d_p.get() + lo, d_pb.get() + lo, d_g.get() + lo, d_m.get() + lo, d_v.get() + lo, hi - lo, s,
                 decayed, scaled ? d_coef.get() : nullptr);
  };
  for (const kc::DecayRange& r : ranges) {
    launch(pos, r.begin, false);
    launch(r.begin, r.end, true);
    pos = r.end;
  }
  launch(pos, n, false);
  sync();

  if (scaled)
    for (float& x : g) x *= coef;  // what clip_grad_norm leaves for the CPU step
  kc::adamw_step(p.data(), g.data(), m.data(), v.data(), n, hp, step, ranges);
  const std::vector<float> gpu_p = d_p.download();
  expect_close("adamw param", gpu_p, p, kFp32Step);
  expect_close("adamw m", d_m.download(), m, kFp32Step);
  expect_close("adamw v", d_v.download(), v, kFp32Step);
  // The working copy is exactly bf16(master).
  const std::vector<bf16> pb = d_pb.download();
  index_t wrong = 0;
  for (index_t i = 0; i < n; ++i) wrong += pb[i].bits != ::strata::kernels::cuda::to_bf16(gpu_p[i]).bits;
  std::printf("  [check] adamw bf16 working copy: %lld of %lld differ from bf16(master)\n",
              static_cast<long long>(wrong), static_cast<long long>(n));
  EXPECT_EQ(wrong, 0);
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaAdamW, ::testing::Values(Case{0.9, false}, Case{0.9, true}, Case{0.3, false}));

TEST(CudaAdamW, ScalarsMatchCpuFormula) {
  EXPECT_THROW(make_adamw_scalars(1e-3, 0.9, 0.999, 1e-8, 0.1, 0), std::invalid_argument);
  const AdamWScalars s = make_adamw_scalars(1e-3, 0.9, 0.999, 1e-8, 0.1, 1);
  EXPECT_FLOAT_EQ(s.neg_step_size, static_cast<float>(-1e-3 / 0.1));
  EXPECT_FLOAT_EQ(s.bc2_sqrt, static_cast<float>(std::sqrt(1 - 0.999)));
  EXPECT_FLOAT_EQ(s.decay, static_cast<float>(1 - 1e-4));
}

class CudaClip : public ::testing::TestWithParam<double> {};

// max_norm as a multiple of the true norm: 1/3 clips, 10 leaves the gradient alone.
TEST_P(CudaClip, NormAndClippingMatchCpu) {
  const double factor = GetParam();
  const index_t n = 1000003;
  std::vector<float> g = random_floats(n, 7, -0.05f, 0.05f);
  const double norm = kc::grad_l2_norm(g.data(), n);
  const double max_norm = factor * norm;
  DeviceArray<float> d_g(g);
  DeviceArray<double> d_norm(1);
  DeviceArray<char> d_scratch(clip_grad_norm_scratch_bytes());
  clip_grad_norm(nullptr, d_g.get(), n, max_norm, d_norm.get(), d_scratch.get());
  sync();
  const double cpu_norm = kc::clip_grad_norm(g.data(), n, max_norm);
  const double gpu_norm = d_norm.download()[0];
  std::printf("  [check] grad norm: gpu %.15g cpu %.15g rel err %.3g (max_norm %.6g)\n", gpu_norm, cpu_norm,
              std::fabs(gpu_norm - cpu_norm) / cpu_norm, max_norm);
  EXPECT_NEAR(gpu_norm, cpu_norm, 1e-12 * cpu_norm);  // both sum fp32 squares in double
  const std::vector<float> gpu_g = d_g.download();
  expect_close("clipped gradient", gpu_g, g, {1e-6, 0.0, 1e-7});

  // Deterministic: the same reduction again gives the same bits.
  d_g.upload(random_floats(n, 7, -0.05f, 0.05f));
  clip_grad_norm(nullptr, d_g.get(), n, max_norm, d_norm.get(), d_scratch.get());
  sync();
  const double again = d_norm.download()[0];
  EXPECT_EQ(0, std::memcmp(&again, &gpu_norm, sizeof again)) << "gradient norm not bitwise repeatable";
}

INSTANTIATE_TEST_SUITE_P(Factors, CudaClip, ::testing::Values(1.0 / 3.0, 10.0));

}  // namespace
}  // namespace strata::kernels::cuda::testing
