// Fused causal attention on the GPU (FlashAttention-2 style), the same math as
// kernels/cuda/attention.h and kernels/cpu/attention.h without the [B,NH,S,S] matrices:
//   qkv [B,S,3C] bf16 (q = channels [0,C), k = [C,2C), v = [2C,3C); head h owns channels
//   [h*HS, (h+1)*HS) of each), out [B,S,C] bf16, scores scaled by 1/sqrt(HS).
//
// Why: the materialised path (attention.h) writes and reads the scores, the probabilities
// and their gradients for every head (0.4 GB per layer at GPT-2's micro-batch 16) and
// permutes q, k, v to head-major around cuBLAS; together that was about 30% of a training
// step. Here one thread block owns a 64-row tile of one head, reads q, k, v straight from
// the [B,S,3C] activations, multiplies 16x16x16 bf16 tiles on the tensor cores (WMMA, fp32
// accumulation) and keeps the running softmax in registers (online softmax), so memory is
// O(B*S*C) and nothing of size S x S touches global memory.
//
// The forward keeps only the log-sum-exp of every score row (`lse`, [B,NH,S] fp32, in
// base 2: lse2 = log2(sum_j 2^(s_j*scale*log2 e))), from which the backward recomputes
// the probabilities, as the CPU kernel does. The backward runs two kernels that each own
// their outputs (dK and dV per key tile; dQ per query tile), so it needs no atomics and is
// deterministic run to run, at the price of recomputing Q K^T and dO V^T once more.
//
// Supported: head sizes 16, 32, 64 and 128 with C a multiple of 8 (16-byte rows); other
// shapes use the materialised path (flash_attention_supported says which). No attention
// probabilities are kept: explainers that need them run the materialised path (the opt-in
// capture mode).
#pragma once

#include <cstddef>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/blas.h"
#include "kernels/cuda/types.h"

namespace strata::kernels::cuda {

// True when the fused kernels handle this shape on the current device (head size 16, 32,
// 64 or 128, C % 8 == 0, B*NH <= 65535 (the grid's y limit), and the device grants the
// shared memory the head size needs: head size 128 wants about 130 kB per block); false
// for a valid shape they do not handle. Throws std::invalid_argument for an invalid shape,
// as the launchers do.
bool flash_attention_supported(const AttentionShape& shape);

// Bytes of device scratch the backward needs: D = rowsum(dout * out), [B,NH,S] fp32.
std::size_t flash_attention_scratch_bytes(const AttentionShape& shape);

// out [B,S,C] bf16 WRITTEN; lse [B,NH,S] fp32 WRITTEN (base 2, see above). Queued on
// blas.stream(). std::invalid_argument when the shape is not supported or qkv / out are
// not 16-byte aligned (the model's activation slots are 256-byte aligned).
void flash_attention_forward(const Blas& blas, bf16* out, float* lse, const bf16* qkv, const AttentionShape& shape);

// dqkv [B,S,3C] bf16 WRITTEN; dout [B,S,C]; qkv, out and lse as given to and produced by
// the forward. `scratch`: flash_attention_scratch_bytes(shape) bytes. qkv and dout must be
// 16-byte aligned (std::invalid_argument otherwise).
void flash_attention_backward(const Blas& blas, bf16* dqkv, const bf16* dout, const bf16* qkv, const bf16* out,
                              const float* lse, const AttentionShape& shape, void* scratch);

}  // namespace strata::kernels::cuda
