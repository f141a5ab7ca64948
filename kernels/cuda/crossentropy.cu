#include "kernels/cuda/crossentropy.h"

#include "kernels/cuda/common.cuh"

namespace strata::kernels::cuda {
using namespace detail;
namespace {

constexpr int kThreads = 512;

__global__ void crossentropy_forward_kernel(float* losses, float* lse, const bf* logits, const token_t* targets,
                                            index_t V, index_t ldv) {
  __shared__ float scratch[32];
  const index_t n = blockIdx.x;
  const bf* x = logits + n * ldv;
  float m = -INFINITY;
  for (index_t j = threadIdx.x; j < V; j += blockDim.x) m = fmaxf(m, ld(x + j));
  m = block_max(m, scratch);
  float s = 0.0f;
  for (index_t j = threadIdx.x; j < V; j += blockDim.x) s += expf(ld(x + j) - m);
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) {
    const token_t t = targets[n];
    if (t == kIgnoreTarget) {
      losses[n] = 0.0f;
      lse[n] = 0.0f;
    } else {
      const float l = m + logf(s);
      lse[n] = l;
      losses[n] = l - ld(x + t);
    }
  }
}

__global__ void crossentropy_mean_kernel(double* mean, const float* losses, index_t N, double inv_count) {
  __shared__ double scratch[32];
  double s = 0.0;
  for (index_t i = threadIdx.x; i < N; i += blockDim.x) s += losses[i];
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) *mean = s * inv_count;
}

__global__ void crossentropy_backward_kernel(bf* dlogits, const bf* logits, const float* lse,
                                             const token_t* targets, float scale, index_t V, index_t ldv) {
  const index_t n = blockIdx.x;
  const token_t t = targets[n];
  const bf* x = logits + n * ldv;
  bf* d = dlogits + n * ldv;
  if (t == kIgnoreTarget) {
    for (index_t j = threadIdx.x; j < V; j += blockDim.x) st(d + j, 0.0f);
    return;
  }
  const float l = lse[n];
  for (index_t j = threadIdx.x; j < V; j += blockDim.x) {
    const float p = expf(ld(x + j) - l);
    st(d + j, (p - (j == t ? 1.0f : 0.0f)) * scale);
  }
}

// The same two kernels for rows of 16-byte chunks (ldv % 8 == 0, aligned logits): 8 logits
// per load. The forward makes one pass with a running max per thread (online softmax:
// the sum is rescaled when the max grows), then combines the threads' (max, sum) pairs.
__global__ void crossentropy_forward_vec_kernel(float* losses, float* lse, const bf* logits, const token_t* targets,
                                                index_t V, index_t ldv) {
  __shared__ float scratch[32];
  const index_t n = blockIdx.x;
  const bf* x = logits + n * ldv;
  float m = -INFINITY, s = 0.0f;
  for (index_t k = threadIdx.x; 8 * k < V; k += blockDim.x) {
    float v[8];
    ld8(v, x + 8 * k);
    float cm = m;
#pragma unroll
    for (int j = 0; j < 8; ++j)
      if (8 * k + j < V) cm = fmaxf(cm, v[j]);
    if (cm == -INFINITY) continue;   // only -inf logits so far: they add exp(-inf) = 0
    if (cm != m) s *= expf(m - cm);  // m = -inf at first: s is 0 and stays 0
#pragma unroll
    for (int j = 0; j < 8; ++j)
      if (8 * k + j < V) s += expf(v[j] - cm);
    m = cm;
  }
  const float mb = block_max(m, scratch);
  const float sb = block_sum(m == -INFINITY ? 0.0f : s * expf(m - mb), scratch);
  if (threadIdx.x == 0) {
    const token_t t = targets[n];
    if (t == kIgnoreTarget) {
      losses[n] = 0.0f;
      lse[n] = 0.0f;
    } else {
      const float l = mb + logf(sb);
      lse[n] = l;
      losses[n] = l - ld(x + t);
    }
  }
}

// Writes the padding columns of the last chunk (V <= j < 8*ceil(V/8)) as 0.
__global__ void crossentropy_backward_vec_kernel(bf* dlogits, const bf* logits, const float* lse,
                                                 const token_t* targets, float scale, index_t V, index_t ldv) {
  const index_t n = blockIdx.x;
  const token_t t = targets[n];
  const bf* x = logits + n * ldv;
  bf* d = dlogits + n * ldv;
  const bool ignored = t == kIgnoreTarget;
  const float l = ignored ? 0.0f : lse[n];
  for (index_t k = threadIdx.x; 8 * k < V; k += blockDim.x) {
    float v[8];
    if (ignored) {
#pragma unroll
      for (int j = 0; j < 8; ++j) v[j] = 0.0f;
    } else {
      ld8(v, x + 8 * k);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const index_t c = 8 * k + j;
        v[j] = c < V ? (expf(v[j] - l) - (c == t ? 1.0f : 0.0f)) * scale : 0.0f;
      }
    }
    st8(d + 8 * k, v);
  }
}

}  // namespace

void crossentropy_forward(Stream stream, float* losses, float* lse, const bf16* logits, const token_t* targets,
                          index_t N, index_t V, index_t ldv) {
  if (N == 0) return;
  if (N > INT_MAX) throw std::invalid_argument("crossentropy_forward: too many rows");
  if (ldv < V) throw std::invalid_argument("crossentropy_forward: ldv < V");
  if (ldv % 8 == 0 && aligned16(logits))
    crossentropy_forward_vec_kernel<<<static_cast<unsigned int>(N), kThreads, 0, stream>>>(losses, lse, dev(logits),
                                                                                           targets, V, ldv);
  else
    crossentropy_forward_kernel<<<static_cast<unsigned int>(N), kThreads, 0, stream>>>(losses, lse, dev(logits),
                                                                                       targets, V, ldv);
  STRATA_CUDA_CHECK_LAUNCH("crossentropy_forward_kernel");
}

void crossentropy_mean(Stream stream, double* mean, const float* losses, index_t N, double inv_count) {
  crossentropy_mean_kernel<<<1, 1024, 0, stream>>>(mean, losses, N, inv_count);
  STRATA_CUDA_CHECK_LAUNCH("crossentropy_mean_kernel");
}

void crossentropy_backward(Stream stream, bf16* dlogits, const bf16* logits, const float* lse,
                           const token_t* targets, float dloss_scale, index_t N, index_t V, index_t ldv) {
  if (N == 0) return;
  if (N > INT_MAX) throw std::invalid_argument("crossentropy_backward: too many rows");
  if (ldv < V) throw std::invalid_argument("crossentropy_backward: ldv < V");
  if (ldv % 8 == 0 && aligned16(logits) && aligned16(dlogits))
    crossentropy_backward_vec_kernel<<<static_cast<unsigned int>(N), kThreads, 0, stream>>>(
        dev(dlogits), dev(logits), lse, targets, dloss_scale, V, ldv);
  else
    crossentropy_backward_kernel<<<static_cast<unsigned int>(N), kThreads, 0, stream>>>(
        dev(dlogits), dev(logits), lse, targets, dloss_scale, V, ldv);
  STRATA_CUDA_CHECK_LAUNCH("crossentropy_backward_kernel");
}

}  // namespace strata::kernels::cuda
