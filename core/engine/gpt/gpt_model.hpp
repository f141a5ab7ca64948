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
// Shapes are written [B,T,C] as in GPT-2 papers (T = sequence length); in code the
// sequence length is S, as in the kernels, because T is the element type.
// Instantiated for T = float (training) and T = double (gradient checks) only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/engine/gpt/aligned_buffer.hpp"
#include "core/engine/gpt/gpt_config.hpp"
#include "core/engine/gpt/parameter_layout.hpp"

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
  GptModel(const GptConfig& config, int64_t max_batch, int64_t max_seq);
  GptModel(const GptModel&) = delete;
  GptModel& operator=(const GptModel&) = delete;

  // GPT-2 initialisation: matrices and embeddings N(0, 0.02), the residual projections
  // (attn.c_proj.weight, mlp.c_proj.weight) N(0, 0.02/sqrt(2*layers)), biases 0,
  // LayerNorm weight 1 and bias 0, padding 0. Each value is a pure function of (seed,
  // tensor name, element index), so it does not depend on threads or on the layout.
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

  // Attention capture for explainability: while on, forward stores the probabilities and
  // backward dL/dprobs, each [L,B,H,T,T] for the B,T of that call (entries above the
  // diagonal are 0). Costs 2·L·max_batch·H·max_seq² values, allocated when switched on
  // and freed when switched off. Capture does not change any result.
  void set_attention_capture(bool on);
  bool attention_capture() const { return capture_; }
  const T* attention_probs() const { return capture_ ? probs_.data() : nullptr; }
  const T* attention_grads() const { return capture_ ? dprobs_.data() : nullptr; }

  // ln_f output [B,T,C] of the last forward (the representation the head reads).
  const T* final_hidden() const { return lnf_; }
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
  // [B,T,V] after forward; backward overwrites it with dlogits.
  const T* logits() const { return logits_; }
  // Bytes of the activation arena (token buffers included; capture excluded).
  uint64_t activation_bytes() const;

  int64_t max_batch() const { return max_batch_; }
  int64_t max_seq() const { return max_seq_; }
  int64_t batch() const { return B_; }  // of the last forward (0 before the first)
  int64_t seq_len() const { return T_; }

 private:
  // Pointers into the arena for one block (each slot sized for max_batch * max_seq rows).
  struct BlockActs {
    T *ln1, *ln1_mean, *ln1_rstd;  // ln_1 output [N,C] and its row statistics [N]
    T *qkv;                        // c_attn output [N,3C]
    T *atty, *att_lse;             // attention output [N,C], log-sum-exp [B,H,T]
    T *res2;                       // x + attn.c_proj(...) [N,C]
    T *ln2, *ln2_mean, *ln2_rstd;  // ln_2 output and statistics
    T *fch, *fch_gelu;             // c_fc output and its GELU [N,4C]
    T *res3;                       // block output [N,C]
  };

  void check_shape(int64_t B, int64_t S) const;
  int attention_threads() const;
  void backward_block(int64_t l);

  ParameterLayout layout_;
  int64_t max_batch_, max_seq_;
  int scratch_threads_;

  AlignedBuffer<T> params_, grads_;
  AlignedBuffer<T> arena_;
  AlignedBuffer<int32_t> token_buf_;  // tokens then targets, each [max N]
  AlignedBuffer<T> probs_, dprobs_;   // attention capture, empty while off

  // Arena slots.
  T* encoded_ = nullptr;  // wte + wpe [N,C]: the residual stream entering block 0
  std::vector<BlockActs> blocks_;
  T *lnf_ = nullptr, *lnf_mean_ = nullptr, *lnf_rstd_ = nullptr;
  T *logits_ = nullptr, *losses_ = nullptr, *ce_lse_ = nullptr;
  T* dres_ = nullptr;    // dL/d(residual stream) [N,C]; forward uses it for projections
  T* dwide_a_ = nullptr;  // [N,4C] backward scratch (dgelu output, then dqkv)
  T* dwide_b_ = nullptr;  // [N,4C] backward scratch (dc_fc output)
  T* dnarrow_ = nullptr;  // [N,C] backward scratch; holds the pending hidden gradient
  T* attn_scratch_ = nullptr;

  bool capture_ = false;
  int64_t B_ = 0, T_ = 0;
  int64_t valid_targets_ = 0;
  bool has_targets_ = false;
  bool backward_pending_ = false;  // a forward's results are there to differentiate
  bool hidden_grad_pending_ = false;
};

extern template class GptModel<float>;
extern template class GptModel<double>;

}  // namespace strata::engine
