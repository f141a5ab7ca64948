// GPU matmul (cuBLAS, bf16 in, fp32 accumulation) against the CPU kernel (OpenBLAS fp32)
// on the same bf16-exact inputs.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/cpu/gelu.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cuda/matmul.h"
#include "tests/kernels/cuda/gpu_test_util.h"

namespace strata::kernels::cuda::testing {
namespace {

namespace kc = kernels::cpu;

// bf16 outputs: one rounding of an fp32 sum; the two BLASes sum in different orders, which
// matters only where the sum cancels (the atol, relative to the largest output).
constexpr Bound kBf16Out{kBf16Ulp, 1e-3, 4e-3};
// With a bias, the unfused path pre-fills the output with the bias and lets cuBLAS add it
// through beta = 1 from a bf16 C. On the H100 (2026-11-25) cuBLAS rounded the product
// before that add at one element where product and bias cancel (error 1.07x the bound
// above), so the bound allows two roundings of values as large as the output. The fused
// path (cuBLASLt's bias epilogue: the bias added in fp32) is held to kBf16Out.
constexpr Bound kBf16OutBias{kBf16Ulp, 2.5e-3, 4e-3};
// Two bf16 roundings in a chain (the unfused GELU paths: the GEMM's output, then the GELU
// or its derivative applied to it), |gelu'| <= 1.13.
constexpr Bound kBf16TwoRoundings{2 * kBf16Ulp, 2.5e-3, 6e-3};
// fp32 outputs (weight and bias gradients): products of bf16 values are exact in fp32, so
// only the summation order differs.
constexpr Bound kFp32Out{1e-4, 1e-4, 1e-4};

struct Shape {
  index_t N, C, OC, ld;  // ld: row stride of out / dout (0: OC)
};

class CudaMatmul : public ::testing::TestWithParam<Shape> {};

TEST_P(CudaMatmul, ForwardAndBackwardMatchCpu) {
  const auto [N, C, OC, ld_arg] = GetParam();
  const index_t ld = ld_arg == 0 ? OC : ld_arg;
  std::printf("  shape N=%lld C=%lld OC=%lld ld=%lld\n", static_cast<long long>(N), static_cast<long long>(C),
              static_cast<long long>(OC), static_cast<long long>(ld));
  const std::vector<float> inp = random_bf16_exact(N * C, 1), w = random_bf16_exact(OC * C, 2, -0.2f, 0.2f),
                           bias = random_bf16_exact(OC, 3);
  cuda::Blas blas(nullptr, nullptr, 0);
  DeviceArray<bf16> d_inp(to_bf16(inp)), d_w(to_bf16(w)), d_bias(to_bf16(bias)), d_out(N * ld);

  // Strided rows: compare the [N,OC] part; the padding columns must stay untouched (NaN).
  auto unpad = [&](const std::vector<float>& padded, bool* padding_intact) {
    std::vector<float> r(N * OC);
    *padding_intact = true;
    for (index_t n = 0; n < N; ++n) {
      for (index_t o = 0; o < OC; ++o) r[n * OC + o] = padded[n * ld + o];
      for (index_t o = OC; o < ld; ++o) *padding_intact = *padding_intact && std::isnan(padded[n * ld + o]);
    }
    return r;
  };
  // Both paths: cuBLASLt's bias epilogue where it takes the problem, and the unfused one.
  for (const bool lt : {true, false}) {
    blas.set_lt_epilogues(lt);
    for (const bool with_bias : {true, false}) {
      d_out.poison();
      const bool fused =
          matmul_forward(blas, d_out.get(), d_inp.get(), d_w.get(), with_bias ? d_bias.get() : nullptr, N, C, OC, ld);
      sync();
      EXPECT_FALSE(fused && !(lt && with_bias)) << "fused without a bias or with the epilogues off";
      std::vector<float> ref(N * OC);
      kc::matmul_forward(ref.data(), inp.data(), w.data(), with_bias ? bias.data() : nullptr, N, C, OC);
      bool intact = false;
      const std::string name = !with_bias ? "matmul_forward (no bias)"
                               : fused    ? "matmul_forward (bias, fused epilogue)"
                                          : (lt ? "matmul_forward (bias, Lt declined: unfused)"
                                                : "matmul_forward (bias, unfused)");
      expect_close(name.c_str(), unpad(to_float(d_out.download()), &intact), ref,
                   with_bias && !fused ? kBf16OutBias : kBf16Out);
      EXPECT_TRUE(intact) << "matmul_forward wrote into the padding columns";
    }
  }
  blas.set_lt_epilogues(true);

  // Backward: dout with the same row stride; dinp written, then accumulated.
  std::vector<float> dout_padded(N * ld, 0.0f);
  const std::vector<float> dout = random_bf16_exact(N * OC, 4);
  for (index_t n = 0; n < N; ++n)
    for (index_t o = 0; o < OC; ++o) dout_padded[n * ld + o] = dout[n * OC + o];
  std::vector<float> dw = random_floats(OC * C, 5, -0.1f, 0.1f), db = random_floats(OC, 6);
  DeviceArray<bf16> d_dout(to_bf16(dout_padded)), d_dinp(N * C);
  DeviceArray<float> d_dw(dw), d_db(db), d_scratch(matmul_backward_scratch_floats(N, OC));
  matmul_backward(blas, d_dinp.get(), d_dw.get(), d_db.get(), d_dout.get(), d_inp.get(), d_w.get(), N, C, OC,
                  /*accumulate_dinp=*/false, d_scratch.get(), ld);
  sync();
  std::vector<float> dinp(N * C, 0.0f);
  kc::matmul_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  const std::vector<float> gpu_dinp = to_float(d_dinp.download());
  expect_close("matmul_backward dinp (written)", gpu_dinp, dinp, kBf16Out);
  expect_close("matmul_backward dweight", d_dw.download(), dw, kFp32Out);
  expect_close("matmul_backward dbias", d_db.download(), db, kFp32Out);

  // Accumulating dinp onto its previous (bf16) value: the reference adds the same delta.
  std::vector<float> dinp2(gpu_dinp);
  std::vector<float> dw2(OC * C, 0.0f);
  kc::matmul_backward(dinp2.data(), dw2.data(), static_cast<float*>(nullptr), dout.data(), inp.data(), w.data(), N, C, OC);
  matmul_backward(blas, d_dinp.get(), d_dw.get(), nullptr, d_dout.get(), d_inp.get(), d_w.get(), N, C, OC,
                  /*accumulate_dinp=*/true, d_scratch.get(), ld);
  sync();
  expect_close("matmul_backward dinp (accumulated)", to_float(d_dinp.download()), dinp2, kBf16Out);
}

// The MLP pair: matmul_forward_gelu (GELU_AUX_BIAS epilogue, or GEMM + bias + gelu kernel)
// and matmul_backward through the GELU (DGELU epilogue, or GEMM + gelu_backward), on both
// paths, against the CPU's fp32 matmul and GELU.
TEST_P(CudaMatmul, GeluForwardAndBackwardMatchCpuOnBothPaths) {
  const auto [N, C, OC, ld_unused] = GetParam();
  (void)ld_unused;
  std::printf("  shape N=%lld C=%lld OC=%lld\n", static_cast<long long>(N), static_cast<long long>(C),
              static_cast<long long>(OC));
  const std::vector<float> inp = random_bf16_exact(N * C, 11), w = random_bf16_exact(OC * C, 12, -0.3f, 0.3f),
                           bias = random_bf16_exact(OC, 13);
  DeviceArray<bf16> d_inp(to_bf16(inp)), d_w(to_bf16(w)), d_bias(to_bf16(bias)), d_pre(N * OC), d_out(N * OC);
  std::vector<float> pre_ref(N * OC), out_ref(N * OC);
  kc::matmul_forward(pre_ref.data(), inp.data(), w.data(), bias.data(), N, C, OC);
  kc::gelu_forward(out_ref.data(), pre_ref.data(), N * OC);

  // Backward of a layer whose input was gelu(g): dout [N,OC], W [OC,C], g [N,C].
  const std::vector<float> dout = random_bf16_exact(N * OC, 14), g = random_bf16_exact(N * C, 15, -3.0f, 3.0f);
  std::vector<float> prod(N * C, 0.0f), dw_ref(OC * C, 0.0f), db_ref(OC, 0.0f), dinp_ref(N * C, 0.0f);
  kc::matmul_backward(prod.data(), dw_ref.data(), db_ref.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  kc::gelu_backward(dinp_ref.data(), g.data(), prod.data(), N * C);
  DeviceArray<bf16> d_dout(to_bf16(dout)), d_g(to_bf16(g)), d_dinp(N * C);

  for (const bool lt : {true, false}) {
    cuda::Blas blas(nullptr, nullptr, 0);
    blas.set_lt_epilogues(lt);
    d_pre.poison();
    d_out.poison();
    const bool fused_fwd =
        matmul_forward_gelu(blas, d_out.get(), d_pre.get(), d_inp.get(), d_w.get(), d_bias.get(), N, C, OC);
    sync();
    EXPECT_FALSE(fused_fwd && !lt);
    std::printf("  [check] path: forward %s\n", fused_fwd ? "fused (GELU_AUX_BIAS epilogue)"
                                                        : (lt ? "unfused (cuBLASLt declined)" : "unfused (off)"));
    expect_close(fused_fwd ? "gelu layer pre-activation (fused)" : "gelu layer pre-activation (unfused)",
                 to_float(d_pre.download()), pre_ref, fused_fwd ? kBf16Out : kBf16OutBias);
    expect_close(fused_fwd ? "gelu layer output (fused)" : "gelu layer output (unfused)", to_float(d_out.download()),
                 out_ref, fused_fwd ? kBf16Out : kBf16TwoRoundings);

    DeviceArray<float> d_dw(OC * C), d_db(OC), d_scratch(matmul_backward_scratch_floats(N, OC));
    STRATA_CUDA_CHECK(cudaMemset(d_dw.get(), 0, OC * C * sizeof(float)));
    STRATA_CUDA_CHECK(cudaMemset(d_db.get(), 0, OC * sizeof(float)));
    d_dinp.poison();
    const bool fused_bwd = matmul_backward(blas, d_dinp.get(), d_dw.get(), d_db.get(), d_dout.get(), d_inp.get(),
                                           d_w.get(), N, C, OC, false, d_scratch.get(), 0, d_g.get());
    sync();
    EXPECT_FALSE(fused_bwd && !lt);
    std::printf("  [check] path: backward %s\n", fused_bwd ? "fused (DGELU epilogue)"
                                                         : (lt ? "unfused (cuBLASLt declined)" : "unfused (off)"));
    expect_close(fused_bwd ? "dinp through gelu (fused)" : "dinp through gelu (unfused)", to_float(d_dinp.download()),
                 dinp_ref, fused_bwd ? kBf16Out : kBf16TwoRoundings);
    expect_close("dweight (gelu layer backward)", d_dw.download(), dw_ref, kFp32Out);
    expect_close("dbias (gelu layer backward)", d_db.download(), db_ref, kFp32Out);
  }
}

// Odd sizes (no multiple of 8 anywhere: the scalar bias sums), GPT-2-like sizes, more rows
// than one bias chunk, OC = 200 (the 16-byte bias sums over a partial 256-column block), and
// a padded row stride as the LM head uses (V = 101 in rows of 128).
INSTANTIATE_TEST_SUITE_P(Shapes, CudaMatmul,
                         ::testing::Values(Shape{150, 96, 200, 0}, Shape{37, 13, 29, 0}, Shape{256, 768, 2304, 0},
                                           Shape{130, 64, 101, 128}));

TEST(CudaGemm, BatchedTransposedProductsMatchNaive) {
  // C_i = A_i^T · B_i^T for 3 batch items: exercises both trans flags and the strides.
  const index_t M = 5, N = 7, K = 9, batch = 3;
  const std::vector<float> a = random_bf16_exact(batch * K * M, 41), b = random_bf16_exact(batch * N * K, 42);
  DeviceArray<bf16> d_a(to_bf16(a)), d_b(to_bf16(b));
  DeviceArray<float> d_c(batch * M * N);
  cuda::Blas blas(nullptr, nullptr, 0);
  GemmArgs g;
  g.trans_a = g.trans_b = true;
  g.M = M, g.N = N, g.K = K;
  g.A = d_a.get(), g.lda = M, g.stride_a = K * M;
  g.B = d_b.get(), g.ldb = K, g.stride_b = N * K;
  g.C = d_c.get(), g.c_type = OutType::F32, g.ldc = N, g.stride_c = M * N;
  g.batch = batch;
  gemm(blas, g);
  sync();
  std::vector<float> ref(batch * M * N, 0.0f);
  for (index_t i = 0; i < batch; ++i)
    for (index_t m = 0; m < M; ++m)
      for (index_t n = 0; n < N; ++n) {
        double s = 0.0;
        for (index_t k = 0; k < K; ++k) s += double(a[i * K * M + k * M + m]) * b[i * N * K + n * K + k];
        ref[i * M * N + m * N + n] = static_cast<float>(s);
      }
  expect_close("gemm batched A^T B^T", d_c.download(), ref, {1e-5, 1e-6, 1e-6});
}

}  // namespace
}  // namespace strata::kernels::cuda::testing
