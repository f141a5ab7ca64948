#include "kernels/cpu/matmul.h"

#include <cblas.h>

#include <limits>
#include <stdexcept>

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

template <class T>
void accumulate_column_sums(T* dbias, const T* dout, index_t N, index_t OC) {
  detail::for_each_column_block(N, OC, [&](index_t c0, index_t c1) {
    double acc[detail::kColBlock] = {};
    for (index_t n = 0; n < N; ++n) {
      const T* g = dout + n * OC;
      for (index_t c = c0; c < c1; ++c) acc[c - c0] += g[c];
    }
    for (index_t c = c0; c < c1; ++c) dbias[c] += static_cast<T>(acc[c - c0]);
  });
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
                     index_t OC) {
  const int n = to_blas_int(N, "N"), c = to_blas_int(C, "C"),
            oc = to_blas_int(OC, "OC");
  if (dinp != nullptr)  // [N,OC]·[OC,C]
    gemm(CblasNoTrans, CblasNoTrans, n, c, oc, dout, oc, weight, c, T{1}, dinp,
         c);
  // [OC,N]·[N,C]. OpenBLAS's level-3 threading partitions the output tiles,
  // not the N (inner) sum, so this stays deterministic across thread counts.
  gemm(CblasTrans, CblasNoTrans, oc, c, n, dout, oc, inp, c, T{1}, dweight, c);
  if (dbias != nullptr) accumulate_column_sums(dbias, dout, N, OC);
}

#define STRATA_INSTANTIATE(T)                                                \
  template void matmul_forward<T>(T*, const T*, const T*, const T*, index_t, \
                                  index_t, index_t);                         \
  template void matmul_backward<T>(T*, T*, T*, const T*, const T*, const T*, \
                                   index_t, index_t, index_t);
STRATA_INSTANTIATE(float)
STRATA_INSTANTIATE(double)
#undef STRATA_INSTANTIATE

}  // namespace strata::kernels::cpu
