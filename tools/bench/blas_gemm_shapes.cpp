// The matrix products of one training step of a GPT shape, timed through whichever CBLAS this
// file is linked against (tools/bench-blas.sh builds it twice: OpenBLAS and BLIS). Per layer
// kind: the forward out = inp·W^T, the input gradient dinp += dout·W and the weight gradient
// dW += dout^T·inp, each the best of `reps` calls on two threads (the caller sets them), then
// their sum over the model's layers and its tied head, which is what a step spends in BLAS
// when nothing else runs.
//   blas_gemm_shapes TOKENS WIDTH VOCAB LAYERS [REPS]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Layer {
  const char* name;
  int in, out, count;  // W is [out, in]; count: how many of it a step has
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s TOKENS WIDTH VOCAB LAYERS [REPS]\n", argv[0]);
    return 2;
  }
  const int n = std::atoi(argv[1]), d = std::atoi(argv[2]), vocab = std::atoi(argv[3]),
            layers = std::atoi(argv[4]), reps = argc > 5 ? std::atoi(argv[5]) : 10;
  if (n <= 0 || d <= 0 || vocab <= 0 || layers <= 0 || reps <= 0) {
    std::fprintf(stderr, "blas_gemm_shapes: every argument must be a positive integer\n");
    return 2;
  }
  const Layer kinds[] = {{"qkv", d, 3 * d, layers},   {"attn_proj", d, d, layers},
                         {"fc", d, 4 * d, layers},    {"fc_proj", 4 * d, d, layers},
                         {"head", d, vocab, 1}};
  const size_t rows = static_cast<size_t>(n), wide = static_cast<size_t>(std::max(vocab, 4 * d));
  const size_t weights = std::max(static_cast<size_t>(vocab) * d, static_cast<size_t>(4 * d) * d);
  // Small non-zero values: no denormals, no overflow, whatever the repetitions.
  std::vector<float> inp(rows * 4 * d, 1e-3f), dinp(rows * 4 * d), dout(rows * wide, 1e-3f),
      out(rows * wide), w(weights, 1e-3f), dw(weights);
  double total[3] = {0, 0, 0};
  std::printf("%-10s %22s %22s %22s\n", "layer", "forward", "input grad", "weight grad");
  for (const Layer& k : kinds) {
    double best[3] = {1e30, 1e30, 1e30};
    for (int r = 0; r < reps; ++r) {
      const double t0 = now();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, k.out, k.in, 1.f, inp.data(), k.in,
                  w.data(), k.in, 0.f, out.data(), k.out);
      const double t1 = now();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, k.in, k.out, 1.f, dout.data(),
                  k.out, w.data(), k.in, 1.f, dinp.data(), k.in);
      const double t2 = now();
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k.out, k.in, n, 1.f, dout.data(),
                  k.out, inp.data(), k.in, 1.f, dw.data(), k.in);
      const double t3 = now();
      best[0] = std::min(best[0], t1 - t0);
      best[1] = std::min(best[1], t2 - t1);
      best[2] = std::min(best[2], t3 - t2);
    }
    const double flop = 2.0 * n * k.in * k.out;
    std::printf("%-10s", k.name);
    for (int j = 0; j < 3; ++j) {
      std::printf("  %8.3f ms %6.1f GF/s", best[j] * 1e3, flop / best[j] / 1e9);
      total[j] += best[j] * k.count;
    }
    std::printf("\n");
  }
  std::printf("per step  forward %.1f ms, input grads %.1f ms, weight grads %.1f ms: %.1f ms\n",
              total[0] * 1e3, total[1] * 1e3, total[2] * 1e3,
              (total[0] + total[1] + total[2]) * 1e3);
  return 0;
}
