// A cuBLAS handle bound to one stream, and the row-major GEMM that every matrix product
// of the CUDA path goes through (bf16 inputs, fp32 accumulation: CUBLAS_COMPUTE_32F).
#pragma once

#include <cstddef>

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
  // Creates the handle and binds it to `stream`. `workspace` (device memory, may be null
  // for cuBLAS's own default) lets the caller account for it; 32 MiB is what cuBLAS
  // recommends on Hopper. Throws std::runtime_error naming the failing call.
  Blas(Stream stream, void* workspace, std::size_t workspace_bytes);
  ~Blas();
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;

  cublasContext* handle() const { return handle_; }
  Stream stream() const { return stream_; }

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

}  // namespace strata::kernels::cuda
