// strata-gpu-bench: GPT-2 124M training throughput on one CUDA GPU, with the measured bf16
// matmul rate for MFU. Prints one JSON line on stdout (progress on stderr).
//
//   strata-gpu-bench [--batch 16] [--seq 1024] [--steps 20] [--warmup 5] [--seed 1]
//                    [--lr 3e-4] [--matmul-size 8192]
//
// A step is zero_grads, forward, backward and a clipped (max norm 1) AdamW step on fresh
// random tokens and targets (fixed seed), timed with CUDA events and synchronised, as the
// PyTorch baseline times its steps; tokens/s comes from the median step.
// MFU = flops_per_token * tokens_per_s / measured bf16 GEMM FLOP/s, with
// flops_per_token = 6 * (params - wpe) + 12 * layers * seq * width: the PaLM / nanoGPT
// convention that ../shared/bench/pytorch_gpt_baseline.py reports, so the two MFUs compare.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
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
using strata::engine::cuda::CudaGptModel;
namespace kc = strata::kernels::cuda;

struct Args {
  int64_t batch = 16, seq = 1024, steps = 20, warmup = 5, matmul = 8192;
  uint64_t seed = 1;
  double lr = 3e-4;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      std::printf("usage: strata-gpu-bench [--batch N] [--seq N] [--steps N] [--warmup N] [--seed N] [--lr X] "
                  "[--matmul-size N]\n");
      std::exit(0);
    }
    if (i + 1 >= argc) throw std::invalid_argument("missing value after " + k);
    const std::string v = argv[++i];
    if (k == "--batch") a.batch = std::stoll(v);
    else if (k == "--seq") a.seq = std::stoll(v);
    else if (k == "--steps") a.steps = std::stoll(v);
    else if (k == "--warmup") a.warmup = std::stoll(v);
    else if (k == "--seed") a.seed = std::stoull(v);
    else if (k == "--lr") a.lr = std::stod(v);
    else if (k == "--matmul-size") a.matmul = std::stoll(v);
    else throw std::invalid_argument("unknown option " + k);
  }
  if (a.batch < 1 || a.seq < 1 || a.seq > 1024 || a.steps < 1 || a.warmup < 0 || a.matmul < 256)
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
  CudaGptModel model(cfg, a.batch, a.seq, {0.9, 0.95, 1e-8, 0.1});
  model.init_parameters(a.seed);
  const int64_t N = a.batch * a.seq;
  std::mt19937_64 gen(a.seed);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(cfg.vocab_size - 1));
  std::vector<int32_t> tokens(N), targets(N);

  cudaEvent_t t0, t1;
  STRATA_CUDA_CHECK(cudaEventCreate(&t0));
  STRATA_CUDA_CHECK(cudaEventCreate(&t1));
  std::vector<double> ms;
  double loss_first = 0.0, loss_last = 0.0;
  for (int64_t s = 0; s < a.warmup + a.steps; ++s) {
    for (int64_t i = 0; i < N; ++i) {
      tokens[i] = tok(gen);
      targets[i] = tok(gen);
    }
    STRATA_CUDA_CHECK(cudaEventRecord(t0, model.compute_stream()));
    model.zero_grads();
    model.forward_async(tokens.data(), targets.data(), a.batch, a.seq);
    model.backward();
    model.step(a.lr, 1.0);
    STRATA_CUDA_CHECK(cudaEventRecord(t1, model.compute_stream()));
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
  std::printf("{\"impl\":\"strata\",\"device\":\"%s\",\"batch\":%lld,\"seq\":%lld,\"params\":%lld,"
              "\"flops_per_token\":%.0f,\"warmup\":%lld,\"steps_timed\":%zu,\"ms_per_step\":%.3f,"
              "\"ms_per_step_mean\":%.3f,\"ms_per_step_min\":%.3f,\"ms_per_step_max\":%.3f,\"tokens_per_s\":%.1f,"
              "\"loss_first\":%.4f,\"loss_last\":%.4f,\"peak_device_bytes\":%zu,\"device_used_bytes\":%zu,"
              "\"matmul_tflops\":%.1f,\"mfu\":%.4f,"
              "\"mfu_formula\":\"(6*(params-wpe)+12*layers*seq*width)*tokens_per_s/matmul_flops\"}\n",
              prop.name, static_cast<long long>(a.batch), static_cast<long long>(a.seq),
              static_cast<long long>(params), flops_per_token, static_cast<long long>(a.warmup), ms.size(), median,
              mean, sorted.front(), sorted.back(), tokens_per_s, loss_first, loss_last, model.peak_device_bytes(),
              total_b - free_b, tflops, mfu);
  std::fflush(stdout);
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
