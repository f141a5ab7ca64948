#include "core/engine/gpt/gpt_model.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string_view>

#include "core/engine/gpt/counter_rng.hpp"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/crossentropy.h"
#include "kernels/cpu/encoder.h"
#include "kernels/cpu/fill.h"
#include "kernels/cpu/gelu.h"
#include "kernels/cpu/layernorm.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/residual.h"
#include "kernels/cpu/vocab_parallel.h"

namespace strata::engine {
namespace kc = kernels::cpu;
namespace {

// Arena slots start on 64-byte boundaries (in float), like the parameters.
constexpr int64_t kSlotAlign = 16;

int64_t align_up(int64_t n, int64_t a) { return (n + a - 1) / a * a; }

// Element offsets of every arena slot for one (B, T). The arena is this plan for
// (max_batch, max_seq); layer_profiles reads the same plan for any (B, T), so the two
// can never disagree about what a block keeps.
struct ArenaPlan {
  struct Block {
    int64_t ln1, ln1_mean, ln1_rstd, qkv, atty, att_lse, res2, ln2, ln2_mean, ln2_rstd, fch,
        fch_gelu, res3;
  };
  int64_t encoded = 0;
  std::vector<Block> blocks;
  int64_t lnf = 0, lnf_mean = 0, lnf_rstd = 0, logits = 0, losses = 0, ce_lse = 0;
  int64_t dres = 0, dwide_a = 0, dwide_b = 0, dnarrow = 0, attn_scratch = 0;
  // Section ends: embedding [0, embedding_end), block i [.., block_end[i]), head, workspace.
  int64_t embedding_end = 0;
  std::vector<int64_t> block_end;
  int64_t head_end = 0;
  int64_t total = 0;
};

class SlotCursor {
 public:
  int64_t take(int64_t n) {
    const int64_t at = next_;
    next_ = align_up(next_ + n, kSlotAlign);
    return at;
  }
  int64_t position() const { return next_; }

 private:
  int64_t next_ = 0;
};

// The widths one tensor-parallel rank computes with.
struct LocalDims {
  int64_t C, width, heads, ffn, vocab;  // C: the residual stream's (never split)
  int64_t wide() const { return std::max({ffn, C, 3 * width}); }
};

LocalDims local_dims(const ParameterLayout& layout) {
  const GptConfig& c = layout.config();
  const ModelShard& s = layout.shard();
  return {c.width, c.width / s.tp_size, c.heads / s.tp_size, c.ffn_width() / s.tp_size,
          s.vocab_end(c) - s.vocab_begin(c)};
}

ArenaPlan plan_arena(const ParameterLayout& layout, int64_t B, int64_t T, int threads) {
  const LocalDims d = local_dims(layout);
  const int64_t N = B * T, C = d.C, F = d.ffn;
  ArenaPlan p;
  SlotCursor cur;
  p.encoded = cur.take(N * C);
  p.embedding_end = cur.position();
  for (int64_t l = 0; l < layout.local_layers(); ++l) {
    ArenaPlan::Block b{};
    b.ln1 = cur.take(N * C);
    b.ln1_mean = cur.take(N);
    b.ln1_rstd = cur.take(N);
    b.qkv = cur.take(N * 3 * d.width);
    b.atty = cur.take(N * d.width);
    b.att_lse = cur.take(B * d.heads * T);
    b.res2 = cur.take(N * C);
    b.ln2 = cur.take(N * C);
    b.ln2_mean = cur.take(N);
    b.ln2_rstd = cur.take(N);
    b.fch = cur.take(N * F);
    b.fch_gelu = cur.take(N * F);
    b.res3 = cur.take(N * C);
    p.blocks.push_back(b);
    p.block_end.push_back(cur.position());
  }
  if (layout.has_head()) {
    p.lnf = cur.take(N * C);
    p.lnf_mean = cur.take(N);
    p.lnf_rstd = cur.take(N);
    p.logits = cur.take(N * d.vocab);
    p.losses = cur.take(N);
    p.ce_lse = cur.take(N);
  }
  p.head_end = cur.position();
  p.dres = cur.take(N * C);
  p.dwide_a = cur.take(N * d.wide());
  p.dwide_b = cur.take(N * d.wide());
  p.dnarrow = cur.take(N * C);
  p.attn_scratch = cur.take(kc::attention_scratch_elems({B, T, d.width, d.heads}, threads));
  p.total = cur.position();
  return p;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

template <class T>
GptModel<T>::GptModel(const GptConfig& config, int64_t max_batch, int64_t max_seq, const ModelShard& shard,
                      int activation_slots, TensorParallelGroup* tp)
    : layout_(config, shard),
      max_batch_(max_batch),
      max_seq_(max_seq),
      scratch_threads_(std::max(1, omp_get_max_threads())),
      tp_(shard.tp_size > 1 ? tp : nullptr) {
  if (max_batch < 1) throw std::invalid_argument("GptModel: max_batch must be >= 1");
  if (max_seq < 1 || max_seq > config.context)
    throw std::invalid_argument("GptModel: max_seq must be in [1, context = " +
                                std::to_string(config.context) + "], got " + std::to_string(max_seq));
  if (activation_slots < 1) throw std::invalid_argument("GptModel: activation_slots must be >= 1");
  if (shard.tp_size > 1 && tp == nullptr)
    throw std::invalid_argument("GptModel: a tensor-parallel shard needs its TensorParallelGroup");
  const LocalDims d = local_dims(layout_);
  local_width_ = d.width;
  local_heads_ = d.heads;
  local_ffn_ = d.ffn;
  local_vocab_ = d.vocab;
  vocab_begin_ = layout_.shard().vocab_begin(config);

  // The plan lays out one slot and then the workspace; further slots repeat the slot part
  // after the workspace, so one slot gives exactly the single-forward arena.
  const ArenaPlan plan = plan_arena(layout_, max_batch, max_seq, scratch_threads_);
  const int64_t slot_elems = plan.head_end;
  params_ = AlignedBuffer<T>(layout_.total_count());
  grads_ = AlignedBuffer<T>(layout_.total_count());
  arena_ = AlignedBuffer<T>(plan.total + (activation_slots - 1) * slot_elems);
  const int64_t maxN = max_batch * max_seq;
  token_buf_ = AlignedBuffer<int32_t>(2 * maxN * activation_slots);
  if (tp_ != nullptr) ce_scratch_.assign(static_cast<size_t>(3 * maxN), 0.0);

  T* a = arena_.data();
  dres_ = a + plan.dres;
  dwide_a_ = a + plan.dwide_a;
  dwide_b_ = a + plan.dwide_b;
  dnarrow_ = a + plan.dnarrow;
  attn_scratch_ = a + plan.attn_scratch;
  for (int i = 0; i < activation_slots; ++i) {
    T* base = i == 0 ? a : a + plan.total + (i - 1) * slot_elems;
    Slot s;
    s.encoded = base + plan.encoded;
    for (const ArenaPlan::Block& b : plan.blocks)
      s.blocks.push_back({base + b.ln1, base + b.ln1_mean, base + b.ln1_rstd, base + b.qkv, base + b.atty,
                          base + b.att_lse, base + b.res2, base + b.ln2, base + b.ln2_mean, base + b.ln2_rstd,
                          base + b.fch, base + b.fch_gelu, base + b.res3});
    if (layout_.has_head()) {
      s.lnf = base + plan.lnf;
      s.lnf_mean = base + plan.lnf_mean;
      s.lnf_rstd = base + plan.lnf_rstd;
      s.logits = base + plan.logits;
      s.losses = base + plan.losses;
      s.ce_lse = base + plan.ce_lse;
    }
    s.tokens = token_buf_.data() + 2 * maxN * i;
    s.targets = s.tokens + maxN;
    slots_.push_back(s);
  }
}

template <class T>
void GptModel<T>::init_parameters(uint64_t seed) {
  const double std_base = 0.02;
  const double std_residual = 0.02 / std::sqrt(2.0 * static_cast<double>(config().layers));
  kc::fill_zero(params_.data(), params_.size());  // padding included
  for (const ParameterTensor& t : layout_.tensors()) {
    T* p = params_.data() + t.offset;
    const bool is_ln = t.name.starts_with("ln_f.") || t.name.find(".ln_") != std::string::npos;
    if (ends_with(t.name, ".bias")) continue;  // already 0
    if (is_ln) {
      std::fill_n(p, t.count, T{1});
      continue;
    }
    const double sd = ends_with(t.name, "c_proj.weight") ? std_residual : std_base;
    const uint64_t key = stream_key(seed, stream_id(t.name));
    // Keyed by the element's index in the model-wide tensor: a shard gets exactly the
    // values the whole model has there.
    for (const IndexRun& run : layout_.index_runs(t)) {
#pragma omp parallel for schedule(static) if (run.count >= (int64_t{1} << 14))
      for (int64_t i = 0; i < run.count; ++i)
        p[run.local + i] = static_cast<T>(sd * counter_normal(key, static_cast<uint64_t>(run.full + i)));
    }
  }
}

template <class T>
void GptModel<T>::check_shape(int64_t B, int64_t S) const {
  if (B < 1 || B > max_batch_)
    throw std::invalid_argument("GptModel: batch " + std::to_string(B) + " outside [1, max_batch = " +
                                std::to_string(max_batch_) + "]");
  if (S < 1 || S > max_seq_)
    throw std::invalid_argument("GptModel: sequence length " + std::to_string(S) +
                                " outside [1, max_seq = " + std::to_string(max_seq_) + "]");
}

// The scratch has slots for the thread count seen at construction; a later, larger
// omp_set_num_threads must not index past them.
template <class T>
int GptModel<T>::attention_threads() const {
  return std::clamp(omp_get_max_threads(), 1, scratch_threads_);
}

template <class T>
void GptModel<T>::tp_sum(T* data, int64_t n) const {
  if (tp_ != nullptr) tp_->sum(data, n);
}

template <class T>
const typename GptModel<T>::Slot& GptModel<T>::slot_at(int slot) const {
  if (slot < 0 || slot >= activation_slots())
    throw std::invalid_argument("GptModel: activation slot " + std::to_string(slot) + " outside [0, " +
                                std::to_string(activation_slots()) + ")");
  return slots_[static_cast<size_t>(slot)];
}

template <class T>
double GptModel<T>::forward(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t S) {
  return forward_stage(tokens, targets, nullptr, B, S, 0);
}

template <class T>
double GptModel<T>::forward_stage(const int32_t* tokens, const int32_t* targets, const T* input, int64_t B, int64_t S,
                                  int slot) {
  check_shape(B, S);
  Slot& s = slot_at(slot);
  const bool first = layout_.has_embedding(), last = layout_.has_head();
  if (first && tokens == nullptr) throw std::invalid_argument("GptModel::forward_stage: the first stage needs tokens");
  if (!first && input == nullptr)
    throw std::invalid_argument("GptModel::forward_stage: a later pipeline stage needs the previous stage's output");
  // Until this forward completes there is nothing consistent to differentiate.
  s.backward_pending = false;
  if (slot == 0) hidden_grad_pending_ = false;
  s.B = B;
  s.S = S;
  const GptConfig& c = config();
  const int64_t N = B * S, C = c.width, F = local_ffn_, V = c.vocab_size, W = local_width_;
  const T* p = params_.data();
  const kc::AttentionShape ash{B, S, W, local_heads_};
  const int threads = attention_threads();

  // Copies: the backward needs tokens and targets after the caller's buffers are gone.
  if (tokens != nullptr) std::copy_n(tokens, N, s.tokens);
  s.has_targets = last && targets != nullptr;
  if (s.has_targets) std::copy_n(targets, N, s.targets);

  if (!first) {
    std::copy_n(input, N * C, s.encoded);
  } else if (tp_ == nullptr) {
    kc::encoder_forward(s.encoded, s.tokens, p + layout_.wte(), p + layout_.wpe(), B, S, C, V);
  } else {  // vocabulary parallel: each rank contributes the rows it holds
    kc::encoder_forward_slice(s.encoded, s.tokens, p + layout_.wte(), vocab_begin_, local_vocab_, B, S, C, V);
    tp_sum(s.encoded, N * C);
    kc::encoder_add_positions(s.encoded, p + layout_.wpe(), B, S, C);
  }
  // Row-parallel layers add their (replicated) bias on one rank only, before the sum.
  const bool add_bias = layout_.shard().tp_rank == 0;
  const T* x = s.encoded;
  T* proj = dres_;  // projection outputs live only until their residual add
  for (int64_t l = 0; l < layout_.local_layers(); ++l) {
    const BlockOffsets& w = layout_.block(l);
    const BlockActs& a = s.blocks[static_cast<size_t>(l)];
    kc::layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, x, p + w.ln_1_weight, p + w.ln_1_bias, N, C);
    kc::matmul_forward(a.qkv, a.ln1, p + w.c_attn_weight, p + w.c_attn_bias, N, C, 3 * W);
    T* probs = capture_ ? probs_.data() + l * B * c.heads * S * S : nullptr;
    kc::attention_forward(a.atty, a.att_lse, probs, a.qkv, ash, attn_scratch_, threads);
    kc::matmul_forward(proj, a.atty, p + w.attn_proj_weight, add_bias ? p + w.attn_proj_bias : nullptr, N, W, C);
    tp_sum(proj, N * C);
    kc::residual_forward(a.res2, x, proj, N * C);
    kc::layernorm_forward(a.ln2, a.ln2_mean, a.ln2_rstd, a.res2, p + w.ln_2_weight, p + w.ln_2_bias, N, C);
    kc::matmul_forward(a.fch, a.ln2, p + w.c_fc_weight, p + w.c_fc_bias, N, C, F);
    kc::gelu_forward(a.fch_gelu, a.fch, N * F);
    kc::matmul_forward(proj, a.fch_gelu, p + w.mlp_proj_weight, add_bias ? p + w.mlp_proj_bias : nullptr, N, F, C);
    tp_sum(proj, N * C);
    kc::residual_forward(a.res3, a.res2, proj, N * C);
    x = a.res3;
  }
  double loss = std::numeric_limits<double>::quiet_NaN();
  s.valid_targets = 0;
  if (last) {
    kc::layernorm_forward(s.lnf, s.lnf_mean, s.lnf_rstd, x, p + layout_.ln_f_weight(), p + layout_.ln_f_bias(), N, C);
    kc::matmul_forward(s.logits, s.lnf, p + layout_.wte(), static_cast<const T*>(nullptr), N, C, local_vocab_);
    if (s.has_targets) loss = head_loss(s);
  }
  s.backward_pending = true;
  return loss;
}

// Cross-entropy of the slot's logits; vocabulary parallel when the head is split.
template <class T>
double GptModel<T>::head_loss(Slot& s) {
  const int64_t N = s.B * s.S, V = config().vocab_size;
  s.valid_targets = kc::crossentropy_count_valid(s.targets, N);
  if (tp_ == nullptr) return kc::crossentropy_forward(s.losses, s.ce_lse, s.logits, s.targets, N, V);
  double* rowmax = ce_scratch_.data();
  double* sumexp = rowmax + N;
  double* target_logit = sumexp + N;
  kc::crossentropy_slice_max(rowmax, s.logits, N, local_vocab_);
  tp_->max(rowmax, N);
  kc::crossentropy_slice_partials(sumexp, target_logit, s.logits, rowmax, s.targets, vocab_begin_, N, local_vocab_, V);
  tp_->sum(sumexp, N);
  tp_->sum(target_logit, N);
  return kc::crossentropy_slice_finish(s.losses, s.ce_lse, rowmax, sumexp, target_logit, s.targets, N);
}

template <class T>
const T* GptModel<T>::stage_output(int slot) const {
  const Slot& s = slot_at(slot);
  return s.blocks.empty() ? s.encoded : s.blocks.back().res3;
}

template <class T>
void GptModel<T>::add_hidden_grad(const T* g) {
  if (!slots_[0].backward_pending || !layout_.has_head())
    throw std::logic_error("GptModel::add_hidden_grad: needs a forward (of the last stage) since the last backward");
  if (tp_ != nullptr || activation_slots() > 1)
    throw std::logic_error("GptModel::add_hidden_grad: not supported under tensor parallelism or with several "
                           "activation slots");
  const int64_t n = slots_[0].B * slots_[0].S * config().width;
  if (hidden_grad_pending_)
    kc::residual_forward(dnarrow_, dnarrow_, g, n);
  else
    std::copy_n(g, n, dnarrow_);
  hidden_grad_pending_ = true;
}

template <class T>
void GptModel<T>::backward(double loss_scale) {
  backward_stage(loss_scale, nullptr, 0);
}

template <class T>
void GptModel<T>::backward_stage(double loss_scale, const T* output_grad, int slot) {
  Slot& s = slot_at(slot);
  const bool last = layout_.has_head();
  if (!s.backward_pending)
    throw std::logic_error("GptModel::backward: needs a forward since the last backward");
  const bool hidden = slot == 0 && hidden_grad_pending_;
  if (last && !s.has_targets && !hidden)
    throw std::logic_error("GptModel::backward: the forward had no targets and no hidden gradient was added");
  if (!last && output_grad == nullptr)
    throw std::logic_error("GptModel::backward_stage: a stage before the last needs dL/d(output)");
  s.backward_pending = false;  // dlogits overwrite the logits below
  const int64_t N = s.B * s.S, C = config().width;
  if (last)
    head_backward(s, loss_scale, hidden);
  else
    std::copy_n(output_grad, N * C, dres_);
  for (int64_t l = layout_.local_layers() - 1; l >= 0; --l) {
    backward_block(s, l);
    // 0 is announced once, at the very end (callers count backwards by it).
    const int64_t complete_from = layout_.block_range(l).begin;
    if (gradient_hook_ && complete_from > 0) gradient_hook_(complete_from);
  }
  if (layout_.has_embedding()) {  // otherwise dres_ is dL/d(input): input_grad()
    T* g = grads_.data();
    if (tp_ == nullptr)
      kc::encoder_backward(g + layout_.wte(), g + layout_.wpe(), dres_, s.tokens, s.B, s.S, C, config().vocab_size);
    else
      kc::encoder_backward_slice(g + layout_.wte(), g + layout_.wpe(), dres_, s.tokens, vocab_begin_, local_vocab_,
                                 s.B, s.S, C, config().vocab_size);
  }
  if (gradient_hook_) gradient_hook_(0);
}

// Leaves dL/d(last block's output) in dres_.
template <class T>
void GptModel<T>::head_backward(Slot& s, double loss_scale, bool hidden) {
  const int64_t N = s.B * s.S, C = config().width;
  const T* p = params_.data();
  T* g = grads_.data();
  // dL/d(ln_f output), seeded with the pending hidden gradient if there is one.
  T* dlnf = dnarrow_;
  const bool head_grad = s.has_targets && s.valid_targets > 0;
  if (!hidden && !head_grad) kc::fill_zero(dlnf, N * C);
  hidden_grad_pending_ = false;
  if (head_grad) {
    const T dloss = static_cast<T>(loss_scale / static_cast<double>(s.valid_targets));
    if (tp_ == nullptr)
      kc::crossentropy_backward(s.logits, s.logits, s.ce_lse, s.targets, dloss, N, config().vocab_size);  // in place
    else
      kc::crossentropy_slice_backward(s.logits, s.logits, s.ce_lse, s.targets, dloss, vocab_begin_, N, local_vocab_);
    kc::matmul_backward(dlnf, g + layout_.wte(), static_cast<T*>(nullptr), s.logits, s.lnf, p + layout_.wte(), N, C,
                        local_vocab_, hidden ? kc::InputGrad::kAccumulate : kc::InputGrad::kWrite);
    tp_sum(dlnf, N * C);
  }
  kc::fill_zero(dres_, N * C);
  const T* x_last = s.blocks.empty() ? s.encoded : s.blocks.back().res3;
  kc::layernorm_backward(dres_, g + layout_.ln_f_weight(), g + layout_.ln_f_bias(), dlnf, x_last,
                         p + layout_.ln_f_weight(), s.lnf_mean, s.lnf_rstd, N, C);
}

// On entry dres_ is dL/d(block output); on exit dL/d(block input). Both residual adds
// pass the gradient through unchanged, so dres_ also serves as the gradient of each
// projection's output and the LayerNorm backwards accumulate straight into it.
// Under tensor parallelism the column-parallel layers' input gradients are partial sums
// (over this rank's heads or MLP columns), completed by one sum each.
template <class T>
void GptModel<T>::backward_block(const Slot& s, int64_t l) {
  const GptConfig& c = config();
  const int64_t N = s.B * s.S, C = c.width, F = local_ffn_, W = local_width_;
  const BlockOffsets& w = layout_.block(l);
  const BlockActs& a = s.blocks[static_cast<size_t>(l)];
  const T* x = l > 0 ? s.blocks[static_cast<size_t>(l - 1)].res3 : s.encoded;
  const T* p = params_.data();
  T* g = grads_.data();

  // MLP: res3 = res2 + c_proj(gelu(c_fc(ln_2(res2)))).
  T* dgelu = dwide_a_;
  kc::matmul_backward(dgelu, g + w.mlp_proj_weight, g + w.mlp_proj_bias, dres_, a.fch_gelu,
                      p + w.mlp_proj_weight, N, F, C, kc::InputGrad::kWrite);
  T* dfch = dwide_b_;
  kc::gelu_backward(dfch, a.fch, dgelu, N * F, /*accumulate=*/false);  // GELU alone feeds dfch
  T* dln2 = dnarrow_;
  kc::matmul_backward(dln2, g + w.c_fc_weight, g + w.c_fc_bias, dfch, a.ln2, p + w.c_fc_weight, N, C, F,
                      kc::InputGrad::kWrite);
  tp_sum(dln2, N * C);
  kc::layernorm_backward(dres_, g + w.ln_2_weight, g + w.ln_2_bias, dln2, a.res2, p + w.ln_2_weight, a.ln2_mean,
                         a.ln2_rstd, N, C);

  // Attention: res2 = x + c_proj(attention(c_attn(ln_1(x)))).
  T* datty = dnarrow_;
  kc::matmul_backward(datty, g + w.attn_proj_weight, g + w.attn_proj_bias, dres_, a.atty,
                      p + w.attn_proj_weight, N, W, C, kc::InputGrad::kWrite);
  T* dqkv = dwide_a_;
  T* dprobs = capture_ ? dprobs_.data() + l * s.B * c.heads * s.S * s.S : nullptr;
  kc::attention_backward(dqkv, dprobs, datty, a.qkv, a.att_lse, {s.B, s.S, W, local_heads_}, attn_scratch_,
                         attention_threads(), kc::InputGrad::kWrite);
  T* dln1 = dwide_b_;
  kc::matmul_backward(dln1, g + w.c_attn_weight, g + w.c_attn_bias, dqkv, a.ln1, p + w.c_attn_weight, N, C,
                      3 * W, kc::InputGrad::kWrite);
  tp_sum(dln1, N * C);
  kc::layernorm_backward(dres_, g + w.ln_1_weight, g + w.ln_1_bias, dln1, x, p + w.ln_1_weight, a.ln1_mean,
                         a.ln1_rstd, N, C);
}

template <class T>
void GptModel<T>::zero_grads() {
  kc::fill_zero(grads_.data(), grads_.size());
}

template <class T>
void GptModel<T>::set_attention_capture(bool on) {
  if (on == capture_) return;
  if (on) {
    if (!layout_.shard().whole(config()))
      throw std::logic_error("GptModel: attention capture needs the whole model (not a tensor or pipeline shard)");
    const GptConfig& c = config();
    const int64_t n = c.layers * max_batch_ * c.heads * max_seq_ * max_seq_;
    probs_ = AlignedBuffer<T>(n);
    dprobs_ = AlignedBuffer<T>(n);
  } else {
    probs_ = AlignedBuffer<T>();
    dprobs_ = AlignedBuffer<T>();
  }
  capture_ = on;
}

template <class T>
uint64_t GptModel<T>::activation_bytes() const {
  return arena_.bytes() + token_buf_.bytes();
}

template <class T>
std::vector<LayerProfile> GptModel<T>::layer_profiles(int64_t B, int64_t S) const {
  if (B < 1 || S < 1) throw std::invalid_argument("GptModel::layer_profiles: B and T must be positive");
  const ArenaPlan plan = plan_arena(layout_, B, S, scratch_threads_);
  const LocalDims d = local_dims(layout_);
  const uint64_t N = static_cast<uint64_t>(B * S), C = static_cast<uint64_t>(d.C),
                 W = static_cast<uint64_t>(d.width), Fl = static_cast<uint64_t>(d.ffn),
                 Vl = static_cast<uint64_t>(d.vocab);
  const auto bytes = [](int64_t elems) { return static_cast<uint64_t>(elems) * sizeof(T); };
  const auto param_bytes = [&](const FlatRange& r) { return bytes(r.end - r.begin); };
  const uint64_t token_bytes = N * sizeof(int32_t);

  std::vector<LayerProfile> out;
  const std::vector<FlatRange>& seg = layout_.segments();
  out.push_back({"embedding", bytes(plan.embedding_end) + token_bytes,
                 layout_.has_embedding() ? param_bytes(seg.front()) : 0, 0});
  // Per block: 2·N·(3CW + WC + CF + FC) for the four matmuls (W = C, F = 4C on one rank),
  // and 2·2·HS per causal (query, key) pair and head for QK^T and PV: B·H·T(T+1)/2 pairs.
  const uint64_t block_flops = 2 * N * C * (4 * W + 2 * Fl) +
                               2 * static_cast<uint64_t>(B) * W * static_cast<uint64_t>(S) * static_cast<uint64_t>(S + 1);
  int64_t begin = plan.embedding_end;
  for (int64_t l = 0; l < layout_.local_layers(); ++l) {
    const int64_t end = plan.block_end[static_cast<size_t>(l)];
    out.push_back({"block." + std::to_string(layout_.shard().layer_begin + l), bytes(end - begin),
                   param_bytes(layout_.block_range(l)), block_flops});
    begin = end;
  }
  uint64_t head_params = 0;
  if (layout_.has_head())
    for (const FlatRange& r : seg)
      if (r.name == "ln_f" || r.name == "head.wte") head_params += param_bytes(r);
  out.push_back({"head", bytes(plan.head_end - begin) + token_bytes, head_params,
                 layout_.has_head() ? 2 * N * C * Vl : 0});
  out.push_back({"workspace", bytes(plan.total - plan.head_end), 0, 0});
  return out;
}

template class GptModel<float>;
template class GptModel<double>;

}  // namespace strata::engine
