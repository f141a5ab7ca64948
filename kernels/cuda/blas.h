// A cuBLAS handle bound to one stream, and the row-major GEMM that every matrix product
// of the CUDA path goes through (bf16 inputs, fp32 accumulation: CUBLAS_COMPUTE_32F).
#pragma once

#include <cstddef>
#include <memory>

#include "kernels/cuda/types.h"

namespace strata::kernels::cuda {

// Optional observer of the work queued on a stream, for profiling (strata-gpu-bench
// --profile). A caller marks where each phase of its work begins; launchers that queue
// several distinct pieces (matmul_backward, attention) mark each piece as a part of the
// current phase through Blas::mark_part. An implementation records a CUDA event at each
// mark; nothing is recorded when no marker is set (the default), so the normal path pays
// one null-pointer test per launcher. Names and categories are string literals.
class PhaseMarker {
 public:
  virtual ~PhaseMarker() = default;
  // `phase` begins now: the work queued from here to the next mark belongs to it.
  virtual void mark(const char* phase, const char* category) = 0;
  // A part of the current phase begins now ("<phase>: <part>").
  virtual void mark_part(const char* part, const char* category) = 0;
};

class Blas {
 public:
  // Creates the cuBLAS and cuBLASLt handles and binds them to `stream`. `workspace`
  // (device memory, may be null for cuBLAS's own default; cuBLASLt then gets none) lets the
  // caller account for it; 32 MiB is what cuBLAS recommends on Hopper. Both libraries use
  // it, one call at a time on the one stream. Throws std::runtime_error naming the call.
  // Fused cuBLASLt epilogues (gemm_lt) start enabled unless the environment variable
  // STRATA_CUDA_LT_EPILOGUES is "0".
  Blas(Stream stream, void* workspace, std::size_t workspace_bytes);
  ~Blas();
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;

  cublasContext* handle() const { return handle_; }
  Stream stream() const { return stream_; }
  void* workspace() const { return workspace_; }
  std::size_t workspace_bytes() const { return workspace_bytes_; }

  // Whether gemm_lt may fuse (bias, GELU) into cuBLASLt epilogues; off: every caller takes
  // its unfused path (separate kernels), the fallback kept for comparison and safety.
  void set_lt_epilogues(bool on) { lt_epilogues_ = on; }
  bool lt_epilogues() const { return lt_epilogues_; }
  struct LtState;  // cuBLASLt handle and the algorithm cache (blas.cpp)
  LtState& lt() const { return *lt_; }
  // gemm_lt calls so far that ran fused, and that declined while the epilogues were on
  // (unaligned, or no cuBLASLt algorithm): a run can tell which path it measured.
  struct LtCounts {
    long long fused = 0, declined = 0;
  };
  LtCounts lt_counts() const;

  // Profiling hook (not owned; null to stop). The launchers that take a Blas mark their
  // parts through it.
  void set_marker(PhaseMarker* marker) { marker_ = marker; }
  PhaseMarker* marker() const { return marker_; }
  void mark(const char* phase, const char* category) const {
    if (marker_ != nullptr) marker_->mark(phase, category);
  }
  void mark_part(const char* part, const char* category) const {
    if (marker_ != nullptr) marker_->mark_part(part, category);
  }

  static constexpr std::size_t kRecommendedWorkspaceBytes = std::size_t{32} << 20;

 private:
  cublasContext* handle_ = nullptr;
  Stream stream_ = nullptr;
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
  bool lt_epilogues_ = true;
  std::unique_ptr<LtState> lt_;
  PhaseMarker* marker_ = nullptr;
};

enum class OutType { BF16, F32 };

// Row-major, batched: for i < batch,
//   C_i[M,N] = alpha * op(A_i)[M,K] · op(B_i)[K,N] + beta * C_i
// op(X) = X, or X^T when trans_X (then X is stored [K,M] for A, [N,K] for B). Leading
// dimensions are row strides in elements; stride_X the distance between batch items.
// A and B are bf16; C is bf16 or fp32 (`out`); the products accumulate in fp32.
// With beta == 0, C is written and its old contents are never read (NaN-safe).
// Dimensions must fit int (cuBLAS's); throws std::invalid_argument otherwise.
struct GemmArgs {
  bool trans_a = false, trans_b = false;
  index_t M = 0, N = 0, K = 0;
  float alpha = 1.0f, beta = 0.0f;
  const bf16* A = nullptr;
  index_t lda = 0, stride_a = 0;
  const bf16* B = nullptr;
  index_t ldb = 0, stride_b = 0;
  void* C = nullptr;
  OutType c_type = OutType::BF16;
  index_t ldc = 0, stride_c = 0;
  index_t batch = 1;
};
void gemm(const Blas& blas, const GemmArgs& g);

// A single (unbatched) row-major bf16 GEMM through cuBLASLt with a fused epilogue:
//   C[M,N] = epilogue(op(A)[M,K] · op(B)[K,N])            (fp32 accumulation, C written)
// Bias:        C = P + bias[N] (broadcast over the rows), added in fp32 before C's rounding.
// GeluAuxBias: aux = P + bias (bf16, row stride ld_aux), C = gelu(P + bias) from the fp32
//              sum (GELU with the tanh approximation, as cuBLASLt defines it).
// DGelu:       C = P * gelu'(aux) elementwise (aux: the forward's GELU input, [M,N]).
// Returns false, having queued nothing, when the Blas has the epilogues off, a pointer is
// not 16-byte aligned, a leading dimension is not a multiple of 8, or cuBLASLt offers no
// algorithm; the caller then takes its unfused path. Algorithms are cached per shape.
enum class Epilogue { Bias, GeluAuxBias, DGelu };
struct LtGemmArgs {
  bool trans_a = false, trans_b = false;
  index_t M = 0, N = 0, K = 0;
  const bf16* A = nullptr;
  index_t lda = 0;
  const bf16* B = nullptr;
  index_t ldb = 0;
  bf16* C = nullptr;
  index_t ldc = 0;
  Epilogue epilogue = Epilogue::Bias;
  const bf16* bias = nullptr;  // Bias, GeluAuxBias
  bf16* aux = nullptr;         // GeluAuxBias (written), DGelu (read)
  index_t ld_aux = 0;
};
bool gemm_lt(const Blas& blas, const LtGemmArgs& g);

}  // namespace strata::kernels::cuda
