// GPU encoder, GELU, residual and precision conversions against the CPU kernels.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "kernels/cpu/encoder.h"
#include "kernels/cpu/gelu.h"
#include "kernels/cpu/residual.h"
#include "kernels/cuda/convert.h"
#include "kernels/cuda/encoder.h"
#include "kernels/cuda/gelu.h"
#include "kernels/cuda/residual.h"
#include "tests/kernels/cuda/gpu_test_util.h"

namespace strata::kernels::cuda::testing {
namespace {

namespace kc = kernels::cpu;

// One bf16 rounding of an fp32 result: at most half an ulp, plus a hair for the fp32
// difference between the CPU and GPU arithmetic (which can tip a rounding to the other
// neighbour: one ulp).
constexpr Bound kOneRounding{kBf16Ulp, 1e-6, 4e-3};
// fp32 sums of the same terms in a different order.
constexpr Bound kFp32Sum{1e-5, 1e-6, 1e-6};

std::vector<int32_t> random_tokens(std::size_t n, int32_t V, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<int32_t> d(0, V - 1);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = d(gen);
  return t;
}

TEST(CudaEncoder, ForwardAndBackwardMatchCpu) {
  const index_t B = 3, S = 37, C = 96, V = 50, maxS = 40, N = B * S;
  const std::vector<float> wte = random_bf16_exact(V * C, 1), wpe = random_bf16_exact(maxS * C, 2, -0.5f, 0.5f);
  std::vector<int32_t> tokens = random_tokens(N, V, 3);  // V << N: every token repeats
  tokens[5] = tokens[6] = tokens[90] = 7;                 // and repeats within / across sequences

  DeviceArray<bf16> d_wte(to_bf16(wte)), d_wpe(to_bf16(wpe)), d_out(N * C);
  DeviceArray<int32_t> d_tok(tokens);
  d_out.poison();
  encoder_forward(nullptr, d_out.get(), d_tok.get(), d_wte.get(), d_wpe.get(), B, S, C);
  sync();
  std::vector<float> ref(N * C);
  kc::encoder_forward(ref.data(), tokens.data(), wte.data(), wpe.data(), B, S, C, V);
  expect_close("encoder_forward out", to_float(d_out.download()), ref, kOneRounding);

  // Backward accumulates into non-zero gradients.
  const std::vector<float> dout = random_bf16_exact(N * C, 4);
  std::vector<float> dwte = random_floats(V * C, 5), dwpe = random_floats(maxS * C, 6);
  DeviceArray<bf16> d_dout(to_bf16(dout));
  DeviceArray<float> d_dwte(dwte), d_dwpe(dwpe);
  const TokenBuckets buckets = bucket_tokens(tokens.data(), N);
  DeviceArray<int32_t> d_buckets(buckets.flat);
  encoder_backward(nullptr, d_dwte.get(), d_dwpe.get(), d_dout.get(), device_buckets(buckets, d_buckets.get()), B, S,
                   C);
  sync();
  kc::encoder_backward(dwte.data(), dwpe.data(), dout.data(), tokens.data(), B, S, C, V);
  const std::vector<float> gpu_dwte = d_dwte.download(), gpu_dwpe = d_dwpe.download();
  expect_close("encoder_backward dwte", gpu_dwte, dwte, kFp32Sum);
  expect_close("encoder_backward dwpe", gpu_dwpe, dwpe, kFp32Sum);

  // Deterministic: the same accumulation again from the same state gives the same bits.
  d_dwte.upload(random_floats(V * C, 5));
  d_dwpe.upload(random_floats(maxS * C, 6));
  encoder_backward(nullptr, d_dwte.get(), d_dwpe.get(), d_dout.get(), device_buckets(buckets, d_buckets.get()), B, S,
                   C);
  sync();
  const std::vector<float> again = d_dwte.download();
  EXPECT_EQ(0, std::memcmp(again.data(), gpu_dwte.data(), again.size() * sizeof(float))) << "dwte not bitwise repeatable";
}

TEST(CudaEncoder, BucketsListEveryPositionOnceInOrder) {
  const std::vector<int32_t> tokens{4, 1, 4, 4, 0, 1};
  const TokenBuckets b = bucket_tokens(tokens.data(), 6);
  ASSERT_EQ(b.count, 3);
  const std::vector<int32_t> expect{0, 1, 4, /*offsets*/ 0, 1, 3, 6, /*positions*/ 4, 1, 5, 0, 2, 3};
  EXPECT_EQ(b.flat, expect);
}

TEST(CudaGelu, ForwardAndBackwardMatchCpu) {
  const index_t n = 100003;  // not a multiple of the block size
  const std::vector<float> x = random_bf16_exact(n, 11, -5.0f, 5.0f), dout = random_bf16_exact(n, 12);
  DeviceArray<bf16> d_x(to_bf16(x)), d_out(n), d_dout(to_bf16(dout)), d_dinp(n);
  gelu_forward(nullptr, d_out.get(), d_x.get(), n);
  gelu_backward(nullptr, d_dinp.get(), d_x.get(), d_dout.get(), n);
  sync();
  std::vector<float> ref(n), dref(n, 0.0f);
  kc::gelu_forward(ref.data(), x.data(), n);
  kc::gelu_backward(dref.data(), x.data(), dout.data(), n);
  expect_close("gelu_forward", to_float(d_out.download()), ref, {kBf16Ulp, 1e-5, 4e-3});
  expect_close("gelu_backward", to_float(d_dinp.download()), dref, {kBf16Ulp, 1e-5, 4e-3});
  // In place: out == inp.
  gelu_forward(nullptr, d_x.get(), d_x.get(), n);
  sync();
  expect_close("gelu_forward in place", to_float(d_x.download()), ref, {kBf16Ulp, 1e-5, 4e-3});
}

TEST(CudaResidual, ForwardMatchesCpu) {
  // 70001: the scalar kernel; 70000 (a multiple of 8): the 16-byte one.
  for (const index_t n : {index_t{70001}, index_t{70000}}) {
    const std::vector<float> a = random_bf16_exact(n, 21, -3.0f, 3.0f), b = random_bf16_exact(n, 22);
    DeviceArray<bf16> d_a(to_bf16(a)), d_b(to_bf16(b)), d_out(n);
    residual_forward(nullptr, d_out.get(), d_a.get(), d_b.get(), n);
    sync();
    std::vector<float> ref(n);
    kc::residual_forward(ref.data(), a.data(), b.data(), n);
    expect_close("residual_forward n=" + std::to_string(n), to_float(d_out.download()), ref, kOneRounding);
  }
}

TEST(CudaConvert, DeviceRoundingMatchesHostRounding) {
  std::vector<float> x = random_floats(50000, 31, -100.0f, 100.0f);
  // Ties go to even: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7.
  x.insert(x.end(), {1.0f + 1.0f / 256, 1.0f + 3.0f / 256, -0.0f, 0.0f, 3.0e38f, -65504.0f});
  const index_t n = static_cast<index_t>(x.size());
  DeviceArray<float> d_x(x);
  DeviceArray<bf16> d_b(n);
  DeviceArray<float> d_back(n);
  convert_to_bf16(nullptr, d_b.get(), d_x.get(), n);
  convert_to_float(nullptr, d_back.get(), d_b.get(), n);
  sync();
  const std::vector<bf16> gpu = d_b.download();
  const std::vector<float> back = d_back.download();
  int mismatches = 0;
  for (index_t i = 0; i < n; ++i) {
    const bf16 host = ::strata::kernels::cuda::to_bf16(x[i]);
    if (host.bits != gpu[i].bits && mismatches++ < 5)
      ADD_FAILURE() << "x=" << x[i] << ": device bits " << gpu[i].bits << ", host bits " << host.bits;
    if (back[i] != ::strata::kernels::cuda::to_float(gpu[i]) && mismatches++ < 5)
      ADD_FAILURE() << "bf16 -> float not exact at " << i;
  }
  std::printf("  [check] convert fp32<->bf16: %d mismatches in %lld values\n", mismatches,
              static_cast<long long>(n));
  EXPECT_EQ(gpu[n - 6].bits, ::strata::kernels::cuda::to_bf16(1.0f).bits);  // the tie went to even
}

}  // namespace
}  // namespace strata::kernels::cuda::testing
