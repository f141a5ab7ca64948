// GptModel<float> + AdamW<float> against PyTorch: the same small GPT, the same flat
// parameters and batch, rebuilt by tests/core/engine/torch_oracle.py in torch. Loss,
// every gradient tensor and the parameters after one AdamW step must agree to float
// precision. Skipped (not failed) when /usr/bin/python3 cannot import torch.
//
// Build with -DSTRATA_SOURCE_DIR='"<repo root>"' so the test finds the script.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/engine/gpt/gpt_model.hpp"
#include "core/engine/gpt/optimizer.hpp"
#include "tests/support/paths.hpp"

#ifndef STRATA_SOURCE_DIR
#define STRATA_SOURCE_DIR "."
#endif

namespace strata::engine {
namespace {

namespace fs = std::filesystem;

constexpr GptConfig kConfig{.vocab_size = 64, .context = 16, .layers = 2, .heads = 2, .width = 32};
constexpr int64_t kB = 2, kS = 16;
// nanoGPT's defaults for the step.
constexpr double kLr = 1e-3, kBeta1 = 0.9, kBeta2 = 0.95, kEps = 1e-8, kWeightDecay = 0.1;

// A fresh directory under the system temp dir, removed with its contents at scope exit.
// A fresh temporary folder, removed at the end of the test.
using test::TempDir;

template <class V>
void write_binary(const fs::path& path, const V* data, int64_t count) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(count * sizeof(V)));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::vector<float> read_floats(const fs::path& path, int64_t count) {
  std::vector<float> v(static_cast<size_t>(count));
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(count * sizeof(float)));
  if (!in || in.gcount() != static_cast<std::streamsize>(count * sizeof(float)))
    throw std::runtime_error("cannot read " + std::to_string(count) + " floats from " + path.string());
  return v;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The layout table and run settings; the names are plain ASCII, so no escaping is needed.
std::string layout_json(const ParameterLayout& layout) {
  const GptConfig& c = layout.config();
  std::ostringstream j;
  j.precision(17);
  j << "{\"config\": {\"vocab_size\": " << c.vocab_size << ", \"context\": " << c.context
    << ", \"layers\": " << c.layers << ", \"heads\": " << c.heads << ", \"width\": " << c.width << "},\n"
    << " \"batch\": " << kB << ", \"seq\": " << kS << ", \"total_count\": " << layout.total_count() << ",\n"
    << " \"adamw\": {\"lr\": " << kLr << ", \"beta1\": " << kBeta1 << ", \"beta2\": " << kBeta2
    << ", \"eps\": " << kEps << ", \"weight_decay\": " << kWeightDecay << "},\n"
    << " \"tensors\": [";
  for (size_t i = 0; i < layout.tensors().size(); ++i) {
    const ParameterTensor& t = layout.tensors()[i];
    j << (i ? ",\n  " : "\n  ") << "{\"name\": \"" << t.name << "\", \"shape\": [";
    for (size_t d = 0; d < t.shape.size(); ++d) j << (d ? ", " : "") << t.shape[d];
    j << "], \"offset\": " << t.offset << ", \"count\": " << t.count
      << ", \"decay\": " << (t.decay ? "true" : "false") << "}";
  }
  j << "]}\n";
  return j.str();
}

double json_number(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\"");
  if (at == std::string::npos) throw std::runtime_error("no \"" + key + "\" in " + json);
  return std::strtod(json.c_str() + json.find(':', at) + 1, nullptr);
}

// max|ours - ref| over one tensor, and max|ref| for the tolerance.
struct Diff {
  double max_abs_diff = 0, max_abs_ref = 0;
};

Diff diff(const float* ours, const float* ref, int64_t n) {
  Diff d;
  for (int64_t i = 0; i < n; ++i) {
    d.max_abs_diff = std::max(d.max_abs_diff, std::abs(double{ours[i]} - double{ref[i]}));
    d.max_abs_ref = std::max(d.max_abs_ref, std::abs(double{ref[i]}));
  }
  return d;
}

TEST(TorchOracleTest, LossGradientsAndAdamWStepMatchPyTorch) {
  GptModel<float> model(kConfig, kB, kS);
  model.init_parameters(2024);
  // Small noise on top of the GPT-2 init so that biases and LayerNorm gains are not
  // 0 and 1: a bias or gain that was never applied would otherwise go unnoticed.
  std::mt19937_64 gen(5);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  for (const ParameterTensor& t : model.layout().tensors())
    for (int64_t i = 0; i < t.count; ++i) model.params()[t.offset + i] += noise(gen);

  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(kConfig.vocab_size - 1));
  std::vector<int32_t> tokens(kB * kS), targets(kB * kS);
  for (int32_t& t : tokens) t = tok(gen);
  for (int32_t& t : targets) t = tok(gen);
  targets[3] = targets[kS + 7] = -1;  // ignored positions in both sequences

  const ParameterLayout& layout = model.layout();
  const int64_t n = layout.total_count();
  TempDir dir;
  write_binary(dir.path() / "params.bin", model.params(), n);
  write_binary(dir.path() / "tokens.bin", tokens.data(), kB * kS);
  write_binary(dir.path() / "targets.bin", targets.data(), kB * kS);
  std::ofstream(dir.path() / "layout.json") << layout_json(layout);

  model.zero_grads();
  const double loss = model.forward(tokens.data(), targets.data(), kB, kS);
  model.backward();
  const std::vector<float> grads(model.grads(), model.grads() + n);
  AdamW<float> opt(layout, kBeta1, kBeta2, kEps, kWeightDecay);
  opt.step(model.params(), model.grads(), kLr);

  const fs::path script = fs::path(STRATA_SOURCE_DIR) / "tests/core/engine/torch_oracle.py";
  const fs::path log = dir.path() / "python.log";
  const std::string cmd = "/usr/bin/python3 '" + script.string() + "' '" + dir.path().string() + "' > '" +
                          log.string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << cmd;
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "PyTorch oracle unavailable: " << read_text(log);
  ASSERT_EQ(WEXITSTATUS(status), 0) << cmd << "\n" << read_text(log);

  const std::string result = read_text(dir.path() / "result.json");
  const std::vector<float> ref_grads = read_floats(dir.path() / "grads.bin", n);
  const std::vector<float> ref_updated = read_floats(dir.path() / "updated.bin", n);

  // fp32 tolerance: 1e-5 of the tensor's scale (at least 1). Forward and backward
  // round differently from torch (BLAS blocking, double accumulators here), so bitwise
  // equality is not expected; a wrong term is off by far more.
  const double ref_loss = json_number(result, "loss");
  EXPECT_NEAR(loss, ref_loss, 1e-5 * std::max(1.0, std::abs(ref_loss)));

  double worst_grad = 0, worst_param = 0;
  for (const ParameterTensor& t : layout.tensors()) {
    const Diff g = diff(grads.data() + t.offset, ref_grads.data() + t.offset, t.count);
    const double g_tol = 1e-5 * std::max(1.0, g.max_abs_ref);
    EXPECT_LE(g.max_abs_diff, g_tol) << "grad " << t.name << " (max |ref| " << g.max_abs_ref << ")";
    // The gradients here are O(1e-2): also hold them to 1e-3 of their own scale, which
    // the loose absolute bound above would not catch.
    EXPECT_LE(g.max_abs_diff, 1e-3 * g.max_abs_ref + 1e-8) << "grad " << t.name << " relative";
    worst_grad = std::max(worst_grad, g.max_abs_diff / (1e-3 * g.max_abs_ref + 1e-8));

    // Updated parameters, per element. The first AdamW step moves p by
    // lr·g/(|g| + eps), whose sensitivity to g is lr·eps/(|g| + eps)²: negligible for
    // ordinary gradients, but for a gradient that is zero up to rounding (the key bias,
    // below) it turns float noise in g into O(lr·|g|/eps) noise in p. That term is added.
    const Diff p = diff(model.params() + t.offset, ref_updated.data() + t.offset, t.count);
    // Scale: 1e-5 of the tensor's own magnitude, not of max(1, ·): the matrices are
    // ~0.05, where a decay step applied wrongly (lr·wd·|p| = 5e-6) must still show.
    const double p_base = 1e-5 * p.max_abs_ref;
    double worst_ratio = 0;
    int64_t worst_i = 0;
    for (int64_t i = 0; i < t.count; ++i) {
      const size_t e = static_cast<size_t>(t.offset + i);
      const double g_ours = grads[e], g_ref = ref_grads[e];
      const double g_min = std::min(std::abs(g_ours), std::abs(g_ref));
      const double tol = p_base + 2 * kLr * kEps * std::abs(g_ours - g_ref) / ((g_min + kEps) * (g_min + kEps));
      const double ratio = std::abs(double{model.params()[e]} - double{ref_updated[e]}) / tol;
      if (ratio > worst_ratio) {
        worst_ratio = ratio;
        worst_i = i;
      }
    }
    const size_t w = static_cast<size_t>(t.offset + worst_i);
    EXPECT_LE(worst_ratio, 1.0) << "updated " << t.name << "[" << worst_i << "]: " << model.params()[w] << " vs torch "
                                << ref_updated[w] << " (grad " << grads[w] << " vs " << ref_grads[w] << ")";
    worst_param = std::max(worst_param, worst_ratio);
  }

  // The key third of c_attn.bias has an exactly zero gradient: adding b to every key
  // adds q_i·b to every score of row i, which the softmax cancels. Both sides must
  // agree that it is rounding noise.
  for (int64_t l = 0; l < kConfig.layers; ++l) {
    const ParameterTensor& b = layout.at("h." + std::to_string(l) + ".attn.c_attn.bias");
    for (int64_t i = kConfig.width; i < 2 * kConfig.width; ++i) {
      EXPECT_LE(std::abs(grads[static_cast<size_t>(b.offset + i)]), 1e-7) << b.name << "[" << i << "]";
      EXPECT_LE(std::abs(ref_grads[static_cast<size_t>(b.offset + i)]), 1e-7) << b.name << "[" << i << "] (torch)";
    }
  }
  RecordProperty("torch_loss", std::to_string(ref_loss));
  RecordProperty("strata_loss", std::to_string(loss));
  RecordProperty("grad_err_over_tol", std::to_string(worst_grad));
  RecordProperty("param_err_over_tol", std::to_string(worst_param));
}

}  // namespace
}  // namespace strata::engine
