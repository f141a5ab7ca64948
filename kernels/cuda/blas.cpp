#include "kernels/cuda/blas.h"

#include <cublasLt.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <string>
#include <tuple>

#include "kernels/cuda/check.h"

namespace strata::kernels::cuda {
namespace {

int to_int(index_t v, const char* what) {
  if (v < 0 || v > INT_MAX) throw std::invalid_argument(std::string("gemm: ") + what + " = " + std::to_string(v) +
                                                        " does not fit cuBLAS's int");
  return static_cast<int>(v);
}

}  // namespace

struct Blas::LtState {
  cublasLtHandle_t handle = nullptr;
  // (trans_a, trans_b, M, N, K, lda, ldb, ldc, ld_aux, epilogue, the pointers'
  // alignments packed) -> algorithm, or none.
  using Key = std::tuple<bool, bool, index_t, index_t, index_t, index_t, index_t, index_t, index_t, int, int64_t>;
  struct Entry {
    bool found = false;
    cublasLtMatmulAlgo_t algo{};
  };
  std::map<Key, Entry> cache;
  Blas::LtCounts counts;
  bool warned = false;  // the first cuBLASLt error has been reported
};

Blas::LtCounts Blas::lt_counts() const { return lt_->counts; }

Blas::Blas(Stream stream, void* workspace, std::size_t workspace_bytes)
    : stream_(stream), workspace_(workspace), workspace_bytes_(workspace != nullptr ? workspace_bytes : 0) {
  if (const char* env = std::getenv("STRATA_CUDA_LT_EPILOGUES"); env != nullptr && std::strcmp(env, "0") == 0)
    lt_epilogues_ = false;
  cublasHandle_t h = nullptr;
  STRATA_CUBLAS_CHECK(cublasCreate(&h));
  handle_ = h;
  try {
    lt_ = std::make_unique<LtState>();
    STRATA_CUBLAS_CHECK(cublasLtCreate(&lt_->handle));
    STRATA_CUBLAS_CHECK(cublasSetStream(h, stream));
    if (workspace != nullptr) STRATA_CUBLAS_CHECK(cublasSetWorkspace(h, workspace, workspace_bytes));
    // Tensor-core math for bf16 is the default; pinning the mode documents it and keeps
    // reductions from being split in ways that depend on the math mode.
    STRATA_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
  } catch (...) {
    if (lt_ != nullptr && lt_->handle != nullptr) cublasLtDestroy(lt_->handle);
    cublasDestroy(h);
    throw;
  }
}

Blas::~Blas() {  // cannot throw from a destructor
  if (lt_ != nullptr && lt_->handle != nullptr) cublasLtDestroy(lt_->handle);
  if (handle_ != nullptr) cublasDestroy(handle_);
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

namespace {

// Owns the cuBLASLt descriptors of one call.
struct LtDescs {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  LtDescs() = default;
  LtDescs(const LtDescs&) = delete;
  LtDescs& operator=(const LtDescs&) = delete;
  ~LtDescs() {
    if (pref != nullptr) cublasLtMatmulPreferenceDestroy(pref);
    if (c != nullptr) cublasLtMatrixLayoutDestroy(c);
    if (b != nullptr) cublasLtMatrixLayoutDestroy(b);
    if (a != nullptr) cublasLtMatrixLayoutDestroy(a);
    if (op != nullptr) cublasLtMatmulDescDestroy(op);
  }
};

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// The largest power of two (up to 256) dividing every non-null pointer.
int common_alignment(std::initializer_list<const void*> ps) {
  int a = 256;
  for (const void* p : ps)
    if (p != nullptr)
      while (a > 1 && reinterpret_cast<std::uintptr_t>(p) % static_cast<std::uintptr_t>(a) != 0) a /= 2;
  return a;
}

}  // namespace

// Column-major view as in gemm(): cuBLASLt's A is our B (trans_b), its B our A (trans_a),
// m = N, n = M; D = C. The bias runs along cuBLASLt's rows (length m = our N), and the
// aux matrix is laid out as D.
bool gemm_lt(const Blas& blas, const LtGemmArgs& g) {
  if (!blas.lt_epilogues() || g.M == 0 || g.N == 0) return false;
  Blas::LtState& lt = blas.lt();
  ++lt.counts.declined;  // until it has run
  const bool has_bias = g.epilogue != Epilogue::DGelu;
  const bool has_aux = g.epilogue != Epilogue::Bias;
  if (!aligned16(g.A) || !aligned16(g.B) || !aligned16(g.C)) return false;
  if (has_bias && (g.bias == nullptr || !aligned16(g.bias))) return false;
  if (has_aux && (g.aux == nullptr || !aligned16(g.aux) || g.ld_aux % 8 != 0)) return false;
  if (g.lda % 8 != 0 || g.ldb % 8 != 0 || g.ldc % 8 != 0) return false;
  const int m = to_int(g.N, "N"), n = to_int(g.M, "M"), k = to_int(g.K, "K");
  const int lda = to_int(g.ldb, "ldb"), ldb = to_int(g.lda, "lda"), ldc = to_int(g.ldc, "ldc");
  const cublasOperation_t op_a = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
  if (g.epilogue == Epilogue::GeluAuxBias) epi = CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
  if (g.epilogue == Epilogue::DGelu) epi = CUBLASLT_EPILOGUE_DGELU;

  // Alignments (bytes, up to 256) of cuBLASLt's A (our B), B (our A) and C = D, and of
  // the epilogue's vectors: the heuristic is told the real ones, and they are part of the
  // cache key, so a cached algorithm never meets a less aligned pointer than it was
  // chosen for.
  const int al_a = common_alignment({g.B}), al_b = common_alignment({g.A}), al_c = common_alignment({g.C});
  const int al_epi = common_alignment({has_bias ? g.bias : nullptr, has_aux ? g.aux : nullptr});
  const Blas::LtState::Key key{g.trans_a, g.trans_b, g.M, g.N, g.K, g.lda, g.ldb, g.ldc, g.ld_aux,
                               static_cast<int>(g.epilogue),
                               ((int64_t{al_a} * 512 + al_b) * 512 + al_c) * 512 + al_epi};
  auto it = lt.cache.find(key);
  if (it != lt.cache.end() && !it->second.found) return false;  // declined before

  // Any cuBLASLt error below (a descriptor attribute, the heuristic, the launch's argument
  // checks) has queued nothing: the problem is remembered as declined, reported once per
  // Blas on stderr, and the caller takes its unfused path. A run never fails for the fusion.
  try {
    LtDescs d;
    STRATA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    STRATA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a));
    STRATA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b));
    STRATA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    if (has_bias) {
      const void* bias = g.bias;
      STRATA_CUBLAS_CHECK(
          cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    }
    if (has_aux) {
      void* aux = g.aux;
      const int64_t ld_aux = g.ld_aux;
      STRATA_CUBLAS_CHECK(
          cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof aux));
      STRATA_CUBLAS_CHECK(
          cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld_aux, sizeof ld_aux));
    }
    // Stored shapes: op(X) = X^T means X is stored k x m (A) or n x k (B).
    STRATA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.a, CUDA_R_16BF, op_a == CUBLAS_OP_N ? m : k,
                                                   op_a == CUBLAS_OP_N ? k : m, lda));
    STRATA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.b, CUDA_R_16BF, op_b == CUBLAS_OP_N ? k : n,
                                                   op_b == CUBLAS_OP_N ? n : k, ldb));
    STRATA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.c, CUDA_R_16BF, m, n, ldc));

    if (it == lt.cache.end()) {
      STRATA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&d.pref));
      const uint64_t ws = blas.workspace_bytes();
      STRATA_CUBLAS_CHECK(
          cublasLtMatmulPreferenceSetAttribute(d.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
      const uint32_t align_a = static_cast<uint32_t>(al_a), align_b = static_cast<uint32_t>(al_b),
                     align_c = static_cast<uint32_t>(al_c);
      STRATA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                               &align_a, sizeof align_a));
      STRATA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                               &align_b, sizeof align_b));
      STRATA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                               &align_c, sizeof align_c));
      STRATA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                               &align_c, sizeof align_c));
      cublasLtMatmulHeuristicResult_t result{};
      int found = 0;
      const cublasStatus_t st =
          cublasLtMatmulAlgoGetHeuristic(lt.handle, d.op, d.a, d.b, d.c, d.c, d.pref, 1, &result, &found);
      Blas::LtState::Entry e;
      e.found = st == CUBLAS_STATUS_SUCCESS && found > 0 && result.state == CUBLAS_STATUS_SUCCESS;
      if (e.found) e.algo = result.algo;
      it = lt.cache.emplace(key, e).first;
      if (!e.found) return false;
    }
    const float alpha = 1.0f, beta = 0.0f;
    STRATA_CUBLAS_CHECK(cublasLtMatmul(lt.handle, d.op, &alpha, g.B, d.a, g.A, d.b, &beta, g.C, d.c, g.C, d.c,
                                       &it->second.algo, blas.workspace(), blas.workspace_bytes(), blas.stream()));
  } catch (const std::runtime_error& e) {
    (void)cudaGetLastError();  // a non-sticky launch error must not surface at the next check
    lt.cache[key].found = false;
    if (!lt.warned) {
      lt.warned = true;
      std::fprintf(stderr, "strata: a cuBLASLt epilogue GEMM (M=%lld N=%lld K=%lld) takes the unfused path: %s\n",
                   static_cast<long long>(g.M), static_cast<long long>(g.N), static_cast<long long>(g.K), e.what());
    }
    return false;
  }
  --lt.counts.declined;
  ++lt.counts.fused;
  return true;
}

}  // namespace strata::kernels::cuda
