// Probe for the next step of the CPU engine (docs/performance.md, "What is next"): how close a
// small GEMM of Strata's own, with the weight packed once and no hand-offs between threads,
// comes to OpenBLAS on the forward products out[M,N] = X[M,K] · W[N,K]^T. Not used by Strata.
//
// The weight is packed into 16-column panels (W^T, K x 16 each, contiguous); X is read in
// place, six rows at a time, into a 6 x 16 register tile (12 AVX2 accumulators, as in the
// attention's small products); K is blocked by 256 and M by 96 rows, so that a tile's slice
// of a panel (16 KiB) stays in L1 and the rows' block (96 KiB) in L2; the two threads take
// half of M each and never wait for each other. Prints OpenBLAS's time (2 threads, best of
// REPS), the probe's, the one-off packing and the largest difference between the two results.
// Build and run (each command on one line):
//   g++ -O2 -std=c++20 -march=x86-64-v3 -fopenmp tools/bench/prepacked_gemm_probe.cpp
//       /usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0 -o /tmp/probe
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=2
//       LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /tmp/probe M N K [REPS]
// Exit status 1 when the two results differ by more than rounding.
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

constexpr int kKc = 256, kMc = 96, kPanel = 16, kRows = 6;

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// packed[(panel * K + k) * 16 + c] = W[panel * 16 + c, k]
void pack(const float* w, int n, int k, float* packed) {
  for (int p = 0; p < n / kPanel; ++p)
    for (int kk = 0; kk < k; ++kk)
      for (int c = 0; c < kPanel; ++c)
        packed[(static_cast<size_t>(p) * k + kk) * kPanel + c] =
            w[static_cast<size_t>(p * kPanel + c) * k + kk];
}

// c[MR x 16] (=, or += when !first) a[MR x kc] · b[kc x 16]. Every loop over the rows is
// unrolled, or GCC keeps the accumulators on the stack (measured: a third of the speed).
template <int MR>
void tile(int kc, const float* a, int lda, const float* b, float* c, int ldc, bool first) {
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_loadu_ps(b + p * kPanel), b1 = _mm256_loadu_ps(b + p * kPanel + 8);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r * lda + p);
      acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    if (!first) {
      acc[r][0] = _mm256_add_ps(_mm256_loadu_ps(cr), acc[r][0]);
      acc[r][1] = _mm256_add_ps(_mm256_loadu_ps(cr + 8), acc[r][1]);
    }
    _mm256_storeu_ps(cr, acc[r][0]);
    _mm256_storeu_ps(cr + 8, acc[r][1]);
  }
}

// Rows [m0, m1) of out.
void gemm_rows(int m0, int m1, int n, int k, const float* x, const float* packed, float* out) {
  for (int pc = 0; pc < k; pc += kKc) {
    const int kc = std::min(kKc, k - pc);
    for (int ic = m0; ic < m1; ic += kMc) {
      const int mc = std::min(kMc, m1 - ic);
      for (int jp = 0; jp < n / kPanel; ++jp) {
        const float* b = packed + (static_cast<size_t>(jp) * k + pc) * kPanel;
        for (int i = 0; i < mc;) {
          const float* a = x + static_cast<size_t>(ic + i) * k + pc;
          float* c = out + static_cast<size_t>(ic + i) * n + jp * kPanel;
          if (i + kRows <= mc) {
            tile<kRows>(kc, a, k, b, c, n, pc == 0);
            i += kRows;
          } else {
            tile<1>(kc, a, k, b, c, n, pc == 0);
            i += 1;
          }
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s M N K [REPS]   (N a multiple of 16)\n", argv[0]);
    return 2;
  }
  const int m = std::atoi(argv[1]), n = std::atoi(argv[2]), k = std::atoi(argv[3]),
            reps = argc > 4 ? std::atoi(argv[4]) : 10;
  if (m <= 0 || n <= 0 || k <= 0 || reps <= 0 || n % kPanel != 0) {
    std::fprintf(stderr,
                 "prepacked_gemm_probe: M, N, K and REPS must be positive, N a multiple of 16\n");
    return 2;
  }
  std::vector<float> x(static_cast<size_t>(m) * k), w(static_cast<size_t>(n) * k),
      packed(w.size()), ref(static_cast<size_t>(m) * n), out(ref.size());
  // Deterministic values in [-0.5, 0.5): no denormals, no overflow.
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>((i * 2654435761u) % 1000) / 1000.f - 0.5f;
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<float>((i * 40503u) % 1000) / 1000.f - 0.5f;
  const double t_pack = now();
  pack(w.data(), n, k, packed.data());
  const double pack_s = now() - t_pack;
  double blas_s = 1e30, probe_s = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.f, x.data(), k, w.data(), k, 0.f,
                ref.data(), n);
    const double t1 = now();
#pragma omp parallel num_threads(2)
    {
      const int half = (m / 2 + kRows - 1) / kRows * kRows, t = omp_get_thread_num();
      if (omp_get_num_threads() == 1) gemm_rows(0, m, n, k, x.data(), packed.data(), out.data());
      else gemm_rows(t == 0 ? 0 : half, t == 0 ? half : m, n, k, x.data(), packed.data(), out.data());
    }
    const double t2 = now();
    blas_s = std::min(blas_s, t1 - t0);
    probe_s = std::min(probe_s, t2 - t1);
  }
  double diff = 0.0;
  for (size_t i = 0; i < ref.size(); ++i)
    diff = std::max(diff, static_cast<double>(std::fabs(ref[i] - out[i])));
  const double flop = 2.0 * m * n * k;
  std::printf("M %d N %d K %d: OpenBLAS %.3f ms (%.0f GFLOP/s), probe %.3f ms (%.0f GFLOP/s), "
              "packing once %.3f ms, largest difference %.2g\n",
              m, n, k, blas_s * 1e3, flop / blas_s / 1e9, probe_s * 1e3, flop / probe_s / 1e9,
              pack_s * 1e3, diff);
  return diff < 1e-6 * k ? 0 : 1;  // rounding is ~1e-8 k here; one lost term is ~1e-2
}
