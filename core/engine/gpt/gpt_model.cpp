#include "core/engine/gpt/gpt_model.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string_view>

#include "core/engine/gpt/counter_rng.hpp"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/crossentropy.h"
#include "kernels/cpu/encoder.h"
#include "kernels/cpu/gelu.h"
#include "kernels/cpu/layernorm.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/residual.h"

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

kc::AttentionShape attention_shape(const GptConfig& c, int64_t B, int64_t T) {
  return {B, T, c.width, c.heads};
}

ArenaPlan plan_arena(const GptConfig& c, int64_t B, int64_t T, int threads) {
  const int64_t N = B * T, C = c.width, F = c.ffn_width();
  ArenaPlan p;
  SlotCursor cur;
  p.encoded = cur.take(N * C);
  p.embedding_end = cur.position();
  for (int64_t l = 0; l < c.layers; ++l) {
    ArenaPlan::Block b{};
    b.ln1 = cur.take(N * C);
    b.ln1_mean = cur.take(N);
    b.ln1_rstd = cur.take(N);
    b.qkv = cur.take(N * 3 * C);
    b.atty = cur.take(N * C);
    b.att_lse = cur.take(B * c.heads * T);
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
  p.lnf = cur.take(N * C);
  p.lnf_mean = cur.take(N);
  p.lnf_rstd = cur.take(N);
  p.logits = cur.take(N * c.vocab_size);
  p.losses = cur.take(N);
  p.ce_lse = cur.take(N);
  p.head_end = cur.position();
  p.dres = cur.take(N * C);
  p.dwide_a = cur.take(N * F);
  p.dwide_b = cur.take(N * F);
  p.dnarrow = cur.take(N * C);
  p.attn_scratch = cur.take(kc::attention_scratch_elems(attention_shape(c, B, T), threads));
  p.total = cur.position();
  return p;
}

// Sets n elements to zero; threads only pay off for buffers well beyond L2.
template <class T>
void fill_zero(T* p, int64_t n) {
  constexpr int64_t kChunk = int64_t{1} << 16;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks >= 8)
  for (int64_t i = 0; i < chunks; ++i) {
    const int64_t lo = i * kChunk;
    std::memset(p + lo, 0, static_cast<size_t>(std::min(kChunk, n - lo)) * sizeof(T));
  }
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

template <class T>
GptModel<T>::GptModel(const GptConfig& config, int64_t max_batch, int64_t max_seq)
    : layout_(config),
      max_batch_(max_batch),
      max_seq_(max_seq),
      scratch_threads_(std::max(1, omp_get_max_threads())) {
  if (max_batch < 1) throw std::invalid_argument("GptModel: max_batch must be >= 1");
  if (max_seq < 1 || max_seq > config.context)
    throw std::invalid_argument("GptModel: max_seq must be in [1, context = " +
                                std::to_string(config.context) + "], got " + std::to_string(max_seq));
  const ArenaPlan plan = plan_arena(config, max_batch, max_seq, scratch_threads_);
  params_ = AlignedBuffer<T>(layout_.total_count());
  grads_ = AlignedBuffer<T>(layout_.total_count());
  arena_ = AlignedBuffer<T>(plan.total);
  token_buf_ = AlignedBuffer<int32_t>(2 * max_batch * max_seq);

  T* a = arena_.data();
  encoded_ = a + plan.encoded;
  for (const ArenaPlan::Block& b : plan.blocks)
    blocks_.push_back({a + b.ln1, a + b.ln1_mean, a + b.ln1_rstd, a + b.qkv, a + b.atty,
                       a + b.att_lse, a + b.res2, a + b.ln2, a + b.ln2_mean, a + b.ln2_rstd,
                       a + b.fch, a + b.fch_gelu, a + b.res3});
  lnf_ = a + plan.lnf;
  lnf_mean_ = a + plan.lnf_mean;
  lnf_rstd_ = a + plan.lnf_rstd;
  logits_ = a + plan.logits;
  losses_ = a + plan.losses;
  ce_lse_ = a + plan.ce_lse;
  dres_ = a + plan.dres;
  dwide_a_ = a + plan.dwide_a;
  dwide_b_ = a + plan.dwide_b;
  dnarrow_ = a + plan.dnarrow;
  attn_scratch_ = a + plan.attn_scratch;
}

template <class T>
void GptModel<T>::init_parameters(uint64_t seed) {
  const double std_base = 0.02;
  const double std_residual = 0.02 / std::sqrt(2.0 * static_cast<double>(config().layers));
  fill_zero(params_.data(), params_.size());  // padding included
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
#pragma omp parallel for schedule(static) if (t.count >= (int64_t{1} << 14))
    for (int64_t i = 0; i < t.count; ++i)
      p[i] = static_cast<T>(sd * counter_normal(key, static_cast<uint64_t>(i)));
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
double GptModel<T>::forward(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t S) {
  check_shape(B, S);
  // Until this forward completes there is nothing consistent to differentiate.
  backward_pending_ = false;
  hidden_grad_pending_ = false;
  B_ = B;
  T_ = S;
  const GptConfig& c = config();
  const int64_t N = B * S, C = c.width, F = c.ffn_width(), V = c.vocab_size;
  const T* p = params_.data();
  const kc::AttentionShape ash = attention_shape(c, B, S);
  const int threads = attention_threads();

  // Copies: the backward needs tokens and targets after the caller's buffers are gone.
  int32_t* tok = token_buf_.data();
  int32_t* tgt = tok + max_batch_ * max_seq_;
  std::copy_n(tokens, N, tok);
  has_targets_ = targets != nullptr;
  if (has_targets_) std::copy_n(targets, N, tgt);

  kc::encoder_forward(encoded_, tok, p + layout_.wte(), p + layout_.wpe(), B, S, C, V);
  const T* x = encoded_;
  T* proj = dres_;  // projection outputs live only until their residual add
  for (int64_t l = 0; l < c.layers; ++l) {
    const BlockOffsets& w = layout_.block(l);
    const BlockActs& a = blocks_[static_cast<size_t>(l)];
    kc::layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, x, p + w.ln_1_weight, p + w.ln_1_bias, N, C);
    kc::matmul_forward(a.qkv, a.ln1, p + w.c_attn_weight, p + w.c_attn_bias, N, C, 3 * C);
    T* probs = capture_ ? probs_.data() + l * B * c.heads * S * S : nullptr;
    kc::attention_forward(a.atty, a.att_lse, probs, a.qkv, ash, attn_scratch_, threads);
    kc::matmul_forward(proj, a.atty, p + w.attn_proj_weight, p + w.attn_proj_bias, N, C, C);
    kc::residual_forward(a.res2, x, proj, N * C);
    kc::layernorm_forward(a.ln2, a.ln2_mean, a.ln2_rstd, a.res2, p + w.ln_2_weight, p + w.ln_2_bias, N, C);
    kc::matmul_forward(a.fch, a.ln2, p + w.c_fc_weight, p + w.c_fc_bias, N, C, F);
    kc::gelu_forward(a.fch_gelu, a.fch, N * F);
    kc::matmul_forward(proj, a.fch_gelu, p + w.mlp_proj_weight, p + w.mlp_proj_bias, N, F, C);
    kc::residual_forward(a.res3, a.res2, proj, N * C);
    x = a.res3;
  }
  kc::layernorm_forward(lnf_, lnf_mean_, lnf_rstd_, x, p + layout_.ln_f_weight(), p + layout_.ln_f_bias(), N, C);
  kc::matmul_forward(logits_, lnf_, p + layout_.wte(), static_cast<const T*>(nullptr), N, C, V);  // tied head

  double loss = std::numeric_limits<double>::quiet_NaN();
  valid_targets_ = 0;
  if (has_targets_) {
    loss = kc::crossentropy_forward(losses_, ce_lse_, logits_, tgt, N, V);
    valid_targets_ = kc::crossentropy_count_valid(tgt, N);
  }
  backward_pending_ = true;
  return loss;
}

template <class T>
void GptModel<T>::add_hidden_grad(const T* g) {
  if (!backward_pending_)
    throw std::logic_error("GptModel::add_hidden_grad: needs a forward since the last backward");
  const int64_t n = B_ * T_ * config().width;
  if (hidden_grad_pending_)
    kc::residual_forward(dnarrow_, dnarrow_, g, n);
  else
    std::copy_n(g, n, dnarrow_);
  hidden_grad_pending_ = true;
}

template <class T>
void GptModel<T>::backward(double loss_scale) {
  if (!backward_pending_)
    throw std::logic_error("GptModel::backward: needs a forward since the last backward");
  if (!has_targets_ && !hidden_grad_pending_)
    throw std::logic_error("GptModel::backward: the forward had no targets and no hidden gradient was added");
  backward_pending_ = false;  // dlogits overwrite the logits below
  const GptConfig& c = config();
  const int64_t N = B_ * T_, C = c.width, V = c.vocab_size;
  const T* p = params_.data();
  T* g = grads_.data();
  const int32_t* tok = token_buf_.data();
  const int32_t* tgt = tok + max_batch_ * max_seq_;

  // dL/d(ln_f output), seeded with the pending hidden gradient if there is one.
  T* dlnf = dnarrow_;
  if (!hidden_grad_pending_) fill_zero(dlnf, N * C);
  hidden_grad_pending_ = false;
  if (has_targets_ && valid_targets_ > 0) {
    const T dloss = static_cast<T>(loss_scale / static_cast<double>(valid_targets_));
    kc::crossentropy_backward(logits_, logits_, ce_lse_, tgt, dloss, N, V);  // in place
    kc::matmul_backward(dlnf, g + layout_.wte(), static_cast<T*>(nullptr), logits_, lnf_, p + layout_.wte(), N,
                        C, V);
  }
  fill_zero(dres_, N * C);
  const T* x_last = blocks_.back().res3;
  kc::layernorm_backward(dres_, g + layout_.ln_f_weight(), g + layout_.ln_f_bias(), dlnf, x_last,
                         p + layout_.ln_f_weight(), lnf_mean_, lnf_rstd_, N, C);
  for (int64_t l = c.layers - 1; l >= 0; --l) backward_block(l);
  kc::encoder_backward(g + layout_.wte(), g + layout_.wpe(), dres_, tok, B_, T_, C, V);
}

// On entry dres_ is dL/d(block output); on exit dL/d(block input). Both residual adds
// pass the gradient through unchanged, so dres_ also serves as the gradient of each
// projection's output and the LayerNorm backwards accumulate straight into it.
template <class T>
void GptModel<T>::backward_block(int64_t l) {
  const GptConfig& c = config();
  const int64_t N = B_ * T_, C = c.width, F = c.ffn_width();
  const BlockOffsets& w = layout_.block(l);
  const BlockActs& a = blocks_[static_cast<size_t>(l)];
  const T* x = l > 0 ? blocks_[static_cast<size_t>(l - 1)].res3 : encoded_;
  const T* p = params_.data();
  T* g = grads_.data();

  // MLP: res3 = res2 + c_proj(gelu(c_fc(ln_2(res2)))).
  T* dgelu = dwide_a_;
  fill_zero(dgelu, N * F);
  kc::matmul_backward(dgelu, g + w.mlp_proj_weight, g + w.mlp_proj_bias, dres_, a.fch_gelu,
                      p + w.mlp_proj_weight, N, F, C);
  T* dfch = dwide_b_;
  fill_zero(dfch, N * F);
  kc::gelu_backward(dfch, a.fch, dgelu, N * F);
  T* dln2 = dnarrow_;
  fill_zero(dln2, N * C);
  kc::matmul_backward(dln2, g + w.c_fc_weight, g + w.c_fc_bias, dfch, a.ln2, p + w.c_fc_weight, N, C, F);
  kc::layernorm_backward(dres_, g + w.ln_2_weight, g + w.ln_2_bias, dln2, a.res2, p + w.ln_2_weight, a.ln2_mean,
                         a.ln2_rstd, N, C);

  // Attention: res2 = x + c_proj(attention(c_attn(ln_1(x)))).
  T* datty = dnarrow_;
  fill_zero(datty, N * C);
  kc::matmul_backward(datty, g + w.attn_proj_weight, g + w.attn_proj_bias, dres_, a.atty,
                      p + w.attn_proj_weight, N, C, C);
  T* dqkv = dwide_a_;
  fill_zero(dqkv, N * 3 * C);
  T* dprobs = capture_ ? dprobs_.data() + l * B_ * c.heads * T_ * T_ : nullptr;
  kc::attention_backward(dqkv, dprobs, datty, a.qkv, a.att_lse, attention_shape(c, B_, T_), attn_scratch_,
                         attention_threads());
  T* dln1 = dwide_b_;
  fill_zero(dln1, N * C);
  kc::matmul_backward(dln1, g + w.c_attn_weight, g + w.c_attn_bias, dqkv, a.ln1, p + w.c_attn_weight, N, C,
                      3 * C);
  kc::layernorm_backward(dres_, g + w.ln_1_weight, g + w.ln_1_bias, dln1, x, p + w.ln_1_weight, a.ln1_mean,
                         a.ln1_rstd, N, C);
}

template <class T>
void GptModel<T>::zero_grads() {
  fill_zero(grads_.data(), grads_.size());
}

template <class T>
void GptModel<T>::set_attention_capture(bool on) {
  if (on == capture_) return;
  if (on) {
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
  const GptConfig& c = config();
  const ArenaPlan plan = plan_arena(c, B, S, scratch_threads_);
  const uint64_t N = static_cast<uint64_t>(B * S), C = static_cast<uint64_t>(c.width),
                 V = static_cast<uint64_t>(c.vocab_size);
  const auto bytes = [](int64_t elems) { return static_cast<uint64_t>(elems) * sizeof(T); };
  const auto param_bytes = [&](const FlatRange& r) { return bytes(r.end - r.begin); };
  const uint64_t token_bytes = N * sizeof(int32_t);

  std::vector<LayerProfile> out;
  const std::vector<FlatRange>& seg = layout_.segments();
  out.push_back({"embedding", bytes(plan.embedding_end) + token_bytes, param_bytes(seg.front()), 0});
  // Per block: 2·N·(3C² + C² + 4C² + 4C²) for the four matmuls, and 2·2·HS per causal
  // (query, key) pair and head for QK^T and PV: B·H·T(T+1)/2 pairs.
  const uint64_t block_flops =
      24 * N * C * C + 2 * static_cast<uint64_t>(B) * C * static_cast<uint64_t>(S) * static_cast<uint64_t>(S + 1);
  int64_t begin = plan.embedding_end;
  for (int64_t l = 0; l < c.layers; ++l) {
    const int64_t end = plan.block_end[static_cast<size_t>(l)];
    out.push_back({"block." + std::to_string(l), bytes(end - begin), param_bytes(layout_.block_range(l)), block_flops});
    begin = end;
  }
  out.push_back({"head", bytes(plan.head_end - begin) + token_bytes, param_bytes(seg.back()), 2 * N * C * V});
  out.push_back({"workspace", bytes(plan.total - plan.head_end), 0, 0});
  return out;
}

template class GptModel<float>;
template class GptModel<double>;

}  // namespace strata::engine
