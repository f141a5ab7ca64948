// GPT-2 style decoder (see gpt_config.hpp) built on the CPU kernels in kernels/cpu.
//
// Memory is allocated once, at construction, and every page is touched then (see
// aligned_buffer.hpp): one flat parameter buffer and one flat gradient buffer with the
// ParameterLayout, and one activation arena sized for (max_batch, max_seq) that holds
// what the backward needs, the backward's gradient scratch and the attention scratch.
// forward() and backward() never allocate. The only optional memory is attention capture,
// allocated when it is switched on.
//
// Parallelism is OpenMP inside the kernels and inside OpenBLAS (the build links its
// OpenMP variant, so both share one thread pool). Results are bitwise identical for a
// given thread count. Across thread counts they differ by rounding only: Strata's own
// kernels are thread-count independent, but OpenBLAS 0.3.21 splits its gemm sums
// differently with 1 and 2 threads; pin OMP_NUM_THREADS where runs must match bit for bit.
//
// Model parallelism (model_shard.hpp): constructed with a ModelShard, the model holds one
// tensor-parallel rank's share of its pipeline stage's layers and calls its
// TensorParallelGroup where Megatron-LM's layers communicate: after the row-parallel
// projections and the vocabulary-parallel embedding (forward), after the column-parallel
// projections' input gradients (backward), and three times in the vocabulary-parallel
// cross-entropy. A pipeline stage keeps `activation_slots` forwards' activations at once
// (the micro-batches a 1F1B schedule has in flight) and exchanges its input and output
// with its neighbours through forward_stage/backward_stage.
//
// Shapes are written [B,T,C] as in GPT-2 papers (T = sequence length); in code the
// sequence length is S, as in the kernels, because T is the element type.
// Instantiated for T = float (training) and T = double (gradient checks) only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/engine/gpt/aligned_buffer.hpp"
#include "core/engine/gpt/gpt_config.hpp"
#include "core/engine/gpt/model_shard.hpp"
#include "core/engine/gpt/parameter_layout.hpp"
#include "core/engine/gpt/tensor_parallel_group.hpp"

namespace strata::engine {

// One unit for the memory planner. Entries, in order: "embedding", "block.0" ...
// "block.{L-1}", "head" (ln_f, tied projection and cross-entropy) and "workspace" (the
// backward's gradient buffers and the attention scratch, shared by all blocks). For
// (max_batch, max_seq) the activation_bytes add up to GptModel::activation_bytes().
struct LayerProfile {
  std::string name;
  uint64_t activation_bytes = 0;  // kept from forward to backward (workspace: scratch)
  uint64_t parameter_bytes = 0;   // the tied wte is counted once, under "embedding"
  uint64_t forward_flops = 0;     // 2 per multiply-add of the matmuls and attention
};

template <class T>
class GptModel {
 public:
  // Validates the config; throws std::invalid_argument unless 1 <= max_batch and
  // 1 <= max_seq <= config.context. Parameters start at zero: call init_parameters.
  // A shard with tp_size > 1 needs `tp` (which must outlive the model).
  GptModel(const GptConfig& config, int64_t max_batch, int64_t max_seq, const ModelShard& shard = {},
           int activation_slots = 1, TensorParallelGroup* tp = nullptr);
  GptModel(const GptModel&) = delete;
  GptModel& operator=(const GptModel&) = delete;

  // GPT-2 initialisation: matrices and embeddings N(0, 0.02), the residual projections
  // (attn.c_proj.weight, mlp.c_proj.weight) N(0, 0.02/sqrt(2*layers)), biases 0,
  // LayerNorm weight 1 and bias 0, padding 0. Each value is a pure function of (seed,
  // tensor name, element index in the model-wide tensor), so it does not depend on threads,
  // on the layout or on the shard.
  void init_parameters(uint64_t seed);

  // Runs the model on tokens [B,T] (int32 in [0, vocab)). With targets [B,T] (-1 =
  // ignore) returns the mean cross-entropy over the non-ignored targets (NaN when all
  // are ignored); with targets == nullptr returns NaN and only computes the logits.
  // Throws std::invalid_argument for a bad shape, token or target. Discards a hidden
  // gradient added for the previous forward.
  double forward(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t S);

  // ACCUMULATES into grads() the gradient of loss_scale * (mean loss of the last forward)
  // plus sum(final_hidden · g) for every g given to add_hidden_grad since that forward
  // (the hidden gradient is not multiplied by loss_scale). Micro-batches accumulate by
  // calling forward/backward repeatedly with loss_scale = 1/micro_batches. When every
  // target was ignored the loss term contributes nothing (torch would give NaN).
  // Uses the logits buffer in place for dlogits, so it runs once per forward; throws
  // std::logic_error when there is nothing to differentiate (no forward since the last
  // backward, or a forward without targets and no hidden gradient).
  void backward(double loss_scale = 1.0);
  void zero_grads();

  // One pipeline stage's share of forward/backward, for the activations in `slot`
  // (< activation_slots). The first stage reads tokens [B,T]; the others read `input`
  // [B,T,C], the previous stage's output. The last stage reads targets (may be null, as in
  // forward) and returns the loss; the others return NaN and leave their output in
  // stage_output(slot). backward_stage takes dL/d(output) [B,T,C] from the next stage
  // (null on the last stage) and, on a stage other than the first, leaves dL/d(input) in
  // input_grad() until the next backward_stage. forward/backward are slot 0 of a whole model.
  double forward_stage(const int32_t* tokens, const int32_t* targets, const T* input, int64_t B, int64_t S,
                       int slot);
  void backward_stage(double loss_scale, const T* output_grad, int slot);
  const T* stage_output(int slot) const;
  const T* input_grad() const { return dres_; }
  // Called during each backward with an offset into the flat buffer whenever the gradients
  // of [offset, total_count()) are complete for that backward: after each block (its
  // segment's first element, when not 0) and, at the end, exactly once, 0. Gradient buckets can then start while the
  // backward goes on (core/run/gradient_buckets.hpp). An empty function: no calls.
  void set_gradient_hook(std::function<void(int64_t)> hook) { gradient_hook_ = std::move(hook); }
  int activation_slots() const { return static_cast<int>(slots_.size()); }
  const ModelShard& shard() const { return layout_.shard(); }

  // Attention capture for explainability: while on, forward stores the probabilities and
  // backward dL/dprobs, each [L,B,H,T,T] for the B,T of that call (entries above the
  // diagonal are 0). Costs 2·L·max_batch·H·max_seq² values, allocated when switched on
  // and freed when switched off. Capture does not change any result.
  void set_attention_capture(bool on);
  bool attention_capture() const { return capture_; }
  const T* attention_probs() const { return capture_ ? probs_.data() : nullptr; }
  const T* attention_grads() const { return capture_ ? dprobs_.data() : nullptr; }

  // ln_f output [B,T,C] of the last forward (the representation the head reads).
  const T* final_hidden() const { return slots_[0].lnf; }
  // Adds g [B,T,C] to dL/d(final_hidden) for the next backward (adversarial debiasing and
  // similar objectives on the representation). Requires a forward; calls accumulate.
  void add_hidden_grad(const T* g);

  std::vector<LayerProfile> layer_profiles(int64_t B, int64_t S) const;

  const GptConfig& config() const { return layout_.config(); }
  const ParameterLayout& layout() const { return layout_; }
  T* params() { return params_.data(); }
  const T* params() const { return params_.data(); }
  T* grads() { return grads_.data(); }
  const T* grads() const { return grads_.data(); }
  int64_t parameter_count() const { return layout_.parameter_count(); }
  // [B,T,V] after forward (this rank's vocabulary columns when tensor parallel);
  // backward overwrites it with dlogits.
  const T* logits() const { return slots_[0].logits; }
  // Bytes of the activation arena (token buffers included; capture excluded).
  uint64_t activation_bytes() const;

  int64_t max_batch() const { return max_batch_; }
  int64_t max_seq() const { return max_seq_; }
  int64_t batch() const { return slots_[0].B; }  // of the last forward (0 before the first)
  int64_t seq_len() const { return slots_[0].S; }

 private:
  // Pointers into the arena for one block (each slot sized for max_batch * max_seq rows).
  struct BlockActs {
    T *ln1, *ln1_mean, *ln1_rstd;  // ln_1 output [N,C] and its row statistics [N]
    T *qkv;                        // c_attn output [N,3C] (this rank's heads: [N,3C/tp])
    T *atty, *att_lse;             // attention output [N,C/tp], log-sum-exp [B,H/tp,T]
    T *res2;                       // x + attn.c_proj(...) [N,C]
    T *ln2, *ln2_mean, *ln2_rstd;  // ln_2 output and statistics
    T *fch, *fch_gelu;             // c_fc output and its GELU [N,4C/tp]
    T *res3;                       // block output [N,C]
  };
  // What one forward keeps for its backward.
  struct Slot {
    T* encoded = nullptr;  // the stage's input [N,C]: wte + wpe on the first stage
    std::vector<BlockActs> blocks;
    T *lnf = nullptr, *lnf_mean = nullptr, *lnf_rstd = nullptr;  // last stage only
    T *logits = nullptr, *losses = nullptr, *ce_lse = nullptr;
    int32_t *tokens = nullptr, *targets = nullptr;  // copies, for the backward
    int64_t B = 0, S = 0;
    int64_t valid_targets = 0;
    bool has_targets = false;
    bool backward_pending = false;  // a forward's results are there to differentiate
  };

  void check_shape(int64_t B, int64_t S) const;
  int attention_threads() const;
  void backward_block(const Slot& s, int64_t l);
  void tp_sum(T* data, int64_t n) const;
  double head_loss(Slot& s);
  void head_backward(Slot& s, double loss_scale, bool hidden);
  const Slot& slot_at(int slot) const;
  Slot& slot_at(int slot) { return const_cast<Slot&>(std::as_const(*this).slot_at(slot)); }

  ParameterLayout layout_;
  int64_t max_batch_, max_seq_;
  int scratch_threads_;
  TensorParallelGroup* tp_;
  int64_t local_width_, local_heads_, local_ffn_, local_vocab_, vocab_begin_;

  AlignedBuffer<T> params_, grads_;
  AlignedBuffer<T> arena_;
  AlignedBuffer<int32_t> token_buf_;  // per slot: tokens then targets, each [max N]
  AlignedBuffer<T> probs_, dprobs_;   // attention capture, empty while off
  std::vector<double> ce_scratch_;    // vocabulary-parallel cross-entropy: 3 x [max N]

  std::vector<Slot> slots_;
  // Workspace shared by the slots.
  T* dres_ = nullptr;    // dL/d(residual stream) [N,C]; forward uses it for projections
  T* dwide_a_ = nullptr;  // [N,max(4C/tp,C)] backward scratch (dgelu output, then dqkv)
  T* dwide_b_ = nullptr;  // [N,max(4C/tp,C)] backward scratch (dc_fc output)
  T* dnarrow_ = nullptr;  // [N,C] backward scratch; holds the pending hidden gradient
  T* attn_scratch_ = nullptr;

  bool capture_ = false;
  bool hidden_grad_pending_ = false;
  std::function<void(int64_t)> gradient_hook_;
};

extern template class GptModel<float>;
extern template class GptModel<double>;

}  // namespace strata::engine
