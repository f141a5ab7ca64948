#include "kernels/cpu/matmul.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "kernels/cpu/fill.h"
#include "kernels/cpu/parallel.h"

namespace strata::kernels::cpu {
namespace {

// Thin overloads so the templated kernels pick sgemm/dgemm by element type.
// Always row-major; beta selects overwrite (0) or accumulate (1).
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k,
          const float* a, int lda, const float* b, int ldb, float beta,
          float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c,
              ldc);
}

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k,
          const double* a, int lda, const double* b, int ldb, double beta,
          double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c,
              ldc);
}

int to_blas_int(index_t v, const char* what) {
  if (v < 0 || v > std::numeric_limits<int>::max())
    throw std::invalid_argument(std::string("matmul: ") + what +
                                " does not fit the BLAS int index type");
  return static_cast<int>(v);
}

// Seeding out with the bias and letting gemm accumulate (beta = 1) saves a
// second pass over out[N,OC].
template <class T>
void broadcast_bias(T* out, const T* bias, index_t N, index_t OC) {
  detail::parallel_for(N, detail::kParallelMinElems / (OC > 0 ? OC : 1),
                       [&](index_t n) {
    T* o = out + n * OC;
    for (index_t j = 0; j < OC; ++j) o[j] = bias[j];
  });
}

// dbias[c0, c1) += the column sums of dout over all N rows, in double. A block's result
// depends only on the block, never on which thread sums it.
template <class T>
void column_block_sums(T* dbias, const T* dout, index_t N, index_t OC, index_t c0,
                       index_t c1) {
  double acc[detail::kColBlock] = {};
  for (index_t n = 0; n < N; ++n) {
    const T* g = dout + n * OC;
    for (index_t c = c0; c < c1; ++c) acc[c - c0] += g[c];
  }
  for (index_t c = c0; c < c1; ++c) dbias[c] += static_cast<T>(acc[c - c0]);
}

template <class T>
void accumulate_column_sums(T* dbias, const T* dout, index_t N, index_t OC) {
  detail::for_each_column_block(N, OC, [&](index_t c0, index_t c1) {
    column_block_sums(dbias, dout, N, OC, c0, c1);
  });
}

// On exactly two threads, a small layer's two backward products (dinp = dout·W and
// dW += dout^T·inp, the same FLOPs) run side by side as two single-threaded calls instead of
// one after the other on two threads each: OpenBLAS's own split of a small product spends a
// larger share in packing hand-offs. Measured on shape a's layers (at most 2048×128×512
// multiply-adds), 5-15% faster; on b's and c's larger ones equal or slower, hence the bound.
// Only with OpenBLAS's OpenMP build, which runs a call made inside a parallel region on that
// thread alone. The results are then bitwise those of one thread. OpenBLAS's own threaded
// split changes the last bits (measured: 1, 2 and 3 threads all differ), so, as before, a
// run repeats bit for bit at the same thread count; the choice depends on the shape and the
// thread count only, never on timing.
constexpr double kSideBySideMaxMacs = double{1 << 28};

bool side_by_side_backward(index_t N, index_t C, index_t OC) {
  return static_cast<double>(N) * static_cast<double>(C) * static_cast<double>(OC) <=
             kSideBySideMaxMacs &&
         omp_get_max_threads() == 2 && !omp_in_parallel() &&
         openblas_get_parallel() == 2;  // 2: the OpenMP build
}

}  // namespace

template <class T>
void matmul_forward(T* out, const T* inp, const T* weight, const T* bias,
                    index_t N, index_t C, index_t OC) {
  const int n = to_blas_int(N, "N"), c = to_blas_int(C, "C"),
            oc = to_blas_int(OC, "OC");
  if (bias != nullptr) broadcast_bias(out, bias, N, OC);
  const T beta = bias != nullptr ? T{1} : T{0};
  gemm(CblasNoTrans, CblasTrans, n, oc, c, inp, c, weight, c, beta, out, oc);
}

template <class T>
void matmul_backward(T* dinp, T* dweight, T* dbias, const T* dout,
                     const T* inp, const T* weight, index_t N, index_t C,
                     index_t OC, InputGrad dinp_mode) {
  const int n = to_blas_int(N, "N"), c = to_blas_int(C, "C"),
            oc = to_blas_int(OC, "OC");
  // dinp: [N,OC]·[OC,C]. dweight: [OC,N]·[N,C]. A written dinp is zero-filled and then
  // accumulated into: OpenBLAS's own beta = 0 path zero-fills C more slowly than memset
  // (measured 2-20% slower on shapes a and b).
  const bool write = dinp_mode == InputGrad::kWrite;
  auto input_grad = [&] {
    gemm(CblasNoTrans, CblasNoTrans, n, c, oc, dout, oc, weight, c, T{1}, dinp, c);
  };
  auto weight_grad = [&] {
    gemm(CblasTrans, CblasNoTrans, oc, c, n, dout, oc, inp, c, T{1}, dweight, c);
  };
  if (dinp != nullptr && side_by_side_backward(N, C, OC)) {
    const index_t n_blocks = (OC + detail::kColBlock - 1) / detail::kColBlock;
#pragma omp parallel num_threads(2)
    {
      // A team of one (the runtime may give fewer threads) does both.
      const int t = omp_get_thread_num();
      if (t == 0) {
        if (write) fill_zero(dinp, N * C);  // nested: on this thread alone
        input_grad();
      }
      if (t == 1 || omp_get_num_threads() == 1) weight_grad();
      // The bias sums go to whichever thread finishes its product first, which fills
      // the wait for the other one. Every block sums the same way on either thread.
      if (dbias != nullptr) {
#pragma omp for schedule(dynamic, 1) nowait
        for (index_t blk = 0; blk < n_blocks; ++blk) {
          const index_t c0 = blk * detail::kColBlock;
          column_block_sums(dbias, dout, N, OC, c0, std::min(OC, c0 + detail::kColBlock));
        }
      }
    }
    return;
  }
  if (dinp != nullptr) {
    if (write) fill_zero(dinp, N * C);
    input_grad();
  }
  weight_grad();
  if (dbias != nullptr) accumulate_column_sums(dbias, dout, N, OC);
}

#define STRATA_INSTANTIATE(T)                                                \
  template void matmul_forward<T>(T*, const T*, const T*, const T*, index_t, \
                                  index_t, index_t);                         \
  template void matmul_backward<T>(T*, T*, T*, const T*, const T*, const T*, \
                                   index_t, index_t, index_t, InputGrad);
STRATA_INSTANTIATE(float)
STRATA_INSTANTIATE(double)
#undef STRATA_INSTANTIATE

}  // namespace strata::kernels::cpu
