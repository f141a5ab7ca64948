// GptModel and ParameterLayout: whole-model gradients against finite differences (in
// double, every parameter element), loss at initialisation, bitwise determinism across
// seeds and thread counts, gradient accumulation, attention capture, the hidden-state
// gradient hook, the memory profile and the flat layout.
#include "core/engine/gpt/gpt_model.hpp"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/engine/gpt/parameter_layout.hpp"

namespace strata::engine {
namespace {

// The tiny GPT of the gradient checks: small enough to difference every parameter.
constexpr GptConfig kTiny{.vocab_size = 11, .context = 8, .layers = 2, .heads = 2, .width = 8};
constexpr int64_t kB = 2, kS = 5;

// Central differences in double: h = 1e-6 gives O(h²) ~ 1e-12 truncation error and
// ~1e-16·|L|/h rounding error, far inside the tolerance below.
constexpr double kFdStep = 1e-6;
constexpr double kRelTol = 1e-6;
constexpr double kAbsTol = 1e-8;

struct Batch {
  std::vector<int32_t> tokens, targets;
};

Batch random_batch(int64_t B, int64_t S, int64_t V, uint64_t seed, bool with_ignored) {
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(V - 1));
  Batch b;
  for (int64_t i = 0; i < B * S; ++i) {
    b.tokens.push_back(tok(gen));
    b.targets.push_back(tok(gen));
  }
  if (with_ignored) b.targets[1] = -1;  // an ignored target inside the first sequence
  return b;
}

// GPT-2 init plus noise on every real element: LayerNorm gains away from 1 and non-zero
// biases, so no gradient term is hidden by a special value. Padding stays zero.
template <class T>
void randomize(GptModel<T>& model, uint64_t seed, double scale) {
  model.init_parameters(seed);
  std::mt19937_64 gen(seed + 1);
  std::normal_distribution<double> noise(0.0, scale);
  for (const ParameterTensor& t : model.layout().tensors())
    for (int64_t i = 0; i < t.count; ++i) model.params()[t.offset + i] += static_cast<T>(noise(gen));
}

template <class T>
std::vector<T> grads_of(GptModel<T>& model, const Batch& b, int64_t B, int64_t S, double* loss = nullptr) {
  model.zero_grads();
  const double l = model.forward(b.tokens.data(), b.targets.data(), B, S);
  if (loss) *loss = l;
  model.backward();
  return {model.grads(), model.grads() + model.layout().total_count()};
}

// Checks analytic[e] against the central difference of loss() for every real parameter
// element e, and records the worst error/tolerance ratio.
void expect_matches_finite_differences(GptModel<double>& model, const std::vector<double>& analytic,
                                       const std::function<double()>& loss, const std::string& what,
                                       double h = kFdStep) {
  int failures = 0;
  double worst = 0.0;
  for (const ParameterTensor& t : model.layout().tensors()) {
    double worst_tensor = 0.0;
    for (int64_t i = 0; i < t.count; ++i) {
      double& p = model.params()[t.offset + i];
      const double p0 = p;
      p = p0 + h;
      const double up = loss();
      p = p0 - h;
      const double down = loss();
      p = p0;
      const double numeric = (up - down) / (2 * h);
      const double a = analytic[static_cast<size_t>(t.offset + i)];
      const double tol = kAbsTol + kRelTol * std::max(std::abs(a), std::abs(numeric));
      worst_tensor = std::max(worst_tensor, std::abs(a - numeric) / tol);
      if (std::abs(a - numeric) > tol && ++failures <= 10)
        ADD_FAILURE() << what << ": " << t.name << "[" << i << "] analytic " << a << " vs numeric " << numeric;
    }
    worst = std::max(worst, worst_tensor);
  }
  EXPECT_EQ(failures, 0) << what;
  std::ostringstream text;
  text << std::scientific << worst;
  ::testing::Test::RecordProperty(what + "_err_over_tol", text.str());
}

bool bitwise_equal(const void* a, const void* b, size_t bytes) { return std::memcmp(a, b, bytes) == 0; }

TEST(GptModelTest, GradientsMatchFiniteDifferencesForEveryParameter) {
  GptModel<double> model(kTiny, kB, kS);
  randomize(model, 7, 0.2);
  const Batch b = random_batch(kB, kS, kTiny.vocab_size, 3, /*with_ignored=*/true);
  const std::vector<double> analytic = grads_of(model, b, kB, kS);
  // Padding never receives a gradient.
  int64_t covered = 0;
  for (const ParameterTensor& t : model.layout().tensors()) covered += t.count;
  double padding_abs = 0.0;
  std::vector<bool> real(analytic.size(), false);
  for (const ParameterTensor& t : model.layout().tensors())
    std::fill_n(real.begin() + t.offset, t.count, true);
  for (size_t i = 0; i < analytic.size(); ++i)
    if (!real[i]) padding_abs += std::abs(analytic[i]);
  EXPECT_EQ(padding_abs, 0.0);
  EXPECT_EQ(covered, model.parameter_count());

  expect_matches_finite_differences(
      model, analytic, [&] { return model.forward(b.tokens.data(), b.targets.data(), kB, kS); }, "loss");
}

TEST(GptModelTest, LossAtInitIsLogVocab) {
  const GptConfig cfg{.vocab_size = 256, .context = 64, .layers = 2, .heads = 4, .width = 64};
  GptModel<float> model(cfg, 4, 64);
  model.init_parameters(1234);
  const Batch b = random_batch(4, 64, cfg.vocab_size, 5, false);
  const double loss = model.forward(b.tokens.data(), b.targets.data(), 4, 64);
  EXPECT_NEAR(loss, std::log(256.0), 0.01 * std::log(256.0));
}

TEST(GptModelTest, InitialisationFollowsGpt2) {
  const GptConfig cfg{.vocab_size = 64, .context = 32, .layers = 4, .heads = 2, .width = 64};
  GptModel<double> model(cfg, 1, 1);
  model.init_parameters(99);
  const ParameterLayout& layout = model.layout();
  auto stddev = [&](const std::string& name) {
    const ParameterTensor& t = layout.at(name);
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < t.count; ++i) {
      s += model.params()[t.offset + i];
      s2 += model.params()[t.offset + i] * model.params()[t.offset + i];
    }
    const double n = static_cast<double>(t.count);
    EXPECT_NEAR(s / n, 0.0, 5 * 0.02 / std::sqrt(n)) << name;
    return std::sqrt(s2 / n);
  };
  EXPECT_NEAR(stddev("wte"), 0.02, 0.02 * 0.05);
  EXPECT_NEAR(stddev("h.1.mlp.c_fc.weight"), 0.02, 0.02 * 0.05);
  EXPECT_NEAR(stddev("h.0.attn.c_attn.weight"), 0.02, 0.02 * 0.05);
  const double resid = 0.02 / std::sqrt(2.0 * cfg.layers);
  EXPECT_NEAR(stddev("h.2.attn.c_proj.weight"), resid, resid * 0.1);
  EXPECT_NEAR(stddev("h.3.mlp.c_proj.weight"), resid, resid * 0.05);
  for (const ParameterTensor& t : layout.tensors()) {
    const bool bias = t.name.ends_with(".bias");
    const bool ln_weight = t.name.ends_with(".weight") && t.name.find("ln_") != std::string::npos;
    for (int64_t i = 0; i < t.count && (bias || ln_weight); ++i)
      ASSERT_EQ(model.params()[t.offset + i], bias ? 0.0 : 1.0) << t.name;
  }
  // The same (seed, tensor, index) gives the same value in a model of another depth and
  // batch shape: the generator is keyed by coordinates, not by a running sequence.
  GptModel<double> deeper(GptConfig{cfg.vocab_size, cfg.context, 6, cfg.heads, cfg.width}, 2, 8);
  deeper.init_parameters(99);
  EXPECT_TRUE(bitwise_equal(model.params() + layout.wte(), deeper.params() + deeper.layout().wte(),
                            sizeof(double) * layout.at("wte").count));
  const ParameterTensor& fc = layout.at("h.1.mlp.c_fc.weight");
  EXPECT_TRUE(bitwise_equal(model.params() + fc.offset, deeper.params() + deeper.layout().at(fc.name).offset,
                            sizeof(double) * fc.count));
  deeper.init_parameters(100);
  EXPECT_FALSE(bitwise_equal(model.params() + layout.wte(), deeper.params() + deeper.layout().wte(),
                             sizeof(double) * layout.at("wte").count));
}

// A shape big enough that every kernel takes its multi-threaded path.
constexpr GptConfig kMid{.vocab_size = 256, .context = 64, .layers = 2, .heads = 4, .width = 128};
constexpr int64_t kMidB = 8, kMidS = 64;

struct RunResult {
  double loss;
  std::vector<float> grads;
};

RunResult run_mid(uint64_t seed, int threads) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  GptModel<float> model(kMid, kMidB, kMidS);
  model.init_parameters(seed);
  const Batch b = random_batch(kMidB, kMidS, kMid.vocab_size, 11, true);
  RunResult r;
  r.grads = grads_of(model, b, kMidB, kMidS, &r.loss);
  omp_set_num_threads(saved);
  return r;
}

TEST(GptModelTest, SameSeedGivesBitIdenticalLossAndGradients) {
  const RunResult a = run_mid(42, omp_get_max_threads());
  const RunResult b = run_mid(42, omp_get_max_threads());
  EXPECT_EQ(a.loss, b.loss);
  ASSERT_EQ(a.grads.size(), b.grads.size());
  EXPECT_TRUE(bitwise_equal(a.grads.data(), b.grads.data(), a.grads.size() * sizeof(float)));
  const RunResult c = run_mid(43, omp_get_max_threads());
  EXPECT_NE(a.loss, c.loss);
}

// Strata's own kernels are bitwise independent of the thread count, but OpenBLAS (which
// shares the OpenMP pool) splits its sums differently per thread count. So: bit-identical
// for the same thread count, and equal to float rounding across thread counts.
TEST(GptModelTest, ThreadCountChangesResultsOnlyByRounding) {
  const RunResult one = run_mid(42, 1);
  EXPECT_EQ(one.loss, run_mid(42, 1).loss);
  for (int threads : {2, 3}) {  // 3: chunks do not split evenly on a 2-core machine
    const RunResult many = run_mid(42, threads);
    const RunResult again = run_mid(42, threads);
    EXPECT_EQ(many.loss, again.loss) << threads << " threads, run twice";
    EXPECT_TRUE(bitwise_equal(many.grads.data(), again.grads.data(), many.grads.size() * sizeof(float)));
    EXPECT_NEAR(one.loss, many.loss, 1e-5 * std::abs(one.loss)) << threads << " threads";
    float scale = 0;
    for (float g : one.grads) scale = std::max(scale, std::abs(g));
    for (size_t i = 0; i < one.grads.size(); ++i)
      ASSERT_NEAR(one.grads[i], many.grads[i], 1e-4f * scale) << threads << " threads, element " << i;
  }
}

TEST(GptModelTest, HalfBatchesWithHalfLossScaleAccumulateToTheFullBatch) {
  GptModel<double> model(kTiny, kB, kS);
  randomize(model, 8, 0.2);
  const Batch b = random_batch(kB, kS, kTiny.vocab_size, 4, /*with_ignored=*/false);
  double full_loss = 0;
  const std::vector<double> full = grads_of(model, b, kB, kS, &full_loss);

  model.zero_grads();
  double half_losses = 0;
  for (int64_t h = 0; h < kB; ++h) {
    half_losses += 0.5 * model.forward(b.tokens.data() + h * kS, b.targets.data() + h * kS, 1, kS);
    model.backward(0.5);
  }
  EXPECT_NEAR(half_losses, full_loss, 1e-12);
  for (size_t i = 0; i < full.size(); ++i) ASSERT_NEAR(model.grads()[i], full[i], 1e-12) << i;
}

TEST(GptModelTest, AttentionCaptureDoesNotChangeResults) {
  GptModel<double> model(kTiny, kB, kS);
  randomize(model, 9, 0.2);
  const Batch b = random_batch(kB, kS, kTiny.vocab_size, 6, true);
  double loss_off = 0, loss_on = 0;
  EXPECT_EQ(model.attention_probs(), nullptr);
  const std::vector<double> off = grads_of(model, b, kB, kS, &loss_off);
  model.set_attention_capture(true);
  const std::vector<double> on = grads_of(model, b, kB, kS, &loss_on);
  EXPECT_EQ(loss_off, loss_on);
  EXPECT_TRUE(bitwise_equal(off.data(), on.data(), off.size() * sizeof(double)));

  // [L,B,H,T,T]: causal rows summing to 1; dL/dprobs is zero above the diagonal and not
  // identically zero below it.
  const double* probs = model.attention_probs();
  const double* dprobs = model.attention_grads();
  ASSERT_NE(probs, nullptr);
  ASSERT_NE(dprobs, nullptr);
  double dprobs_abs = 0;
  for (int64_t m = 0; m < kTiny.layers * kB * kTiny.heads; ++m)
    for (int64_t i = 0; i < kS; ++i) {
      const double* row = probs + (m * kS + i) * kS;
      const double* drow = dprobs + (m * kS + i) * kS;
      double sum = 0;
      for (int64_t j = 0; j < kS; ++j) {
        sum += row[j];
        if (j > i) {
          EXPECT_EQ(row[j], 0.0);
          EXPECT_EQ(drow[j], 0.0);
        } else {
          EXPECT_GT(row[j], 0.0);
          dprobs_abs += std::abs(drow[j]);
        }
      }
      EXPECT_NEAR(sum, 1.0, 1e-14);
    }
  EXPECT_GT(dprobs_abs, 0.0);

  model.set_attention_capture(false);
  EXPECT_EQ(model.attention_probs(), nullptr);
  double loss_off_again = 0;
  const std::vector<double> off_again = grads_of(model, b, kB, kS, &loss_off_again);
  EXPECT_EQ(loss_off, loss_off_again);
  EXPECT_TRUE(bitwise_equal(off.data(), off_again.data(), off.size() * sizeof(double)));
}

// Loss term sum(final_hidden · G): add_hidden_grad(G) must give exactly its gradient.
// This objective sums B·T·C terms of size ~1 (about 4x the cross-entropy), and its
// rounding noise, a few ulps amplified by the LayerNorms, reaches ~1e-8 in the difference
// quotient at h = 1e-6; h = 1e-5 divides that by 10 and its truncation error stays ~1e-10.
constexpr double kHiddenFdStep = 1e-5;

double dot_hidden(const GptModel<double>& model, const std::vector<double>& g) {
  double s = 0;
  for (size_t i = 0; i < g.size(); ++i) s += model.final_hidden()[i] * g[i];
  return s;
}

TEST(GptModelTest, HiddenGradientActsLikeAnExtraLossTerm) {
  GptModel<double> model(kTiny, kB, kS);
  randomize(model, 10, 0.2);
  const Batch b = random_batch(kB, kS, kTiny.vocab_size, 7, true);
  std::mt19937_64 gen(12);
  std::normal_distribution<double> dist(0.0, 1.0);
  const size_t n = static_cast<size_t>(kB * kS * kTiny.width);
  std::vector<double> g1(n), g2(n), g(n);
  for (size_t i = 0; i < n; ++i) {
    g1[i] = dist(gen);
    g2[i] = dist(gen);
    g[i] = g1[i] + g2[i];
  }

  // With the LM loss; two calls accumulate.
  model.zero_grads();
  model.forward(b.tokens.data(), b.targets.data(), kB, kS);
  model.add_hidden_grad(g1.data());
  model.add_hidden_grad(g2.data());
  model.backward();
  const std::vector<double> analytic(model.grads(), model.grads() + model.layout().total_count());
  expect_matches_finite_differences(
      model, analytic,
      [&] { return model.forward(b.tokens.data(), b.targets.data(), kB, kS) + dot_hidden(model, g); },
      "loss_plus_hidden", kHiddenFdStep);

  // Without targets only the hidden term is differentiated.
  model.zero_grads();
  model.forward(b.tokens.data(), nullptr, kB, kS);
  model.add_hidden_grad(g.data());
  model.backward();
  const std::vector<double> hidden_only(model.grads(), model.grads() + model.layout().total_count());
  expect_matches_finite_differences(
      model, hidden_only,
      [&] {
        model.forward(b.tokens.data(), nullptr, kB, kS);
        return dot_hidden(model, g);
      },
      "hidden_only", kHiddenFdStep);

  // A new forward discards a hidden gradient that was added for the previous one.
  model.zero_grads();
  model.forward(b.tokens.data(), b.targets.data(), kB, kS);
  model.add_hidden_grad(g.data());
  model.forward(b.tokens.data(), b.targets.data(), kB, kS);
  model.backward();
  const std::vector<double> plain = grads_of(model, b, kB, kS);
  EXPECT_TRUE(bitwise_equal(model.grads(), plain.data(), plain.size() * sizeof(double)));
}

TEST(GptModelTest, BackwardNeedsAFreshForward) {
  GptModel<double> model(kTiny, kB, kS);
  randomize(model, 1, 0.1);
  const Batch b = random_batch(kB, kS, kTiny.vocab_size, 1, false);
  EXPECT_THROW(model.backward(), std::logic_error);
  model.forward(b.tokens.data(), b.targets.data(), kB, kS);
  model.backward();
  EXPECT_THROW(model.backward(), std::logic_error);  // dlogits replaced the logits
  EXPECT_THROW(model.add_hidden_grad(nullptr), std::logic_error);  // no forward to attach to
  model.forward(b.tokens.data(), nullptr, kB, kS);
  EXPECT_THROW(model.backward(), std::logic_error);  // nothing to differentiate
}

// A batch whose every target is ignored has no loss term, so with no hidden gradient every
// parameter gradient is exactly zero, even right after a batch that left gradients of its
// own in the model's scratch buffers (the head's input gradient is cleared, not inherited).
TEST(GptModelTest, AllTargetsIgnoredGivesZeroGradients) {
  GptModel<float> model(kTiny, kB, kS);
  randomize(model, 11, 0.1);
  const Batch b = random_batch(kB, kS, kTiny.vocab_size, 12, false);
  grads_of(model, b, kB, kS);  // fills the scratch buffers with a real backward's values
  Batch ignored = b;
  std::fill(ignored.targets.begin(), ignored.targets.end(), -1);
  double loss = 0.0;
  const std::vector<float> g = grads_of(model, ignored, kB, kS, &loss);
  EXPECT_TRUE(std::isnan(loss));  // the mean over no targets, as torch gives
  for (size_t i = 0; i < g.size(); ++i) ASSERT_EQ(g[i], 0.0f) << "gradient element " << i;
}

TEST(GptModelTest, RejectsBadShapesAndInputs) {
  EXPECT_THROW(GptModel<float>(kTiny, 0, 4), std::invalid_argument);
  EXPECT_THROW(GptModel<float>(kTiny, 1, kTiny.context + 1), std::invalid_argument);
  GptModel<float> model(kTiny, kB, kS);
  const Batch b = random_batch(kB, kS, kTiny.vocab_size, 1, false);
  EXPECT_THROW(model.forward(b.tokens.data(), b.targets.data(), kB + 1, kS), std::invalid_argument);
  EXPECT_THROW(model.forward(b.tokens.data(), b.targets.data(), kB, kS + 1), std::invalid_argument);
  std::vector<int32_t> bad = b.tokens;
  bad[3] = static_cast<int32_t>(kTiny.vocab_size);
  EXPECT_THROW(model.forward(bad.data(), b.targets.data(), kB, kS), std::invalid_argument);
  EXPECT_THROW(model.backward(), std::logic_error);  // the failed forward left nothing
  bad = b.targets;
  bad[0] = -2;
  EXPECT_THROW(model.forward(b.tokens.data(), bad.data(), kB, kS), std::invalid_argument);
  // A shorter batch than the maximum is fine, and logits are [B,T,V].
  model.init_parameters(0);
  const double loss = model.forward(b.tokens.data(), b.targets.data(), 1, 3);
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_EQ(model.batch(), 1);
  EXPECT_EQ(model.seq_len(), 3);
}

TEST(GptModelTest, LogitsAreTheTiedHeadOfTheFinalHidden) {
  GptModel<double> model(kTiny, kB, kS);
  randomize(model, 3, 0.2);
  const Batch b = random_batch(kB, kS, kTiny.vocab_size, 2, false);
  EXPECT_TRUE(std::isnan(model.forward(b.tokens.data(), nullptr, kB, kS)));
  const double* wte = model.params() + model.layout().wte();
  const int64_t C = kTiny.width, V = kTiny.vocab_size;
  for (int64_t n = 0; n < kB * kS; ++n)
    for (int64_t v = 0; v < V; ++v) {
      double dot = 0;
      for (int64_t c = 0; c < C; ++c) dot += model.final_hidden()[n * C + c] * wte[v * C + c];
      ASSERT_NEAR(model.logits()[n * V + v], dot, 1e-12);
    }
}

TEST(GptModelTest, LayerProfilesAddUpToTheArena) {
  GptModel<float> model(kMid, kMidB, kMidS);
  const std::vector<LayerProfile> prof = model.layer_profiles(kMidB, kMidS);
  ASSERT_EQ(prof.size(), static_cast<size_t>(kMid.layers + 3));
  EXPECT_EQ(prof.front().name, "embedding");
  EXPECT_EQ(prof[1].name, "block.0");
  EXPECT_EQ(prof[static_cast<size_t>(kMid.layers)].name, "block." + std::to_string(kMid.layers - 1));
  EXPECT_EQ(prof[prof.size() - 2].name, "head");
  EXPECT_EQ(prof.back().name, "workspace");
  uint64_t act = 0, par = 0;
  for (const LayerProfile& p : prof) {
    act += p.activation_bytes;
    par += p.parameter_bytes;
  }
  EXPECT_EQ(act, model.activation_bytes());
  EXPECT_EQ(par, model.layout().total_count() * sizeof(float));
  const uint64_t N = kMidB * kMidS, C = kMid.width;
  // A block keeps 16 [N,C] activations (ln_1, qkv×3, attention out, res2, ln_2, fc×4,
  // gelu×4, res3) plus row statistics and the attention log-sum-exp.
  EXPECT_GE(prof[1].activation_bytes, 16 * N * C * sizeof(float));
  EXPECT_LE(prof[1].activation_bytes, (16 * N * C + 4 * N + kMidB * kMid.heads * kMidS + 13 * 16) * sizeof(float));
  EXPECT_EQ(prof[1].forward_flops, 24 * N * C * C + 2 * kMidB * C * kMidS * (kMidS + 1));
  EXPECT_EQ(prof[prof.size() - 2].forward_flops, 2 * N * C * kMid.vocab_size);
  // Halving the batch halves the per-block activations (up to slot alignment).
  const std::vector<LayerProfile> half = model.layer_profiles(kMidB / 2, kMidS);
  EXPECT_NEAR(static_cast<double>(half[1].activation_bytes), prof[1].activation_bytes / 2.0, 13 * 64);
}

// ---------------------------------------------------------------------------------------
// ParameterLayout

// GPT-2 parameter count with a tied head: per block 12C² + 13C, plus wte, wpe and ln_f.
int64_t gpt2_count(const GptConfig& c) {
  const int64_t C = c.width;
  return c.layers * (12 * C * C + 13 * C) + c.vocab_size * C + c.context * C + 2 * C;
}

TEST(ParameterLayoutTest, Gpt2SmallHasTheKnownParameterCount) {
  const GptConfig gpt2{.vocab_size = 50257, .context = 1024, .layers = 12, .heads = 12, .width = 768};
  const ParameterLayout layout(gpt2);
  EXPECT_EQ(layout.parameter_count(), 124439808);  // Hugging Face "gpt2" (tied head)
  EXPECT_EQ(layout.parameter_count(), gpt2_count(gpt2));
  EXPECT_EQ(layout.tensors().size(), static_cast<size_t>(2 + 12 * 12 + 2));
  EXPECT_EQ(ParameterLayout(kTiny).parameter_count(), gpt2_count(kTiny));
  EXPECT_EQ(ParameterLayout(kMid).parameter_count(), gpt2_count(kMid));
}

TEST(ParameterLayoutTest, TensorsAreAlignedUniqueAndInOrder) {
  const ParameterLayout layout(kTiny);
  std::set<std::string> names;
  int64_t end = 0;
  for (const ParameterTensor& t : layout.tensors()) {
    EXPECT_TRUE(names.insert(t.name).second) << "duplicate " << t.name;
    EXPECT_EQ(t.offset % ParameterLayout::kAlignElems, 0) << t.name;
    EXPECT_GE(t.offset, end) << t.name;
    EXPECT_LT(t.offset - end, ParameterLayout::kAlignElems) << t.name;  // padding only
    int64_t count = 1;
    for (int64_t d : t.shape) count *= d;
    EXPECT_EQ(count, t.count) << t.name;
    EXPECT_EQ(t.decay, t.shape.size() >= 2) << t.name;
    end = t.offset + t.count;
  }
  EXPECT_GE(layout.total_count(), end);
  EXPECT_EQ(layout.total_count() % ParameterLayout::kAlignElems, 0);

  const int64_t C = kTiny.width;
  auto shape = [&](const std::string& n) { return layout.at(n).shape; };
  EXPECT_EQ(shape("wte"), (std::vector<int64_t>{kTiny.vocab_size, C}));
  EXPECT_EQ(shape("wpe"), (std::vector<int64_t>{kTiny.context, C}));
  EXPECT_EQ(shape("h.1.attn.c_attn.weight"), (std::vector<int64_t>{3 * C, C}));
  EXPECT_EQ(shape("h.1.attn.c_proj.weight"), (std::vector<int64_t>{C, C}));
  EXPECT_EQ(shape("h.0.mlp.c_fc.weight"), (std::vector<int64_t>{4 * C, C}));
  EXPECT_EQ(shape("h.0.mlp.c_fc.bias"), (std::vector<int64_t>{4 * C}));
  EXPECT_EQ(shape("h.0.mlp.c_proj.weight"), (std::vector<int64_t>{C, 4 * C}));
  EXPECT_EQ(shape("ln_f.bias"), (std::vector<int64_t>{C}));
  EXPECT_FALSE(layout.at("h.0.ln_1.weight").decay);
  EXPECT_FALSE(layout.at("h.0.attn.c_attn.bias").decay);
  EXPECT_TRUE(layout.at("wpe").decay);
  EXPECT_TRUE(layout.at("h.1.mlp.c_proj.weight").decay);
  EXPECT_EQ(layout.find("lm_head.weight"), nullptr);  // tied to wte
  EXPECT_THROW(layout.at("nope"), std::out_of_range);
  EXPECT_EQ(layout.block(1).c_fc_weight, layout.at("h.1.mlp.c_fc.weight").offset);
  EXPECT_EQ(layout.ln_f_bias(), layout.at("ln_f.bias").offset);
}

TEST(ParameterLayoutTest, DecayRangesCoverExactlyTheDecayedTensors) {
  const ParameterLayout layout(kTiny);
  const std::vector<kernels::cpu::DecayRange> ranges = layout.weight_decay_ranges();
  auto in_ranges = [&](int64_t i) {
    for (const auto& r : ranges)
      if (r.begin <= i && i < r.end) return true;
    return false;
  };
  for (size_t k = 1; k < ranges.size(); ++k) EXPECT_LT(ranges[k - 1].end, ranges[k].begin);  // merged
  for (const ParameterTensor& t : layout.tensors())
    for (int64_t i = 0; i < t.count; ++i) ASSERT_EQ(in_ranges(t.offset + i), t.decay) << t.name;
  // wte and wpe merge; each block has its four matrices separated by biases.
  EXPECT_EQ(ranges.size(), static_cast<size_t>(1 + 4 * kTiny.layers));
}

TEST(ParameterLayoutTest, SegmentsTileTheBufferAtBlockBoundaries) {
  const ParameterLayout layout(kTiny);
  const std::vector<FlatRange>& seg = layout.segments();
  ASSERT_EQ(seg.size(), static_cast<size_t>(kTiny.layers + 2));
  EXPECT_EQ(seg.front().name, "embedding");
  EXPECT_EQ(seg.front().begin, 0);
  EXPECT_EQ(seg.back().name, "ln_f");
  EXPECT_EQ(seg.back().end, layout.total_count());
  for (size_t k = 1; k < seg.size(); ++k) EXPECT_EQ(seg[k - 1].end, seg[k].begin);
  for (int64_t l = 0; l < kTiny.layers; ++l) {
    const FlatRange& r = layout.block_range(l);
    EXPECT_EQ(r.name, "h." + std::to_string(l));
    EXPECT_EQ(r.begin, layout.at("h." + std::to_string(l) + ".ln_1.weight").offset);
    const ParameterTensor& last = layout.at("h." + std::to_string(l) + ".mlp.c_proj.bias");
    EXPECT_GE(r.end, last.offset + last.count);
    EXPECT_EQ(r.end % ParameterLayout::kAlignElems, 0);
  }
}

TEST(GptConfigTest, ValidateNamesTheProblem) {
  GptConfig c = kTiny;
  EXPECT_NO_THROW(c.validate());
  c.width = 9;
  try {
    c.validate();
    FAIL() << "width 9 with 2 heads accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("divisible by heads"), std::string::npos) << e.what();
  }
  for (int64_t GptConfig::* field :
       {&GptConfig::vocab_size, &GptConfig::context, &GptConfig::layers, &GptConfig::heads, &GptConfig::width}) {
    c = kTiny;
    c.*field = 0;
    EXPECT_THROW(c.validate(), std::invalid_argument);
    EXPECT_THROW(ParameterLayout{c}, std::invalid_argument);
  }
}

}  // namespace
}  // namespace strata::engine
