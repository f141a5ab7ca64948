#include "kernels/cuda/encoder.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "kernels/cuda/common.cuh"

namespace strata::kernels::cuda {
using namespace detail;
namespace {

__global__ void encoder_forward_kernel(bf* out, const token_t* tokens, const bf* wte, const bf* wpe, index_t N,
                                       index_t S, index_t C) {
  const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * C) return;
  const index_t n = i / C, c = i % C, s = n % S;
  const index_t tok = tokens[n];
  st(out + i, ld(wte + tok * C + c) + ld(wpe + s * C + c));
}

// One block per distinct token; threads stride over channels.
__global__ void encoder_backward_wte_kernel(float* dwte, const bf* dout, const std::int32_t* tokens,
                                            const std::int32_t* offsets, const std::int32_t* positions,
                                            index_t C) {
  const index_t t = blockIdx.x;
  const index_t row = tokens[t];
  const std::int32_t begin = offsets[t], end = offsets[t + 1];
  for (index_t c = threadIdx.x; c < C; c += blockDim.x) {
    float acc = 0.0f;
    for (std::int32_t k = begin; k < end; ++k) acc += ld(dout + static_cast<index_t>(positions[k]) * C + c);
    dwte[row * C + c] += acc;
  }
}

// One thread per (s, c); the batch is walked in order.
__global__ void encoder_backward_wpe_kernel(float* dwpe, const bf* dout, index_t B, index_t S, index_t C) {
  const index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= S * C) return;
  float acc = 0.0f;
  for (index_t b = 0; b < B; ++b) acc += ld(dout + b * S * C + i);
  dwpe[i] += acc;
}

}  // namespace

void encoder_forward(Stream stream, bf16* out, const token_t* tokens, const bf16* wte, const bf16* wpe, index_t B,
                     index_t S, index_t C) {
  const index_t n = B * S * C;
  if (n == 0) return;
  encoder_forward_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(dev(out), tokens, dev(wte), dev(wpe), B * S, S, C);
  STRATA_CUDA_CHECK_LAUNCH("encoder_forward_kernel");
}

TokenBuckets bucket_tokens(const token_t* host_tokens, index_t n) {
  if (n < 0 || n > INT32_MAX) throw std::invalid_argument("bucket_tokens: bad number of positions");
  // Positions sorted by (token, position): a stable sort of 0..n-1 by token.
  std::vector<std::int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int32_t a, std::int32_t b) { return host_tokens[a] < host_tokens[b]; });
  std::vector<std::int32_t> distinct, offsets;
  for (index_t k = 0; k < n; ++k) {
    const std::int32_t tok = host_tokens[order[static_cast<size_t>(k)]];
    if (distinct.empty() || distinct.back() != tok) {
      distinct.push_back(tok);
      offsets.push_back(static_cast<std::int32_t>(k));
    }
  }
  offsets.push_back(static_cast<std::int32_t>(n));
  TokenBuckets b;
  b.count = static_cast<index_t>(distinct.size());
  b.n = n;
  b.flat.reserve(distinct.size() + offsets.size() + order.size());
  b.flat.insert(b.flat.end(), distinct.begin(), distinct.end());
  b.flat.insert(b.flat.end(), offsets.begin(), offsets.end());
  b.flat.insert(b.flat.end(), order.begin(), order.end());
  return b;
}

DeviceTokenBuckets device_buckets(const TokenBuckets& host, const std::int32_t* device_flat) {
  DeviceTokenBuckets d;
  d.count = host.count;
  d.tokens = device_flat;
  d.offsets = device_flat + host.count;
  d.positions = device_flat + 2 * host.count + 1;
  return d;
}

void encoder_backward(Stream stream, float* dwte, float* dwpe, const bf16* dout, const DeviceTokenBuckets& buckets,
                      index_t B, index_t S, index_t C) {
  if (buckets.count > 0) {
    if (buckets.count > INT_MAX) throw std::invalid_argument("encoder_backward: too many distinct tokens");
    encoder_backward_wte_kernel<<<static_cast<unsigned int>(buckets.count), 256, 0, stream>>>(
        dwte, dev(dout), buckets.tokens, buckets.offsets, buckets.positions, C);
    STRATA_CUDA_CHECK_LAUNCH("encoder_backward_wte_kernel");
  }
  if (S * C > 0) {
    encoder_backward_wpe_kernel<<<blocks_for(S * C, 256), 256, 0, stream>>>(dwpe, dev(dout), B, S, C);
    STRATA_CUDA_CHECK_LAUNCH("encoder_backward_wpe_kernel");
  }
}

}  // namespace strata::kernels::cuda
