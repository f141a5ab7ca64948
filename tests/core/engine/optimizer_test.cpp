// AdamW over a ParameterLayout: a two-step example worked by hand, decay only on the
// layout's decayed tensors (ndim >= 2), padding untouched, and the step counter.
#include "core/engine/gpt/optimizer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/engine/gpt/parameter_layout.hpp"

namespace strata::engine {
namespace {

constexpr GptConfig kConfig{.vocab_size = 3, .context = 2, .layers = 1, .heads = 1, .width = 2};

// Hyper-parameters of the worked example: lr·wd = 0.01, so decay multiplies p by 0.99.
constexpr double kLr = 0.1, kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8, kWd = 0.1;

// Every parameter starts at 1 and sees g = 0.5, then g = -0.25 (torch.optim.AdamW):
//   step 1: m = 0.1·0.5 = 0.05, v = 0.001·0.25 = 0.00025,
//           m̂ = 0.05/0.1 = 0.5, √v̂ = √(0.00025/0.001) = 0.5,
//           update = 0.1 · 0.5/(0.5 + 1e-8) = 0.099999998000000039999...
//           decayed:    p = 1·0.99 - update = 0.890000002
//           no decay:   p = 1      - update = 0.900000002
//   step 2: m = 0.9·0.05 + 0.1·(-0.25) = 0.02,
//           v = 0.999·0.00025 + 0.001·0.0625 = 0.00031225,
//           m̂ = 0.02/0.19 = 0.105263157894736842..., v̂ = 0.00031225/0.001999,
//           update = 0.1 · m̂/(√v̂ + 1e-8) = -0.026633703292153856...
//           decayed:    p = 0.890000002·0.99 + 0.0266337... = 0.85446629868784616296
//           no decay:   p = 0.900000002      + 0.0266337... = 0.87336629870784616256
// (values to 20 digits from a 40-digit decimal evaluation of the same formulas).
constexpr double kStep1Decayed = 0.8900000019999999600;
constexpr double kStep1Plain = 0.9000000019999999600;
constexpr double kStep2Decayed = 0.85446629868784616296;
constexpr double kStep2Plain = 0.87336629870784616256;

template <class T>
struct Example {
  ParameterLayout layout{kConfig};
  std::vector<T> params = std::vector<T>(static_cast<size_t>(layout.total_count()), T{0});
  std::vector<T> grads = std::vector<T>(params.size(), T{0});

  Example() { fill(params, T{1}); }
  // Real elements only: the padding stays 0 in params and grads.
  void fill(std::vector<T>& v, T value) {
    for (const ParameterTensor& t : layout.tensors())
      for (int64_t i = 0; i < t.count; ++i) v[static_cast<size_t>(t.offset + i)] = value;
  }
};

template <class T>
void expect_state(const Example<T>& ex, const AdamW<T>& opt, double decayed, double plain, double m, double v,
                  double tol) {
  std::vector<bool> real(ex.params.size(), false);
  for (const ParameterTensor& t : ex.layout.tensors()) {
    for (int64_t i = 0; i < t.count; ++i) {
      const size_t e = static_cast<size_t>(t.offset + i);
      real[e] = true;
      EXPECT_NEAR(ex.params[e], t.decay ? decayed : plain, tol) << t.name << "[" << i << "]";
      EXPECT_NEAR(opt.m()[e], m, tol) << t.name;
      EXPECT_NEAR(opt.v()[e], v, tol) << t.name;
    }
  }
  for (size_t e = 0; e < real.size(); ++e) {
    if (real[e]) continue;
    EXPECT_EQ(ex.params[e], T{0}) << "padding " << e;
    EXPECT_EQ(opt.m()[e], T{0}) << "padding " << e;
    EXPECT_EQ(opt.v()[e], T{0}) << "padding " << e;
  }
}

TEST(AdamWTest, TwoStepsMatchTheWorkedExample) {
  Example<double> ex;
  AdamW<double> opt(ex.layout, kBeta1, kBeta2, kEps, kWd);
  EXPECT_EQ(opt.step_count(), 0);
  EXPECT_EQ(opt.size(), ex.layout.total_count());

  ex.fill(ex.grads, 0.5);
  opt.step(ex.params.data(), ex.grads.data(), kLr);
  EXPECT_EQ(opt.step_count(), 1);
  expect_state(ex, opt, kStep1Decayed, kStep1Plain, 0.05, 0.00025, 1e-15);

  ex.fill(ex.grads, -0.25);
  opt.step(ex.params.data(), ex.grads.data(), kLr);
  EXPECT_EQ(opt.step_count(), 2);
  expect_state(ex, opt, kStep2Decayed, kStep2Plain, 0.02, 0.00031225, 1e-15);
}

TEST(AdamWTest, FloatFollowsTheSameExample) {
  Example<float> ex;
  AdamW<float> opt(ex.layout, kBeta1, kBeta2, kEps, kWd);
  ex.fill(ex.grads, 0.5f);
  opt.step(ex.params.data(), ex.grads.data(), kLr);
  ex.fill(ex.grads, -0.25f);
  opt.step(ex.params.data(), ex.grads.data(), kLr);
  expect_state(ex, opt, kStep2Decayed, kStep2Plain, 0.02, 0.00031225, 1e-6);
}

TEST(AdamWTest, DecaySkipsBiasesAndLayerNorms) {
  // With a zero gradient the update is 0, so only decay can move a parameter.
  Example<double> ex;
  AdamW<double> opt(ex.layout, kBeta1, kBeta2, kEps, kWd);
  opt.step(ex.params.data(), ex.grads.data(), kLr);
  int decayed = 0, kept = 0;
  for (const ParameterTensor& t : ex.layout.tensors()) {
    const bool should_decay = t.name == "wte" || t.name == "wpe" || t.name.ends_with("c_attn.weight") ||
                              t.name.ends_with("c_proj.weight") || t.name.ends_with("c_fc.weight");
    for (int64_t i = 0; i < t.count; ++i)
      ASSERT_EQ(ex.params[static_cast<size_t>(t.offset + i)], should_decay ? 0.99 : 1.0) << t.name;
    (should_decay ? decayed : kept) += 1;
  }
  EXPECT_EQ(decayed, 6);  // wte, wpe, c_attn, attn.c_proj, c_fc, mlp.c_proj
  EXPECT_EQ(kept, 10);    // ln_1, ln_2, ln_f (weight and bias) and four Linear biases
}

TEST(AdamWTest, LearningRateIsTakenPerStep) {
  Example<double> ex;
  AdamW<double> opt(ex.layout, kBeta1, kBeta2, kEps, kWd);
  ex.fill(ex.grads, 0.5);
  opt.step(ex.params.data(), ex.grads.data(), 0.0);  // lr 0: moments move, parameters do not
  expect_state(ex, opt, 1.0, 1.0, 0.05, 0.00025, 1e-15);
  for (const ParameterTensor& t : ex.layout.tensors())
    for (int64_t i = 0; i < t.count; ++i) ASSERT_EQ(ex.params[static_cast<size_t>(t.offset + i)], 1.0) << t.name;
  EXPECT_EQ(opt.step_count(), 1);
}

TEST(AdamWTest, RejectsBadHyperParameters) {
  const ParameterLayout layout(kConfig);
  EXPECT_THROW(AdamW<float>(layout, 1.0, 0.999, 1e-8, 0.1), std::invalid_argument);
  EXPECT_THROW(AdamW<float>(layout, 0.9, -0.1, 1e-8, 0.1), std::invalid_argument);
  EXPECT_THROW(AdamW<float>(layout, 0.9, 0.999, -1.0, 0.1), std::invalid_argument);
  EXPECT_THROW(AdamW<float>(layout, 0.9, 0.999, 1e-8, -0.1), std::invalid_argument);
}

}  // namespace
}  // namespace strata::engine
