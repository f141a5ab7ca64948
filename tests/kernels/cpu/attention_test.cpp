#include "kernels/cpu/attention.h"

#include <limits>
#include <stdexcept>

#include "tests/kernels/cpu/test_util.h"

namespace strata::kernels::cpu {
namespace {

using testing::Vec;

constexpr AttentionShape kSmall{2, 5, 8, 2};  // B, S, C, NH (HS = 4)
// S > kAttentionQueryBlock so the multi-block path is exercised too.
constexpr AttentionShape kMultiBlock{1, 2 * kAttentionQueryBlock + 3, 8, 2};
// HS = 16 fills whole register tiles along the head dimension (HS = 4 above
// only takes the ragged-edge path there).
constexpr AttentionShape kWideHead{1, kAttentionQueryBlock + 5, 32, 2};
// HS = 24 (float: a two-vector tile plus a one-vector tile per row band) and
// HS = 20 (a scalar column edge besides); 39 rows also leave row bands of
// every height below the register tile's six.
constexpr AttentionShape kMixedHead{1, 2 * kAttentionQueryBlock + 7, 48, 2};
constexpr AttentionShape kRaggedHead{2, kAttentionQueryBlock + 3, 40, 2};

index_t qkv_size(const AttentionShape& sh) { return sh.B * sh.S * 3 * sh.C; }
index_t out_size(const AttentionShape& sh) { return sh.B * sh.S * sh.C; }
index_t probs_size(const AttentionShape& sh) { return sh.B * sh.NH * sh.S * sh.S; }

template <class T>
struct Forward {
  std::vector<T> out, lse, probs;
};

template <class T>
Forward<T> forward(const std::vector<T>& qkv, const AttentionShape& sh,
                   bool capture = false, int threads = 2) {
  Forward<T> f{std::vector<T>(out_size(sh)), std::vector<T>(sh.B * sh.NH * sh.S),
               std::vector<T>(capture ? probs_size(sh) : 0, T{-1})};
  std::vector<T> scratch(attention_scratch_elems(sh, threads));
  attention_forward(f.out.data(), f.lse.data(), capture ? f.probs.data() : nullptr,
                    qkv.data(), sh, scratch.data(), threads);
  return f;
}

template <class T>
struct Backward {
  std::vector<T> dqkv, dprobs;
};

template <class T>
Backward<T> backward(const std::vector<T>& qkv, const std::vector<T>& dout,
                     const AttentionShape& sh, bool capture = false, int threads = 2) {
  const Forward<T> f = forward(qkv, sh, false, threads);
  Backward<T> g{std::vector<T>(qkv_size(sh), T{0}),
                std::vector<T>(capture ? probs_size(sh) : 0, T{-1})};
  std::vector<T> scratch(attention_scratch_elems(sh, threads));
  attention_backward(g.dqkv.data(), capture ? g.dprobs.data() : nullptr, dout.data(),
                     qkv.data(), f.lse.data(), sh, scratch.data(), threads);
  return g;
}

// Textbook attention in double with the full [S,S] probability matrix.
struct Naive {
  Vec out, probs;
};

Naive naive_attention(const Vec& qkv, const AttentionShape& sh) {
  const index_t HS = sh.head_size();
  Naive r{Vec(out_size(sh), 0.0), Vec(probs_size(sh), 0.0)};
  for (index_t b = 0; b < sh.B; ++b)
    for (index_t h = 0; h < sh.NH; ++h)
      for (index_t i = 0; i < sh.S; ++i) {
        auto at = [&](index_t t, index_t part, index_t d) {
          return qkv[(b * sh.S + t) * 3 * sh.C + part * sh.C + h * HS + d];
        };
        double* p = &r.probs[((b * sh.NH + h) * sh.S + i) * sh.S];
        double m = -1e300, sum = 0.0;
        for (index_t j = 0; j <= i; ++j) {
          for (index_t d = 0; d < HS; ++d) p[j] += at(i, 0, d) * at(j, 1, d);
          p[j] /= std::sqrt(static_cast<double>(HS));
          m = std::max(m, p[j]);
        }
        for (index_t j = 0; j <= i; ++j) sum += (p[j] = std::exp(p[j] - m));
        for (index_t j = 0; j <= i; ++j) p[j] /= sum;
        for (index_t j = 0; j <= i; ++j)
          for (index_t d = 0; d < HS; ++d)
            r.out[(b * sh.S + i) * sh.C + h * HS + d] += p[j] * at(j, 2, d);
      }
  return r;
}

TEST(Attention, ScratchIsPerThreadAndLinearInSequenceLength) {
  EXPECT_EQ(attention_scratch_elems(kSmall, 3), 3 * attention_scratch_elems(kSmall, 1));
  const AttentionShape gpt2{1, 1024, 768, 12};
  const index_t per_thread = attention_scratch_elems(gpt2, 1);
  EXPECT_GE(per_thread, 2 * (gpt2.head_size() + kAttentionQueryBlock) * gpt2.S);
  EXPECT_LT(per_thread, gpt2.S * gpt2.S / 4);  // nowhere near an [S,S] buffer
  EXPECT_THROW(attention_scratch_elems(AttentionShape{1, 4, 10, 3}, 1), std::invalid_argument);
  EXPECT_THROW(attention_scratch_elems(kSmall, 0), std::invalid_argument);
}

TEST(Attention, ForwardMatchesNaiveReference) {
  for (const AttentionShape& sh : {kSmall, kMultiBlock, kWideHead, kMixedHead, kRaggedHead}) {
    const Vec qkv = testing::random_uniform(qkv_size(sh), 1, -2.0, 2.0);
    const Naive ref = naive_attention(qkv, sh);
    const Forward<double> f = forward(qkv, sh);
    for (index_t i = 0; i < out_size(sh); ++i) EXPECT_NEAR(f.out[i], ref.out[i], 1e-13);
  }
}

TEST(Attention, SingleTokenReturnsValue) {
  const AttentionShape sh{3, 1, 8, 2};
  const Vec qkv = testing::random_uniform(qkv_size(sh), 2, -3.0, 3.0);
  const Forward<double> f = forward(qkv, sh);
  for (index_t b = 0; b < sh.B; ++b)
    for (index_t c = 0; c < sh.C; ++c)
      EXPECT_DOUBLE_EQ(f.out[b * sh.C + c], qkv[b * 3 * sh.C + 2 * sh.C + c]);
}

TEST(Attention, FutureTokensDoNotChangeEarlierOutputs) {
  const AttentionShape sh = kMultiBlock;
  constexpr index_t t_changed = kAttentionQueryBlock + 1;  // in the second block
  const Vec qkv = testing::random_uniform(qkv_size(sh), 3);
  Vec perturbed = qkv;
  for (index_t c = 0; c < 3 * sh.C; ++c) perturbed[t_changed * 3 * sh.C + c] += 0.5;
  const Forward<double> a = forward(qkv, sh), b = forward(perturbed, sh);
  for (index_t t = 0; t < sh.S; ++t)
    for (index_t c = 0; c < sh.C; ++c) {
      const index_t i = t * sh.C + c;
      if (t < t_changed) {
        EXPECT_EQ(a.out[i], b.out[i]) << "t=" << t;
      } else {
        EXPECT_NE(a.out[i], b.out[i]) << "t=" << t;
      }
    }
}

TEST(Attention, CapturedProbabilitiesAreTheCausalSoftmax) {
  for (const AttentionShape& sh : {kMultiBlock, kWideHead, kMixedHead, kRaggedHead}) {
    const Vec qkv = testing::random_uniform(qkv_size(sh), 4, -2.0, 2.0);
    const Naive ref = naive_attention(qkv, sh);
    const Forward<double> plain = forward(qkv, sh), f = forward(qkv, sh, true);
    EXPECT_EQ(plain.out, f.out);  // capturing must not change the result
    for (index_t row = 0; row < sh.B * sh.NH * sh.S; ++row) {
      const index_t i = row % sh.S;
      double sum = 0.0;
      for (index_t j = 0; j < sh.S; ++j) {
        const double p = f.probs[row * sh.S + j];
        sum += p;
        EXPECT_NEAR(p, ref.probs[row * sh.S + j], 1e-14);
        if (j > i) {
          EXPECT_EQ(p, 0.0);
        }
      }
      EXPECT_NEAR(sum, 1.0, 1e-14);
    }
  }
}

TEST(Attention, BackwardMatchesFiniteDifferences) {
  for (const AttentionShape& sh : {kSmall, kMultiBlock, kWideHead, kMixedHead, kRaggedHead}) {
    // Wider heads sum more products into each score; inputs in [-2, 2] would
    // make the softmax so peaked that the central differences' own
    // truncation error exceeds the tolerance.
    const double range = sh.head_size() > 16 ? 1.0 : 2.0;
    Vec qkv = testing::random_uniform(qkv_size(sh), 5, -range, range);
    const Vec r = testing::random_uniform(out_size(sh), 6);
    const Backward<double> g = backward(qkv, r, sh);
    auto loss = [&] { return testing::project(forward(qkv, sh).out, r); };
    // Step 1e-5, not the default 1e-6: the larger shapes' losses sum ~2000
    // terms, and their rounding error over a 1e-6 step (~1e-16 |L| / h)
    // reaches the 1e-8 absolute tolerance; truncation stays ~h^2.
    testing::expect_grad_near(g.dqkv, testing::numeric_grad(qkv, loss, 1e-5),
                              "dqkv_S" + std::to_string(sh.S) + "_HS" +
                                  std::to_string(sh.head_size()));
  }
}

TEST(Attention, BackwardAccumulates) {
  const AttentionShape sh = kSmall;
  const Vec qkv = testing::random_uniform(qkv_size(sh), 7);
  const Vec dout = testing::random_uniform(out_size(sh), 8);
  const Backward<double> g = backward(qkv, dout, sh);
  const Forward<double> f = forward(qkv, sh);
  Vec dqkv = testing::random_uniform(qkv_size(sh), 9);
  const Vec init = dqkv;
  Vec scratch(attention_scratch_elems(sh, 1));
  attention_backward<double>(dqkv.data(), nullptr, dout.data(), qkv.data(), f.lse.data(), sh,
                             scratch.data(), 1);
  for (index_t i = 0; i < qkv_size(sh); ++i) EXPECT_NEAR(dqkv[i], init[i] + g.dqkv[i], 1e-14);
}

// Written mode: whatever dqkv held (NaN here) is replaced, and the result equals the
// accumulation into zeros (written dq is alpha*acc where accumulation gives 0 + alpha*acc,
// so only the sign of an exact zero could differ), at every shape, in float and double, on
// 1 and 3 threads. kWideBatch has four heads above the parallel threshold.
template <class T>
void expect_written_equals_accumulated(const AttentionShape& sh, int threads) {
  const auto qkv = testing::convert<T>(testing::random_uniform(qkv_size(sh), 30));
  const auto dout = testing::convert<T>(testing::random_uniform(out_size(sh), 31));
  const Backward<T> accumulated = backward(qkv, dout, sh, false, threads);
  const Forward<T> f = forward(qkv, sh, false, threads);
  std::vector<T> written(qkv_size(sh), std::numeric_limits<T>::quiet_NaN());
  std::vector<T> scratch(attention_scratch_elems(sh, threads));
  attention_backward(written.data(), static_cast<T*>(nullptr), dout.data(), qkv.data(),
                     f.lse.data(), sh, scratch.data(), threads, InputGrad::kWrite);
  EXPECT_EQ(written, accumulated.dqkv) << "S " << sh.S << " HS " << sh.head_size()
                                       << " threads " << threads;
}

TEST(Attention, BackwardWrittenModeOverwrites) {
  constexpr AttentionShape kWideBatch{2, 2 * kAttentionQueryBlock + 7, 48, 2};
  for (const AttentionShape& sh : {kSmall, kMultiBlock, kMixedHead, kRaggedHead, kWideBatch})
    for (int threads : {1, 3}) {
      expect_written_equals_accumulated<double>(sh, threads);
      expect_written_equals_accumulated<float>(sh, threads);
    }
}

TEST(Attention, CapturedProbabilityGradientIsDoutDotV) {
  const AttentionShape sh = kMultiBlock;
  const Vec qkv = testing::random_uniform(qkv_size(sh), 10);
  const Vec dout = testing::random_uniform(out_size(sh), 11);
  const Backward<double> plain = backward(qkv, dout, sh), g = backward(qkv, dout, sh, true);
  EXPECT_EQ(plain.dqkv, g.dqkv);
  const index_t HS = sh.head_size();
  for (index_t b = 0; b < sh.B; ++b)
    for (index_t h = 0; h < sh.NH; ++h)
      for (index_t i = 0; i < sh.S; ++i)
        for (index_t j = 0; j < sh.S; ++j) {
          double expect = 0.0;  // dL/dp_ij = dout_i . v_j on the causal part
          for (index_t d = 0; j <= i && d < HS; ++d)
            expect += dout[(b * sh.S + i) * sh.C + h * HS + d] *
                      qkv[(b * sh.S + j) * 3 * sh.C + 2 * sh.C + h * HS + d];
          EXPECT_NEAR(g.dprobs[((b * sh.NH + h) * sh.S + i) * sh.S + j], expect, 1e-14);
        }
}

TEST(Attention, FloatMatchesDouble) {
  for (const AttentionShape& sh : {kMultiBlock, kWideHead, kMixedHead, kRaggedHead}) {
    const Vec qkv = testing::random_uniform(qkv_size(sh), 12, -2.0, 2.0);
    const Vec dout = testing::random_uniform(out_size(sh), 13);
    const auto fqkv = testing::convert<float>(qkv), fdout = testing::convert<float>(dout);
    testing::expect_float_matches_double(forward(fqkv, sh).out, forward(qkv, sh).out, "out");
    testing::expect_float_matches_double(backward(fqkv, fdout, sh).dqkv,
                                         backward(qkv, dout, sh).dqkv, "dqkv", 1e-4, 1e-5);
  }
}

// Large enough to take the parallel path; 1 vs 3 threads must agree bitwise.
TEST(Attention, ThreadCountInvariant) {
  const AttentionShape sh{2, 40, 64, 4};
  const auto qkv = testing::convert<float>(testing::random_uniform(qkv_size(sh), 14));
  const auto dout = testing::convert<float>(testing::random_uniform(out_size(sh), 15));
  const Forward<float> f1 = forward(qkv, sh, false, 1), f3 = forward(qkv, sh, false, 3);
  EXPECT_EQ(f1.out, f3.out);
  EXPECT_EQ(f1.lse, f3.lse);
  EXPECT_EQ(backward(qkv, dout, sh, false, 1).dqkv, backward(qkv, dout, sh, false, 3).dqkv);
}

}  // namespace
}  // namespace strata::kernels::cpu
