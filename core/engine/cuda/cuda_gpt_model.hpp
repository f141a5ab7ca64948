// GPT-2 style decoder on one CUDA GPU: the same GptConfig, ParameterLayout and math as the
// CPU GptModel (core/engine/gpt/), built on kernels/cuda.
//
// Precision (llm.c / PyTorch autocast style): fp32 master parameters, AdamW moments and
// parameter gradients, all flat in the ParameterLayout (so parameters copy 1:1 from and to
// a CPU GptModel<float>); a bf16 working copy of the parameters that the forward and
// backward read, refreshed by every AdamW step; bf16 activations and activation
// gradients; fp32 accumulation inside every kernel and GEMM.
//
// Memory: every device buffer is allocated once, in the constructor, for (max_batch,
// max_seq), through a DeviceAllocator that reports current and peak bytes. Flash attention
// (the default) keeps a log-sum-exp per row and layer; the materialized path keeps the
// attention probabilities of every layer for the backward ([L,B,NH,S,S] bf16), which is
// also the attention capture for explainers (download_attention_probs).
//
// Streams: all work is queued on compute_stream(). backward() records an event on it as
// soon as each block's gradients are final and passes it to the grad-ready hook, so a
// communicator can make its own stream wait on that event and reduce the block's range
// while the backward goes on with earlier blocks (the CUDA trainer does this with NCCL for
// data parallelism). comm_stream() is a second stream for such work.
//
// Not thread-safe; one model per device, driven from one thread. Plain C++ header.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/engine/cuda/device_memory.hpp"
#include "core/engine/gpt/gpt_config.hpp"
#include "core/engine/gpt/parameter_layout.hpp"
#include "kernels/cuda/types.h"

struct CUevent_st;

namespace strata::kernels::cuda {
class PhaseMarker;
}

namespace strata::engine::cuda {

struct CudaAdamWSettings {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
};

// How the attention runs.
//  flash: the fused tiled kernels (kernels/cuda/flash_attention.h): no [B,NH,S,S] matrix in
//    memory, only a log-sum-exp per row; no probabilities to download. The default, used
//    whenever the head size allows (16, 32, 64, 128); otherwise the model falls back to
//  materialized: cuBLAS products around a softmax kernel, keeping every layer's
//    probabilities [B,NH,S,S] for the backward: the opt-in capture mode for explainers
//    (download_attention_probs).
enum class CudaAttention { flash, materialized };
const char* to_string(CudaAttention a);

class CudaGptModel {
 public:
  // Validates the config and shape (std::invalid_argument); allocates everything on the
  // current CUDA device (std::runtime_error naming the buffer when memory runs out).
  // Parameters, gradients and moments start at zero.
  CudaGptModel(const GptConfig& config, int64_t max_batch, int64_t max_seq, const CudaAdamWSettings& adamw = {},
               CudaAttention attention = CudaAttention::flash);
  ~CudaGptModel();
  CudaGptModel(const CudaGptModel&) = delete;
  CudaGptModel& operator=(const CudaGptModel&) = delete;

  // GPT-2 initialisation, identical to GptModel<float>::init_parameters(seed) (computed by
  // a CPU GptModel and uploaded).
  void init_parameters(uint64_t seed);
  // Master parameters from the host, [layout().total_count()] fp32 in the layout; also
  // refreshes the bf16 working copy. Synchronous.
  void set_parameters(const float* host);

  // Queues the forward on tokens [B,S] (int32 in [0,V)) and targets [B,S] (-1 = ignore, or
  // null for logits only). Validates shape, tokens and targets on the host first
  // (std::invalid_argument). The host arrays may be reused as soon as this returns.
  void forward_async(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t S);
  // Mean cross-entropy of the last forward (waits for it); NaN without targets or when
  // every target is ignored.
  double loss();
  double forward(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t S) {
    forward_async(tokens, targets, B, S);
    return loss();
  }

  // Queues the backward of loss_scale * mean loss; ACCUMULATES into the gradients. Uses
  // the logits in place for dlogits, so it runs once per forward (std::logic_error
  // otherwise, or when the forward had no targets).
  void backward(double loss_scale = 1.0);
  void zero_grads();

  // Queues clip_grad_norm_(max_grad_norm) (no clipping when max_grad_norm <= 0) and one
  // AdamW step at learning rate lr over the whole layout, weight decay on the layout's
  // decayed tensors (as AdamW<float>). The clipping is applied inside the AdamW kernel:
  // the stored gradients are left unclipped.
  void step(double lr, double max_grad_norm);
  int64_t step_count() const { return step_; }
  // Gradient norm before clipping, of the last step (waits for it).
  double last_grad_norm();

  // Waits for all queued work; then copies [layout().total_count()] values out.
  void download_params(float* host);        // fp32 master
  void download_working_params(float* host);  // the bf16 working copy, widened
  void download_grads(float* host);
  // The fp32 gradient buffer itself, on the device ([layout().total_count()]): what the
  // data-parallel all-reduce reads and writes. Written by backward() on compute_stream().
  float* device_grads();
  // AdamW's moments [layout().total_count()] each, and the step count (checkpoints).
  void download_moments(float* m, float* v);
  void set_moments(const float* m, const float* v, int64_t step);
  // Attention probabilities of `layer` from the last forward, [B,NH,S,S] as float.
  // std::logic_error when the model runs flash attention (which keeps none).
  void download_attention_probs(int64_t layer, float* host);
  // The attention path in use: the one asked for, or materialized when flash does not
  // support the head size.
  CudaAttention attention() const { return attention_; }
  void synchronize();

  kernels::cuda::Stream compute_stream() const { return compute_; }
  kernels::cuda::Stream comm_stream() const { return comm_; }
  // Called from backward() right after block `layer`'s gradients are final, with an event
  // recorded on the compute stream at that point (valid until the next backward).
  using GradReadyHook = std::function<void(int64_t layer, CUevent_st* ready)>;
  void set_grad_ready_hook(GradReadyHook hook) { grad_ready_hook_ = std::move(hook); }

  // Profiling (strata-gpu-bench --profile): with a marker set, zero_grads, forward_async,
  // backward and step mark every phase they queue ("fwd ln_1", "bwd attention: dP gemm",
  // ...; the same names in every layer, so a profiler sums them over the layers). Not
  // owned; null (the default) stops marking. Changes nothing in what is computed.
  void set_phase_marker(kernels::cuda::PhaseMarker* marker);

  // cuBLASLt epilogue fusion (on by default unless STRATA_CUDA_LT_EPILOGUES=0): the linear
  // layers' biases, the MLP's GELU and its backward inside the GEMMs (kernels/cuda/matmul.h).
  // Off: the separate-kernel path (bias broadcast + beta = 1, GELU kernels). Same math; the
  // fused path rounds to bf16 once where the other rounds twice.
  void set_fused_epilogues(bool on);
  bool fused_epilogues() const;
  // Causal blocking of the materialized attention's batched products (kernels/cuda/attention.h): query
  // rows in blocks of `rows`, each block's products only over the keys it can see. 0: whole
  // S x S products (the previous path). Default 128 (8 blocks at S = 1024: 56% of the work).
  void set_attention_row_block(int64_t rows);
  int64_t attention_row_block() const { return attention_row_block_; }

  // GEMMs that ran with a fused epilogue so far, and those that fell back to the unfused
  // path while fusion was on (cuBLASLt declined them).
  int64_t fused_gemm_calls() const;
  int64_t declined_fused_gemm_calls() const;

  const GptConfig& config() const { return layout_.config(); }
  const ParameterLayout& layout() const { return layout_; }
  int64_t parameter_count() const { return layout_.parameter_count(); }
  int64_t max_batch() const { return max_batch_; }
  int64_t max_seq() const { return max_seq_; }
  std::size_t device_bytes() const { return alloc_.current_bytes(); }
  std::size_t peak_device_bytes() const { return alloc_.peak_bytes(); }

 private:
  struct Impl;
  void check_shape(int64_t B, int64_t S) const;
  void backward_block(int64_t l);
  int64_t attention_blocks(int64_t S) const;

  ParameterLayout layout_;
  int64_t max_batch_, max_seq_;
  CudaAdamWSettings adamw_;
  CudaAttention attention_;
  DeviceAllocator alloc_;  // before every buffer: destroyed after them
  kernels::cuda::Stream compute_ = nullptr, comm_ = nullptr;
  std::unique_ptr<Impl> impl_;
  GradReadyHook grad_ready_hook_;
  int64_t step_ = 0;
  int64_t attention_row_block_ = 128;
  int64_t B_ = 0, S_ = 0, valid_targets_ = 0;
  bool has_targets_ = false, backward_pending_ = false;
};

}  // namespace strata::engine::cuda
