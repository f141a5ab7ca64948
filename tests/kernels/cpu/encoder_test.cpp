#include "kernels/cpu/encoder.h"

#include <stdexcept>

#include "tests/kernels/cpu/test_util.h"

namespace strata::kernels::cpu {
namespace {

using testing::Vec;

constexpr index_t B = 2, S = 5, C = 8, V = 7, maxS = 6;
// Token 3 repeats inside and across sequences: its dwte row must sum them.
const std::vector<token_t> kTokens = {3, 1, 3, 0, 6, 2, 3, 5, 1, 4};

template <class T>
std::vector<T> forward(const std::vector<T>& wte, const std::vector<T>& wpe,
                       const std::vector<token_t>& tokens = kTokens,
                       index_t b = B, index_t s = S, index_t c = C) {
  std::vector<T> out(static_cast<std::size_t>(b * s * c));
  encoder_forward(out.data(), tokens.data(), wte.data(), wpe.data(), b, s, c, V);
  return out;
}

TEST(Encoder, ForwardAddsTokenAndPositionRows) {
  const Vec wte = testing::random_uniform(V * C, 1);
  const Vec wpe = testing::random_uniform(maxS * C, 2);
  const Vec out = forward(wte, wpe);
  for (index_t b = 0; b < B; ++b)
    for (index_t s = 0; s < S; ++s)
      for (index_t c = 0; c < C; ++c)
        EXPECT_EQ(out[(b * S + s) * C + c],
                  wte[kTokens[b * S + s] * C + c] + wpe[s * C + c]);
}

TEST(Encoder, BackwardMatchesFiniteDifferences) {
  Vec wte = testing::random_uniform(V * C, 3);
  Vec wpe = testing::random_uniform(maxS * C, 4);
  const Vec r = testing::random_uniform(B * S * C, 5);
  Vec dwte(wte.size(), 0.0), dwpe(wpe.size(), 0.0);
  encoder_backward(dwte.data(), dwpe.data(), r.data(), kTokens.data(), B, S, C, V);

  auto loss = [&] { return testing::project(forward(wte, wpe), r); };
  testing::expect_grad_near(dwte, testing::numeric_grad(wte, loss), "dwte");
  testing::expect_grad_near(dwpe, testing::numeric_grad(wpe, loss), "dwpe");
}

TEST(Encoder, BackwardAccumulates) {
  const Vec dout = testing::random_uniform(B * S * C, 6);
  Vec once_wte(V * C, 0.0), once_wpe(maxS * C, 0.0);
  encoder_backward(once_wte.data(), once_wpe.data(), dout.data(), kTokens.data(), B, S, C, V);
  Vec twice_wte = once_wte, twice_wpe = once_wpe;
  encoder_backward(twice_wte.data(), twice_wpe.data(), dout.data(), kTokens.data(), B, S, C, V);
  for (std::size_t i = 0; i < once_wte.size(); ++i) EXPECT_DOUBLE_EQ(twice_wte[i], 2 * once_wte[i]);
  for (std::size_t i = 0; i < once_wpe.size(); ++i) EXPECT_DOUBLE_EQ(twice_wpe[i], 2 * once_wpe[i]);
}

TEST(Encoder, RejectsOutOfRangeToken) {
  const Vec wte(V * C), wpe(maxS * C);
  std::vector<token_t> bad = kTokens;
  bad[4] = V;
  EXPECT_THROW(forward(wte, wpe, bad), std::invalid_argument);
  bad[4] = -1;
  Vec dwte(V * C), dwpe(maxS * C), dout(B * S * C);
  EXPECT_THROW(encoder_backward(dwte.data(), dwpe.data(), dout.data(), bad.data(), B, S, C, V),
               std::invalid_argument);
}

TEST(Encoder, FloatMatchesDouble) {
  const Vec wte = testing::random_uniform(V * C, 7);
  const Vec wpe = testing::random_uniform(maxS * C, 8);
  const Vec dout = testing::random_uniform(B * S * C, 9);
  testing::expect_float_matches_double(
      forward(testing::convert<float>(wte), testing::convert<float>(wpe)),
      forward(wte, wpe), "out");
  Vec dwte(V * C, 0.0), dwpe(maxS * C, 0.0);
  std::vector<float> fwte(V * C, 0.f), fwpe(maxS * C, 0.f);
  const std::vector<float> fdout = testing::convert<float>(dout);
  encoder_backward(dwte.data(), dwpe.data(), dout.data(), kTokens.data(), B, S, C, V);
  encoder_backward(fwte.data(), fwpe.data(), fdout.data(), kTokens.data(), B, S, C, V);
  testing::expect_float_matches_double(fwte, dwte, "dwte");
  testing::expect_float_matches_double(fwpe, dwpe, "dwpe");
}

// Big enough for the parallel path; few tokens so dwte rows collide a lot.
TEST(Encoder, BackwardIsThreadCountInvariant) {
  constexpr index_t b = 4, s = 64, c = 160, v = 5;
  std::vector<token_t> tokens(b * s);
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<token_t>((i * 7) % v);
  const std::vector<float> dout = testing::convert<float>(testing::random_uniform(b * s * c, 10));
  testing::expect_thread_invariant([&] {
    std::vector<float> dwte(v * c, 0.f), dwpe(s * c, 0.f);
    encoder_backward(dwte.data(), dwpe.data(), dout.data(), tokens.data(), b, s, c, v);
    dwte.insert(dwte.end(), dwpe.begin(), dwpe.end());
    return dwte;
  }, "dwte|dwpe");
}

}  // namespace
}  // namespace strata::kernels::cpu
