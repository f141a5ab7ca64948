// strata-gpu-bench: GPT-2 124M training throughput on one CUDA GPU, with the measured bf16
// matmul rate for MFU. Prints one JSON line on stdout (progress on stderr).
//
//   strata-gpu-bench [--batch 16|max] [--seq 1024] [--steps 20] [--warmup 5] [--seed 1]
//                    [--lr 3e-4] [--matmul-size 8192] [--profile] [--no-fused-epilogues]
//                    [--attention flash|materialized] [--attention-row-block 128]
//   --attention: the fused kernels (default) or cuBLAS products with kept probabilities;
//   --attention-row-block (materialized only): 0 for whole S x S products
//   --batch max: the largest power-of-two micro-batch (from 16) whose model the device can
//   hold (every buffer is allocated when the model is built, so building it is the test)
//
// A step is zero_grads, forward, backward and a clipped (max norm 1) AdamW step on fresh
// random tokens and targets (fixed seed), timed with CUDA events and synchronised, as the
// PyTorch baseline times its steps; tokens/s comes from the median step.
// MFU = flops_per_token * tokens_per_s / measured bf16 GEMM FLOP/s, with
// flops_per_token = 6 * (params - wpe) + 12 * layers * seq * width: the PaLM / nanoGPT
// convention that ../shared/bench/pytorch_gpt_baseline.py reports, so the two MFUs compare.
//
// --profile: the timed steps (not the warm-ups) also record a CUDA event at every phase
// the model marks (CudaGptModel::set_phase_marker: each layernorm, linear layer, attention
// piece, GELU, residual, the LM head, cross-entropy, the backward of each, the optimizer),
// and a table of ms per step and share of the step for each phase (summed over the layers),
// then per category and per section (fwd / bwd / opt), goes to stdout after the JSON line.
// The events add a few hundred records per step, so a profiled run is a separate, short
// invocation (tools/gpu-check.sh: 2 warm-up + 3 profiled steps); its step time is printed
// next to the table, to compare with the unprofiled run.
#include <cuda_profiler_api.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/engine/cuda/cuda_gpt_model.hpp"
#include "kernels/cuda/blas.h"
#include "kernels/cuda/check.h"

namespace {

using strata::engine::GptConfig;
using strata::engine::cuda::CudaAttention;
using strata::engine::cuda::CudaGptModel;
namespace kc = strata::kernels::cuda;

struct Args {
  int64_t batch = 16, seq = 1024, steps = 20, warmup = 5, matmul = 8192;
  uint64_t seed = 1;
  double lr = 3e-4;
  bool profile = false;
  bool batch_max = false;  // --batch max
  bool fused = true;  // cuBLASLt epilogues (CudaGptModel::set_fused_epilogues)
  int64_t attention_row_block = 128;  // CudaGptModel::set_attention_row_block
  CudaAttention attention = CudaAttention::flash;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      std::printf("usage: strata-gpu-bench [--batch N] [--seq N] [--steps N] [--warmup N] [--seed N] [--lr X] "
                  "[--matmul-size N] [--profile] [--no-fused-epilogues] [--attention flash|materialized] "
                  "[--attention-row-block N]\n");
      std::exit(0);
    }
    if (k == "--profile") {
      a.profile = true;
      continue;
    }
    if (k == "--no-fused-epilogues") {
      a.fused = false;
      continue;
    }
    if (i + 1 >= argc) throw std::invalid_argument("missing value after " + k);
    const std::string v = argv[++i];
    if (k == "--batch" && v == "max") a.batch_max = true;
    else if (k == "--batch") a.batch = std::stoll(v);
    else if (k == "--seq") a.seq = std::stoll(v);
    else if (k == "--steps") a.steps = std::stoll(v);
    else if (k == "--warmup") a.warmup = std::stoll(v);
    else if (k == "--seed") a.seed = std::stoull(v);
    else if (k == "--lr") a.lr = std::stod(v);
    else if (k == "--matmul-size") a.matmul = std::stoll(v);
    else if (k == "--attention-row-block") a.attention_row_block = std::stoll(v);
    else if (k == "--attention" && (v == "flash" || v == "materialized"))
      a.attention = v == "flash" ? CudaAttention::flash : CudaAttention::materialized;
    else if (k == "--attention") throw std::invalid_argument("--attention takes flash or materialized, not " + v);
    else throw std::invalid_argument("unknown option " + k);
  }
  if (a.batch < 1 || a.seq < 1 || a.seq > 1024 || a.steps < 1 || a.warmup < 0 || a.matmul < 256 ||
      a.attention_row_block < 0)
    throw std::invalid_argument("bad option value (batch >= 1, 1 <= seq <= 1024, steps >= 1, matmul-size >= 256)");
  return a;
}

// Random bf16 data (zeros or constants would flatter the tensor cores' power draw).
void fill_random(kc::bf16* dev, int64_t n, uint64_t seed) {
  std::vector<kc::bf16> host(static_cast<size_t>(n));
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& h : host) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    h = kc::to_bf16(static_cast<float>(static_cast<int64_t>(x >> 40) - (1 << 23)) / static_cast<float>(1 << 23));
  }
  STRATA_CUDA_CHECK(cudaMemcpy(dev, host.data(), n * sizeof(kc::bf16), cudaMemcpyHostToDevice));
}

// TFLOP/s of an n^3 bf16 GEMM with fp32 accumulation and bf16 output (cuBLAS), the mean of
// 10 products after 3 warm-ups.
double measure_matmul_tflops(int64_t n) {
  const size_t bytes = static_cast<size_t>(n * n) * sizeof(kc::bf16);
  void *va = nullptr, *vb = nullptr, *vc = nullptr;
  STRATA_CUDA_CHECK(cudaMalloc(&va, bytes));
  STRATA_CUDA_CHECK(cudaMalloc(&vb, bytes));
  STRATA_CUDA_CHECK(cudaMalloc(&vc, bytes));
  auto* a = static_cast<kc::bf16*>(va);
  auto* b = static_cast<kc::bf16*>(vb);
  auto* c = static_cast<kc::bf16*>(vc);
  void* ws = nullptr;
  STRATA_CUDA_CHECK(cudaMalloc(&ws, kc::Blas::kRecommendedWorkspaceBytes));
  cudaStream_t stream = nullptr;
  STRATA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  double tflops = 0.0;
  {
    fill_random(a, n * n, 1);
    fill_random(b, n * n, 2);
    kc::Blas blas(stream, ws, kc::Blas::kRecommendedWorkspaceBytes);
    kc::GemmArgs g;
    g.trans_b = true;  // the layout of every forward matmul: out = inp · W^T
    g.M = g.N = g.K = n;
    g.A = a, g.lda = n, g.B = b, g.ldb = n, g.C = c, g.ldc = n;
    for (int i = 0; i < 3; ++i) kc::gemm(blas, g);
    cudaEvent_t t0, t1;
    STRATA_CUDA_CHECK(cudaEventCreate(&t0));
    STRATA_CUDA_CHECK(cudaEventCreate(&t1));
    const int reps = 10;
    STRATA_CUDA_CHECK(cudaEventRecord(t0, stream));
    for (int i = 0; i < reps; ++i) kc::gemm(blas, g);
    STRATA_CUDA_CHECK(cudaEventRecord(t1, stream));
    STRATA_CUDA_CHECK(cudaEventSynchronize(t1));
    float ms = 0.0f;
    STRATA_CUDA_CHECK(cudaEventElapsedTime(&ms, t0, t1));
    tflops = 2.0 * static_cast<double>(n) * n * n * reps / (ms * 1e-3) / 1e12;
    cudaEventDestroy(t0);
    cudaEventDestroy(t1);
  }
  cudaStreamDestroy(stream);
  cudaFree(ws);
  cudaFree(c);
  cudaFree(b);
  cudaFree(a);
  return tflops;
}

// Records a CUDA event at every mark on the model's compute stream; after each step,
// attributes the time between consecutive events to the phase that the earlier one began,
// summed by name over the layers and the steps.
class EventProfiler final : public kc::PhaseMarker {
 public:
  explicit EventProfiler(cudaStream_t stream) : stream_(stream) {}
  ~EventProfiler() override {
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
  }
  EventProfiler(const EventProfiler&) = delete;
  EventProfiler& operator=(const EventProfiler&) = delete;

  void mark(const char* phase, const char* category) override {
    phase_ = phase;
    record(phase_, category);
  }
  void mark_part(const char* part, const char* category) override {
    record(phase_ + ": " + part, category);
  }
  void begin_step() {
    used_ = 0;
    names_.clear();
    categories_.clear();
    phase_ = "step start";
    record(phase_, "other");
  }
  // Records the closing event, waits for it and adds this step's phases to the totals.
  void end_step() {
    record("end", "other");
    STRATA_CUDA_CHECK(cudaEventSynchronize(events_[used_ - 1]));
    for (size_t i = 0; i + 1 < used_; ++i) {
      float ms = 0.0f;
      STRATA_CUDA_CHECK(cudaEventElapsedTime(&ms, events_[i], events_[i + 1]));
      Row& r = rows_[names_[i]];
      r.category = categories_[i];
      r.ms += ms;
      ++r.calls;
      total_ms_ += ms;
    }
    marks_per_step_ = used_;
    ++steps_;
  }

  void print(double step_ms_median) const {
    if (steps_ == 0) return;
    const double per = 1.0 / static_cast<double>(steps_);
    const double total = total_ms_ * per;
    std::vector<std::pair<std::string, Row>> rows(rows_.begin(), rows_.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
    std::printf("\n=== strata profile: %lld profiled steps, %zu events per step; %.2f ms/step between the first "
                "and the last event (median profiled step %.2f ms, event to event around the whole step) ===\n",
                static_cast<long long>(steps_), marks_per_step_, total, step_ms_median);
    std::printf("%-58s %10s %7s %7s %6s  %s\n", "phase (summed over layers)", "ms/step", "%", "cum %", "calls",
                "category");
    double cum = 0.0;
    int hidden = 0;
    for (const auto& [name, r] : rows) {
      const double ms = r.ms * per;
      cum += ms;
      if (ms < 0.0005) {
        ++hidden;
        continue;
      }
      std::printf("%-58s %10.3f %6.2f%% %6.2f%% %6.0f  %s\n", name.c_str(), ms, 100.0 * ms / total,
                  100.0 * cum / total, static_cast<double>(r.calls) * per, r.category.c_str());
    }
    if (hidden > 0) std::printf("(%d phases under 0.5 us/step not shown: markers with no work of their own)\n", hidden);
    auto group = [&](const char* title, auto key) {
      std::map<std::string, double> g;
      for (const auto& [name, r] : rows) g[key(name, r)] += r.ms * per;
      std::vector<std::pair<std::string, double>> v(g.begin(), g.end());
      std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
      std::printf("\n%-58s %10s %7s\n", title, "ms/step", "%");
      for (const auto& [k, ms] : v) std::printf("%-58s %10.3f %6.2f%%\n", k.c_str(), ms, 100.0 * ms / total);
    };
    group("category", [](const std::string&, const Row& r) { return r.category; });
    group("section", [](const std::string& name, const Row&) {
      const std::string first = name.substr(0, name.find(' '));
      if (first == "fwd") return std::string("forward");
      if (first == "bwd") return std::string("backward");
      if (first == "opt") return std::string("optimizer (grad norm, clipping, AdamW)");
      return std::string("other (zero grads, step start)");
    });
    std::printf("=== end of strata profile ===\n");
    std::fflush(stdout);
  }

 private:
  struct Row {
    std::string category;
    double ms = 0.0;
    int64_t calls = 0;
  };
  void record(std::string name, const char* category) {
    if (used_ == events_.size()) {
      cudaEvent_t e = nullptr;
      STRATA_CUDA_CHECK(cudaEventCreate(&e));
      events_.push_back(e);
    }
    STRATA_CUDA_CHECK(cudaEventRecord(events_[used_], stream_));
    ++used_;
    names_.push_back(std::move(name));
    categories_.emplace_back(category);
  }

  cudaStream_t stream_;
  std::vector<cudaEvent_t> events_;
  size_t used_ = 0, marks_per_step_ = 0;
  std::vector<std::string> names_, categories_;
  std::string phase_;
  std::map<std::string, Row> rows_;
  double total_ms_ = 0.0;
  int64_t steps_ = 0;
};

// The largest power of two from 16 whose model fits: building the model allocates every
// buffer it will use, so a build that succeeds trains; one that runs out of memory throws
// and frees what it had taken.
int64_t largest_batch(const GptConfig& cfg, const Args& a) {
  int64_t fits = 0;
  for (int64_t b = 16; b <= 4096; b *= 2) {
    try {
      CudaGptModel probe(cfg, b, a.seq, {0.9, 0.95, 1e-8, 0.1}, a.attention);
      fits = b;
      std::fprintf(stderr, "strata-gpu-bench: micro-batch %lld fits (%.2f GiB)\n", static_cast<long long>(b),
                   static_cast<double>(probe.device_bytes()) / (1 << 30));
    } catch (const std::runtime_error& e) {
      std::fprintf(stderr, "strata-gpu-bench: micro-batch %lld does not fit: %s\n", static_cast<long long>(b),
                   e.what());
      break;
    }
  }
  if (fits == 0) throw std::runtime_error("not even micro-batch 16 fits on this device");
  return fits;
}

int train(const Args& a, const GptConfig& cfg, const cudaDeviceProp& prop, double tflops);

int run(const Args& a) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    std::printf("SKIPPED: no CUDA device (%s)\n", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    return 77;
  }
  cudaDeviceProp prop{};
  STRATA_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::fprintf(stderr, "strata-gpu-bench: %s, batch %lld, seq %lld\n", prop.name, static_cast<long long>(a.batch),
               static_cast<long long>(a.seq));

  const double tflops = measure_matmul_tflops(a.matmul);
  std::fprintf(stderr, "strata-gpu-bench: bf16 GEMM %lld^3: %.1f TFLOP/s\n", static_cast<long long>(a.matmul), tflops);

  const GptConfig cfg{.vocab_size = 50257, .context = 1024, .layers = 12, .heads = 12, .width = 768};
  Args args = a;
  if (a.batch_max) args.batch = largest_batch(cfg, a);
  return train(args, cfg, prop, tflops);
}

int train(const Args& a, const GptConfig& cfg, const cudaDeviceProp& prop, double tflops) {
  CudaGptModel model(cfg, a.batch, a.seq, {0.9, 0.95, 1e-8, 0.1}, a.attention);
  model.init_parameters(a.seed);
  if (!a.fused) model.set_fused_epilogues(false);
  model.set_attention_row_block(a.attention_row_block);
  std::fprintf(stderr, "strata-gpu-bench: attention %s, cuBLASLt epilogue fusion %s, attention row block %lld\n",
               to_string(model.attention()), model.fused_epilogues() ? "on" : "off",
               static_cast<long long>(model.attention_row_block()));
  const int64_t N = a.batch * a.seq;
  std::mt19937_64 gen(a.seed);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(cfg.vocab_size - 1));
  std::vector<int32_t> tokens(N), targets(N);

  cudaEvent_t t0, t1;
  STRATA_CUDA_CHECK(cudaEventCreate(&t0));
  STRATA_CUDA_CHECK(cudaEventCreate(&t1));
  std::vector<double> ms;
  double loss_first = 0.0, loss_last = 0.0;
  EventProfiler profiler(model.compute_stream());
  for (int64_t s = 0; s < a.warmup + a.steps; ++s) {
    for (int64_t i = 0; i < N; ++i) {
      tokens[i] = tok(gen);
      targets[i] = tok(gen);
    }
    // An external profiler started with a cudaProfilerApi capture range (nsys, in
    // gpu-check.sh) sees the timed steps only; without one these calls do nothing.
    // (Their status is ignored and cleared, so it cannot surface at a later launch check.)
    if (s == a.warmup) {
      (void)cudaProfilerStart();
      (void)cudaGetLastError();
    }
    const bool profiled = a.profile && s >= a.warmup;
    model.set_phase_marker(profiled ? &profiler : nullptr);
    if (profiled) profiler.begin_step();
    STRATA_CUDA_CHECK(cudaEventRecord(t0, model.compute_stream()));
    model.zero_grads();
    model.forward_async(tokens.data(), targets.data(), a.batch, a.seq);
    model.backward();
    model.step(a.lr, 1.0);
    STRATA_CUDA_CHECK(cudaEventRecord(t1, model.compute_stream()));
    if (profiled) profiler.end_step();
    STRATA_CUDA_CHECK(cudaEventSynchronize(t1));
    float step_ms = 0.0f;
    STRATA_CUDA_CHECK(cudaEventElapsedTime(&step_ms, t0, t1));
    const double loss = model.loss();
    if (s == 0) loss_first = loss;
    loss_last = loss;
    if (s >= a.warmup) ms.push_back(step_ms);
    std::fprintf(stderr, "strata-gpu-bench: step %lld%s: %.2f ms, loss %.4f, grad norm %.3f\n",
                 static_cast<long long>(s), s < a.warmup ? " (warm-up)" : "", step_ms, loss, model.last_grad_norm());
  }
  (void)cudaProfilerStop();
  (void)cudaGetLastError();
  std::fprintf(stderr, "strata-gpu-bench: GEMMs with a fused cuBLASLt epilogue: %lld, declined (unfused path): %lld\n",
               static_cast<long long>(model.fused_gemm_calls()),
               static_cast<long long>(model.declined_fused_gemm_calls()));
  cudaEventDestroy(t0);
  cudaEventDestroy(t1);
  std::vector<double> sorted(ms);
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  const double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size());
  const double tokens_per_s = static_cast<double>(N) / (median * 1e-3);
  const int64_t params = model.parameter_count();
  const int64_t nonemb = params - cfg.context * cfg.width;
  const double flops_per_token = 6.0 * static_cast<double>(nonemb) + 12.0 * cfg.layers * a.seq * cfg.width;
  const double mfu = flops_per_token * tokens_per_s / (tflops * 1e12);
  size_t free_b = 0, total_b = 0;
  STRATA_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  std::printf("{\"impl\":\"strata\",\"device\":\"%s\",\"batch\":%lld,\"batch_is_largest_that_fits\":%s,\"seq\":%lld,\"params\":%lld,"
              "\"flops_per_token\":%.0f,\"warmup\":%lld,\"steps_timed\":%zu,\"ms_per_step\":%.3f,"
              "\"ms_per_step_mean\":%.3f,\"ms_per_step_min\":%.3f,\"ms_per_step_max\":%.3f,\"tokens_per_s\":%.1f,"
              "\"loss_first\":%.4f,\"loss_last\":%.4f,\"peak_device_bytes\":%zu,\"device_used_bytes\":%zu,"
              "\"matmul_tflops\":%.1f,\"mfu\":%.4f,\"profiled\":%s,\"fused_epilogues\":%s,\"fused_gemm_calls\":%lld,\"declined_fused_gemm_calls\":%lld,\"attention_row_block\":%lld,"
              "\"attention\":\"%s\","
              "\"mfu_formula\":\"(6*(params-wpe)+12*layers*seq*width)*tokens_per_s/matmul_flops\"}\n",
              prop.name, static_cast<long long>(a.batch), a.batch_max ? "true" : "false", static_cast<long long>(a.seq),
              static_cast<long long>(params), flops_per_token, static_cast<long long>(a.warmup), ms.size(), median,
              mean, sorted.front(), sorted.back(), tokens_per_s, loss_first, loss_last, model.peak_device_bytes(),
              total_b - free_b, tflops, mfu, a.profile ? "true" : "false",
              model.fused_epilogues() ? "true" : "false", static_cast<long long>(model.fused_gemm_calls()),
              static_cast<long long>(model.declined_fused_gemm_calls()),
              static_cast<long long>(model.attention_row_block()), to_string(model.attention()));
  std::fflush(stdout);
  model.set_phase_marker(nullptr);
  if (a.profile) profiler.print(median);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "strata-gpu-bench: error: %s\n", e.what());
    return 1;
  }
}
