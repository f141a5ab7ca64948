#include "kernels/cuda/blas.h"

#include <string>

#include "kernels/cuda/check.h"

namespace strata::kernels::cuda {
namespace {

int to_int(index_t v, const char* what) {
  if (v < 0 || v > INT_MAX) throw std::invalid_argument(std::string("gemm: ") + what + " = " + std::to_string(v) +
                                                        " does not fit cuBLAS's int");
  return static_cast<int>(v);
}

}  // namespace

Blas::Blas(Stream stream, void* workspace, std::size_t workspace_bytes) : stream_(stream) {
  cublasHandle_t h = nullptr;
  STRATA_CUBLAS_CHECK(cublasCreate(&h));
  handle_ = h;
  try {
    STRATA_CUBLAS_CHECK(cublasSetStream(h, stream));
    if (workspace != nullptr) STRATA_CUBLAS_CHECK(cublasSetWorkspace(h, workspace, workspace_bytes));
    // Tensor-core math for bf16 is the default; pinning the mode documents it and keeps
    // reductions from being split in ways that depend on the math mode.
    STRATA_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
  } catch (...) {
    cublasDestroy(h);
    throw;
  }
}

Blas::~Blas() {
  if (handle_ != nullptr) cublasDestroy(handle_);  // cannot throw from a destructor
}

// cuBLAS is column-major. A row-major X[r,c] with row stride ld is, to cuBLAS, the
// column-major X^T[c,r] with the same ld. So the row-major C = op(A)·op(B) is computed as
// the column-major C^T = op(B)^T · op(A)^T: swap the operands, keep each one's trans flag,
// and swap M and N.
void gemm(const Blas& blas, const GemmArgs& g) {
  if (g.M == 0 || g.N == 0 || g.batch == 0) return;
  const int m = to_int(g.N, "N"), n = to_int(g.M, "M"), k = to_int(g.K, "K");
  const int lda = to_int(g.ldb, "ldb"), ldb = to_int(g.lda, "lda"), ldc = to_int(g.ldc, "ldc");
  const cublasOperation_t op_first = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_second = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cudaDataType_t c_type = g.c_type == OutType::BF16 ? CUDA_R_16BF : CUDA_R_32F;
  if (g.batch == 1) {
    STRATA_CUBLAS_CHECK(cublasGemmEx(blas.handle(), op_first, op_second, m, n, k, &g.alpha, g.B, CUDA_R_16BF, lda,
                                     g.A, CUDA_R_16BF, ldb, &g.beta, g.C, c_type, ldc, CUBLAS_COMPUTE_32F,
                                     CUBLAS_GEMM_DEFAULT));
  } else {
    STRATA_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        blas.handle(), op_first, op_second, m, n, k, &g.alpha, g.B, CUDA_R_16BF, lda, g.stride_b, g.A, CUDA_R_16BF,
        ldb, g.stride_a, &g.beta, g.C, c_type, ldc, g.stride_c, to_int(g.batch, "batch"), CUBLAS_COMPUTE_32F,
        CUBLAS_GEMM_DEFAULT));
  }
}

}  // namespace strata::kernels::cuda
