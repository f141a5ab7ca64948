// Token + position embedding (llm.c's "encoder") on the GPU.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cuda/types.h"

namespace strata::kernels::cuda {

// out[b,s,:] = bf16(wte[tokens[b,s],:] + wpe[s,:]), summed in fp32. WRITTEN.
//   out [B,S,C] bf16; tokens [B,S] int32 on the device, each in [0,V) (the caller
//   validates: a kernel cannot throw); wte [V,C], wpe [>=S,C] bf16 (working weights).
void encoder_forward(Stream stream, bf16* out, const token_t* tokens, const bf16* wte, const bf16* wpe, index_t B,
                     index_t S, index_t C);

// The positions of each distinct token, built on the host from the host copy of the
// tokens, so the backward can give every wte row to one thread block that adds its
// positions in order: deterministic, no atomics. One flat int32 array, uploaded in one
// copy: [count distinct tokens, ascending][count+1 offsets][N positions, ascending per token].
struct TokenBuckets {
  std::vector<std::int32_t> flat;
  index_t count = 0;  // distinct tokens
  index_t n = 0;      // positions (B*S)
};
TokenBuckets bucket_tokens(const token_t* host_tokens, index_t n);

// Pointers into a device copy of TokenBuckets::flat.
struct DeviceTokenBuckets {
  const std::int32_t* tokens = nullptr;
  const std::int32_t* offsets = nullptr;
  const std::int32_t* positions = nullptr;
  index_t count = 0;
};
DeviceTokenBuckets device_buckets(const TokenBuckets& host, const std::int32_t* device_flat);

// ACCUMULATES (+=) in fp32: dwte[tok,:] += sum of dout rows at tok's positions (in
// position order), dwpe[s,:] += sum over b of dout[b,s,:] (in b order).
//   dwte [V,C], dwpe [>=S,C] fp32; dout [B,S,C] bf16.
void encoder_backward(Stream stream, float* dwte, float* dwpe, const bf16* dout, const DeviceTokenBuckets& buckets,
                      index_t B, index_t S, index_t C);

}  // namespace strata::kernels::cuda
