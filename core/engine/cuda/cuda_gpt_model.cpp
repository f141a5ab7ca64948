#include "core/engine/cuda/cuda_gpt_model.hpp"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "core/engine/gpt/gpt_model.hpp"
#include "kernels/cuda/adamw.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/flash_attention.h"
#include "kernels/cuda/blas.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/convert.h"
#include "kernels/cuda/crossentropy.h"
#include "kernels/cuda/encoder.h"
#include "kernels/cuda/layernorm.h"
#include "kernels/cuda/matmul.h"
#include "kernels/cuda/residual.h"

namespace strata::engine::cuda {
namespace kc = kernels::cuda;
using kc::bf16;

namespace {

// LM-head rows are padded to a multiple of 64 columns (50257 -> 50304, as llm.c), so each
// logits row starts 128-byte aligned for the GEMM and the cross-entropy kernels.
int64_t padded_vocab(int64_t V) { return (V + 63) / 64 * 64; }

// Arena slots start on 256-byte boundaries.
constexpr int64_t kSlotAlignBytes = 256;

template <class T>
class Arena {
 public:
  int64_t take(int64_t n) {
    const int64_t at = next_;
    const int64_t align = kSlotAlignBytes / static_cast<int64_t>(sizeof(T));
    next_ = (next_ + n + align - 1) / align * align;
    return at;
  }
  int64_t size() const { return next_; }

 private:
  int64_t next_ = 0;
};

}  // namespace

// Device state. Offsets are planned first (Arena), then each arena is one allocation.
struct CudaGptModel::Impl {
  struct Block {  // offsets; bf16 arena unless noted
    int64_t ln1, qkv, atty, res2, ln2, fch, fch_gelu, res3;
    int64_t probs;  // materialized attention only: [B,NH,S,S]
    int64_t ln1_mean, ln1_rstd, ln2_mean, ln2_rstd;  // fp32 arena
    int64_t lse;  // fp32 arena, flash attention only: [B,NH,S] (base 2)
  };

  Impl(CudaGptModel& m, DeviceAllocator& alloc, kc::Stream stream)
      : model(m),
        cfg(m.config()),
        Vp(padded_vocab(cfg.vocab_size)),
        maxN(m.max_batch() * m.max_seq()),
        workspace(alloc, kc::Blas::kRecommendedWorkspaceBytes, "cuBLAS workspace"),
        blas(stream, workspace.data(), workspace.bytes()) {
    const int64_t total = m.layout().total_count();
    const int64_t N = maxN, C = cfg.width, F = cfg.ffn_width(), L = cfg.layers, NH = cfg.heads;
    const int64_t S = m.max_seq(), B = m.max_batch();
    const bool flash = m.attention() == CudaAttention::flash;
    const kc::AttentionShape ash{B, S, C, NH};
    params = DeviceBuffer<float>(alloc, total, "master parameters");
    working = DeviceBuffer<bf16>(alloc, total, "bf16 working parameters");
    wte_head = DeviceBuffer<bf16>(alloc, Vp * cfg.width, "LM head weight padded to Vp rows");
    grads = DeviceBuffer<float>(alloc, total, "parameter gradients");
    adam_m = DeviceBuffer<float>(alloc, total, "AdamW m");
    adam_v = DeviceBuffer<float>(alloc, total, "AdamW v");

    Arena<bf16> a;
    Arena<float> f;
    encoded = a.take(N * C);
    for (int64_t l = 0; l < L; ++l) {
      Block b{};
      b.ln1 = a.take(N * C);
      b.qkv = a.take(N * 3 * C);
      b.atty = a.take(N * C);
      b.res2 = a.take(N * C);
      b.ln2 = a.take(N * C);
      b.fch = a.take(N * F);
      b.fch_gelu = a.take(N * F);
      b.res3 = a.take(N * C);
      if (flash)
        b.lse = f.take(B * NH * S);
      else
        b.probs = a.take(B * NH * S * S);
      b.ln1_mean = f.take(N);
      b.ln1_rstd = f.take(N);
      b.ln2_mean = f.take(N);
      b.ln2_rstd = f.take(N);
      blocks.push_back(b);
    }
    lnf = a.take(N * C);
    logits = a.take(N * Vp);
    proj = a.take(N * C);
    dres = a.take(N * C);
    dnarrow = a.take(N * C);
    dwide_a = a.take(N * F);
    dwide_b = a.take(N * F);
    lnf_mean = f.take(N);
    lnf_rstd = f.take(N);
    losses = f.take(N);
    ce_lse = f.take(N);
    colsum_scratch = f.take(std::max(kc::matmul_backward_scratch_floats(N, F),
                                     kc::layernorm_backward_scratch_floats(N, C)));
    acts = DeviceBuffer<bf16>(alloc, a.size(), "activations");
    stats = DeviceBuffer<float>(alloc, f.size(), "activation statistics and scratch");
    attn_scratch = DeviceBuffer<char>(
        alloc, flash ? kc::flash_attention_scratch_bytes(ash) : kc::attention_scratch_bytes(ash), "attention scratch");
    // Step scalars: kGradNormBlocks partials, then norm², norm (doubles), then the coef.
    step_scratch = DeviceBuffer<double>(alloc, kc::kGradNormBlocks + 4, "gradient-norm scratch");
    loss = DeviceBuffer<double>(alloc, 1, "mean loss");
    // tokens [N], targets [N], token buckets [<= 3N + 1]
    ints = DeviceBuffer<int32_t>(alloc, 5 * N + 1, "tokens, targets and token buckets");
    void* host = nullptr;
    STRATA_CUDA_CHECK(cudaMallocHost(&host, ints.bytes()));
    staging = static_cast<int32_t*>(host);
    STRATA_CUDA_CHECK(cudaEventCreateWithFlags(&staging_free, cudaEventDisableTiming));
    grad_ready.resize(static_cast<size_t>(L), nullptr);
    for (auto& e : grad_ready) STRATA_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));

    // Everything starts at zero: parameters, padding, moments, gradients, and the logits'
    // padding columns (never written by the GEMM, never read by the kernels).
    for (auto* buf : {static_cast<void*>(params.data()), static_cast<void*>(grads.data()),
                      static_cast<void*>(adam_m.data()), static_cast<void*>(adam_v.data())})
      STRATA_CUDA_CHECK(cudaMemsetAsync(buf, 0, total * sizeof(float), stream));
    STRATA_CUDA_CHECK(cudaMemsetAsync(working.data(), 0, working.bytes(), stream));
    STRATA_CUDA_CHECK(cudaMemsetAsync(wte_head.data(), 0, wte_head.bytes(), stream));
    STRATA_CUDA_CHECK(cudaMemsetAsync(acts.data(), 0, acts.bytes(), stream));
    STRATA_CUDA_CHECK(cudaStreamSynchronize(stream));
  }

  ~Impl() {
    for (auto e : grad_ready)
      if (e != nullptr) cudaEventDestroy(e);
    if (staging_free != nullptr) cudaEventDestroy(staging_free);
    if (staging != nullptr) cudaFreeHost(staging);
  }

  void mark(const char* phase, const char* category) const { blas.mark(phase, category); }

  bf16* act(int64_t off) const { return acts.data() + off; }
  float* stat(int64_t off) const { return stats.data() + off; }
  const bf16* w(int64_t off) const { return working.data() + off; }
  float* g(int64_t off) const { return grads.data() + off; }

  CudaGptModel& model;
  GptConfig cfg;
  int64_t Vp, maxN;
  DeviceBuffer<char> workspace;
  kc::Blas blas;
  DeviceBuffer<float> params, grads, adam_m, adam_v;
  DeviceBuffer<bf16> working, acts;
  // The tied head's weight padded to Vp rows (the rows past V stay zero): cuBLAS runs the
  // [N,C]·[C,V] product far slower with V = 50257 than with a multiple of 64 (measured on
  // the H100: 13.2 ms for the forward product). Refreshed from wte before each forward.
  DeviceBuffer<bf16> wte_head;
  DeviceBuffer<float> stats;
  DeviceBuffer<char> attn_scratch;
  DeviceBuffer<double> step_scratch, loss;
  DeviceBuffer<int32_t> ints;
  int32_t* staging = nullptr;  // pinned host copy of `ints`
  cudaEvent_t staging_free = nullptr;
  std::vector<cudaEvent_t> grad_ready;

  int64_t encoded = 0;
  std::vector<Block> blocks;
  int64_t lnf = 0, logits = 0, proj = 0, dres = 0, dnarrow = 0, dwide_a = 0, dwide_b = 0;
  int64_t lnf_mean = 0, lnf_rstd = 0, losses = 0, ce_lse = 0, colsum_scratch = 0;
  // Of the last forward: device tokens / targets and the token buckets.
  const int32_t* d_tokens = nullptr;
  const int32_t* d_targets = nullptr;
  kc::DeviceTokenBuckets buckets;
};

CudaGptModel::CudaGptModel(const GptConfig& config, int64_t max_batch, int64_t max_seq,
                           const CudaAdamWSettings& adamw, CudaAttention attention)
    : layout_(config), max_batch_(max_batch), max_seq_(max_seq), adamw_(adamw), attention_(attention) {
  if (max_batch < 1) throw std::invalid_argument("CudaGptModel: max_batch must be >= 1");
  if (max_seq < 1 || max_seq > config.context)
    throw std::invalid_argument("CudaGptModel: max_seq must be in [1, context = " + std::to_string(config.context) +
                                "], got " + std::to_string(max_seq));
  if (attention_ == CudaAttention::flash &&
      !kc::flash_attention_supported({max_batch, max_seq, config.width, config.heads}))
    attention_ = CudaAttention::materialized;
  cudaStream_t s = nullptr;
  STRATA_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  compute_ = s;
  try {
    STRATA_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    comm_ = s;
    impl_ = std::make_unique<Impl>(*this, alloc_, compute_);
  } catch (...) {
    if (comm_ != nullptr) cudaStreamDestroy(comm_);
    cudaStreamDestroy(compute_);
    throw;
  }
}

CudaGptModel::~CudaGptModel() {
  if (compute_ != nullptr) cudaStreamSynchronize(compute_);
  impl_.reset();  // the cuBLAS handle and buffers go before their stream
  if (comm_ != nullptr) cudaStreamDestroy(comm_);
  if (compute_ != nullptr) cudaStreamDestroy(compute_);
}

void CudaGptModel::init_parameters(uint64_t seed) {
  GptModel<float> cpu(config(), 1, 1);
  cpu.init_parameters(seed);
  set_parameters(cpu.params());
}

void CudaGptModel::set_parameters(const float* host) {
  const int64_t total = layout_.total_count();
  STRATA_CUDA_CHECK(cudaStreamSynchronize(compute_));
  STRATA_CUDA_CHECK(cudaMemcpy(impl_->params.data(), host, total * sizeof(float), cudaMemcpyHostToDevice));
  kc::convert_to_bf16(compute_, impl_->working.data(), impl_->params.data(), total);
  STRATA_CUDA_CHECK(cudaStreamSynchronize(compute_));
}

void CudaGptModel::check_shape(int64_t B, int64_t S) const {
  if (B < 1 || B > max_batch_)
    throw std::invalid_argument("CudaGptModel: batch " + std::to_string(B) + " outside [1, max_batch = " +
                                std::to_string(max_batch_) + "]");
  if (S < 1 || S > max_seq_)
    throw std::invalid_argument("CudaGptModel: sequence length " + std::to_string(S) + " outside [1, max_seq = " +
                                std::to_string(max_seq_) + "]");
}

void CudaGptModel::forward_async(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t S) {
  check_shape(B, S);
  backward_pending_ = false;
  Impl& m = *impl_;
  // Host time (validation, staging) shows up here when the GPU has nothing queued.
  m.mark("fwd input: host checks, upload", "input (host work, upload)");
  const GptConfig& c = config();
  const int64_t N = B * S, C = c.width, F = c.ffn_width(), V = c.vocab_size, Vp = m.Vp;
  // Kernels cannot throw: validate ids here, before anything is queued.
  valid_targets_ = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (tokens[i] < 0 || tokens[i] >= V)
      throw std::invalid_argument("CudaGptModel: token " + std::to_string(tokens[i]) + " at " + std::to_string(i) +
                                  " outside [0, " + std::to_string(V) + ")");
    if (targets != nullptr) {
      if (targets[i] < -1 || targets[i] >= V)
        throw std::invalid_argument("CudaGptModel: target " + std::to_string(targets[i]) + " at " +
                                    std::to_string(i) + " outside [-1, " + std::to_string(V) + ")");
      valid_targets_ += targets[i] != kc::kIgnoreTarget;
    }
  }
  has_targets_ = targets != nullptr;
  B_ = B;
  S_ = S;

  // Stage tokens and targets in pinned memory and send them in one copy. The previous
  // forward's copies must have left the staging buffer first. The token buckets, which
  // only the backward reads, are built on the host after the forward is queued, while the
  // GPU runs it, and follow in a second copy (stream order puts it before the backward).
  STRATA_CUDA_CHECK(cudaEventSynchronize(m.staging_free));
  int32_t* h = m.staging;
  std::memcpy(h, tokens, N * sizeof(int32_t));
  if (has_targets_) std::memcpy(h + N, targets, N * sizeof(int32_t));
  STRATA_CUDA_CHECK(cudaMemcpyAsync(m.ints.data(), h, 2 * N * sizeof(int32_t), cudaMemcpyHostToDevice, compute_));
  m.d_tokens = m.ints.data();
  m.d_targets = m.ints.data() + N;

  const ParameterLayout& lay = layout_;
  const kc::AttentionShape ash{B, S, C, c.heads, attention_blocks(S)};
  m.mark("fwd encoder", "embedding");
  kc::encoder_forward(compute_, m.act(m.encoded), m.d_tokens, m.w(lay.wte()), m.w(lay.wpe()), B, S, C);
  const bf16* x = m.act(m.encoded);
  bf16* proj = m.act(m.proj);
  for (int64_t l = 0; l < c.layers; ++l) {
    const BlockOffsets& w = lay.block(l);
    const Impl::Block& a = m.blocks[static_cast<size_t>(l)];
    m.mark("fwd ln_1", "layernorm");
    kc::layernorm_forward(compute_, m.act(a.ln1), m.stat(a.ln1_mean), m.stat(a.ln1_rstd), x, m.w(w.ln_1_weight),
                          m.w(w.ln_1_bias), N, C);
    m.mark("fwd attn.c_attn (qkv)", "gemm (linear layers)");
    kc::matmul_forward(m.blas, m.act(a.qkv), m.act(a.ln1), m.w(w.c_attn_weight), m.w(w.c_attn_bias), N, C, 3 * C);
    m.mark("fwd attention", "attention (other)");
    if (attention_ == CudaAttention::flash)
      kc::flash_attention_forward(m.blas, m.act(a.atty), m.stat(a.lse), m.act(a.qkv), ash);
    else
      kc::attention_forward(m.blas, m.act(a.atty), m.act(a.probs), m.act(a.qkv), ash, m.attn_scratch.data());
    m.mark("fwd attn.c_proj", "gemm (linear layers)");
    kc::matmul_forward(m.blas, proj, m.act(a.atty), m.w(w.attn_proj_weight), m.w(w.attn_proj_bias), N, C, C);
    m.mark("fwd residual", "residual");
    kc::residual_forward(compute_, m.act(a.res2), x, proj, N * C);
    m.mark("fwd ln_2", "layernorm");
    kc::layernorm_forward(compute_, m.act(a.ln2), m.stat(a.ln2_mean), m.stat(a.ln2_rstd), m.act(a.res2),
                          m.w(w.ln_2_weight), m.w(w.ln_2_bias), N, C);
    m.mark("fwd mlp.c_fc + gelu", "gemm (linear layers)");
    kc::matmul_forward_gelu(m.blas, m.act(a.fch_gelu), m.act(a.fch), m.act(a.ln2), m.w(w.c_fc_weight),
                            m.w(w.c_fc_bias), N, C, F);
    m.mark("fwd mlp.c_proj", "gemm (linear layers)");
    kc::matmul_forward(m.blas, proj, m.act(a.fch_gelu), m.w(w.mlp_proj_weight), m.w(w.mlp_proj_bias), N, F, C);
    m.mark("fwd residual", "residual");
    kc::residual_forward(compute_, m.act(a.res3), m.act(a.res2), proj, N * C);
    x = m.act(a.res3);
  }
  m.mark("fwd ln_f", "layernorm");
  kc::layernorm_forward(compute_, m.act(m.lnf), m.stat(m.lnf_mean), m.stat(m.lnf_rstd), x, m.w(lay.ln_f_weight()),
                        m.w(lay.ln_f_bias()), N, C);
  // Tied head: logits[N,Vp] = lnf · wte_head^T; columns past V come out 0 (zero rows) and
  // the cross-entropy reads only the first V.
  m.mark("fwd lm head", "gemm (lm head)");
  STRATA_CUDA_CHECK(cudaMemcpyAsync(m.wte_head.data(), m.w(lay.wte()), V * C * sizeof(bf16), cudaMemcpyDeviceToDevice,
                                    compute_));
  kc::matmul_forward(m.blas, m.act(m.logits), m.act(m.lnf), m.wte_head.data(), nullptr, N, C, Vp, Vp);
  if (has_targets_) {
    m.mark("fwd cross-entropy", "cross-entropy");
    kc::crossentropy_forward(compute_, m.stat(m.losses), m.stat(m.ce_lse), m.act(m.logits), m.d_targets, N, V, Vp);
    const double inv = valid_targets_ > 0 ? 1.0 / static_cast<double>(valid_targets_)
                                          : std::numeric_limits<double>::quiet_NaN();
    kc::crossentropy_mean(compute_, m.loss.data(), m.stat(m.losses), N, inv);
  }
  const kc::TokenBuckets buckets = kc::bucket_tokens(tokens, N);
  m.mark("fwd input: token buckets upload", "input (host work, upload)");
  std::memcpy(h + 2 * N, buckets.flat.data(), buckets.flat.size() * sizeof(int32_t));
  STRATA_CUDA_CHECK(cudaMemcpyAsync(m.ints.data() + 2 * N, h + 2 * N, buckets.flat.size() * sizeof(int32_t),
                                    cudaMemcpyHostToDevice, compute_));
  STRATA_CUDA_CHECK(cudaEventRecord(m.staging_free, compute_));
  m.buckets = kc::device_buckets(buckets, m.ints.data() + 2 * N);
  backward_pending_ = true;
}

double CudaGptModel::loss() {
  if (!has_targets_) return std::numeric_limits<double>::quiet_NaN();
  double l = 0.0;
  STRATA_CUDA_CHECK(cudaMemcpyAsync(&l, impl_->loss.data(), sizeof l, cudaMemcpyDeviceToHost, compute_));
  STRATA_CUDA_CHECK(cudaStreamSynchronize(compute_));
  return l;
}

void CudaGptModel::backward(double loss_scale) {
  if (!backward_pending_) throw std::logic_error("CudaGptModel::backward: needs a forward since the last backward");
  if (!has_targets_) throw std::logic_error("CudaGptModel::backward: the forward had no targets");
  backward_pending_ = false;  // dlogits overwrite the logits
  Impl& m = *impl_;
  const GptConfig& c = config();
  const int64_t N = B_ * S_, C = c.width, V = c.vocab_size, Vp = m.Vp;
  const ParameterLayout& lay = layout_;
  float* scratch = m.stat(m.colsum_scratch);

  bf16* dlnf = m.act(m.dnarrow);
  if (valid_targets_ > 0) {
    const float dloss = static_cast<float>(loss_scale / static_cast<double>(valid_targets_));
    m.mark("bwd cross-entropy", "cross-entropy");
    kc::crossentropy_backward(compute_, m.act(m.logits), m.act(m.logits), m.stat(m.ce_lse), m.d_targets, dloss, N, V,
                              Vp);
    m.mark("bwd lm head", "gemm (lm head)");
    // dlnf over all Vp columns (the padded ones hold 0), the weight gradient over the V real rows.
    kc::matmul_backward(m.blas, dlnf, nullptr, nullptr, m.act(m.logits), m.act(m.lnf), m.wte_head.data(), N, C, Vp,
                        /*accumulate_dinp=*/false, scratch, Vp);
    kc::matmul_backward(m.blas, nullptr, m.g(lay.wte()), nullptr, m.act(m.logits), m.act(m.lnf), m.w(lay.wte()), N, C,
                        V, /*accumulate_dinp=*/false, scratch, Vp);
  } else {  // every target ignored: the loss term contributes nothing (as the CPU model)
    STRATA_CUDA_CHECK(cudaMemsetAsync(dlnf, 0, N * C * sizeof(bf16), compute_));
  }
  m.mark("bwd zero dres", "memset");
  STRATA_CUDA_CHECK(cudaMemsetAsync(m.act(m.dres), 0, N * C * sizeof(bf16), compute_));
  m.mark("bwd ln_f", "layernorm");
  const bf16* x_last = m.act(m.blocks.back().res3);
  kc::layernorm_backward(compute_, m.act(m.dres), m.g(lay.ln_f_weight()), m.g(lay.ln_f_bias()), dlnf, x_last,
                         m.w(lay.ln_f_weight()), m.stat(m.lnf_mean), m.stat(m.lnf_rstd), N, C, scratch);
  for (int64_t l = c.layers - 1; l >= 0; --l) {
    backward_block(l);
    cudaEvent_t e = m.grad_ready[static_cast<size_t>(l)];
    STRATA_CUDA_CHECK(cudaEventRecord(e, compute_));
    if (grad_ready_hook_) grad_ready_hook_(l, e);
  }
  m.mark("bwd encoder", "embedding");
  kc::encoder_backward(compute_, m.g(lay.wte()), m.g(lay.wpe()), m.act(m.dres), m.buckets, B_, S_, C);
}

// On entry dres is dL/d(block output); on exit dL/d(block input) (both residual adds pass
// the gradient through, so the LayerNorm backwards accumulate straight into dres).
void CudaGptModel::backward_block(int64_t l) {
  Impl& m = *impl_;
  const GptConfig& c = config();
  const int64_t N = B_ * S_, C = c.width, F = c.ffn_width();
  const BlockOffsets& w = layout_.block(l);
  const Impl::Block& a = m.blocks[static_cast<size_t>(l)];
  const bf16* x = l > 0 ? m.act(m.blocks[static_cast<size_t>(l - 1)].res3) : m.act(m.encoded);
  float* scratch = m.stat(m.colsum_scratch);
  bf16* dres = m.act(m.dres);

  // MLP: res3 = res2 + c_proj(gelu(c_fc(ln_2(res2)))). The c_proj backward carries the
  // gradient through the GELU too (dfch = gelu'(fch) * (dres · W)).
  bf16* dfch = m.act(m.dwide_a);
  m.mark("bwd mlp.c_proj + gelu", "gemm (linear layers)");
  kc::matmul_backward(m.blas, dfch, m.g(w.mlp_proj_weight), m.g(w.mlp_proj_bias), dres, m.act(a.fch_gelu),
                      m.w(w.mlp_proj_weight), N, F, C, false, scratch, 0, m.act(a.fch));
  bf16* dln2 = m.act(m.dnarrow);
  m.mark("bwd mlp.c_fc", "gemm (linear layers)");
  kc::matmul_backward(m.blas, dln2, m.g(w.c_fc_weight), m.g(w.c_fc_bias), dfch, m.act(a.ln2), m.w(w.c_fc_weight), N,
                      C, F, false, scratch);
  m.mark("bwd ln_2", "layernorm");
  kc::layernorm_backward(compute_, dres, m.g(w.ln_2_weight), m.g(w.ln_2_bias), dln2, m.act(a.res2),
                         m.w(w.ln_2_weight), m.stat(a.ln2_mean), m.stat(a.ln2_rstd), N, C, scratch);

  // Attention: res2 = x + c_proj(attention(c_attn(ln_1(x)))).
  bf16* datty = m.act(m.dnarrow);
  m.mark("bwd attn.c_proj", "gemm (linear layers)");
  kc::matmul_backward(m.blas, datty, m.g(w.attn_proj_weight), m.g(w.attn_proj_bias), dres, m.act(a.atty),
                      m.w(w.attn_proj_weight), N, C, C, false, scratch);
  bf16* dqkv = m.act(m.dwide_a);
  m.mark("bwd attention", "attention (other)");
  const kc::AttentionShape ash{B_, S_, C, c.heads, attention_blocks(S_)};
  if (attention_ == CudaAttention::flash)
    kc::flash_attention_backward(m.blas, dqkv, datty, m.act(a.qkv), m.act(a.atty), m.stat(a.lse), ash,
                                 m.attn_scratch.data());
  else
    kc::attention_backward(m.blas, dqkv, datty, m.act(a.qkv), m.act(a.probs), ash, m.attn_scratch.data());
  bf16* dln1 = m.act(m.dwide_b);
  m.mark("bwd attn.c_attn (qkv)", "gemm (linear layers)");
  kc::matmul_backward(m.blas, dln1, m.g(w.c_attn_weight), m.g(w.c_attn_bias), dqkv, m.act(a.ln1),
                      m.w(w.c_attn_weight), N, C, 3 * C, false, scratch);
  m.mark("bwd ln_1", "layernorm");
  kc::layernorm_backward(compute_, dres, m.g(w.ln_1_weight), m.g(w.ln_1_bias), dln1, x, m.w(w.ln_1_weight),
                         m.stat(a.ln1_mean), m.stat(a.ln1_rstd), N, C, scratch);
}

void CudaGptModel::zero_grads() {
  impl_->mark("zero grads", "memset");
  STRATA_CUDA_CHECK(
      cudaMemsetAsync(impl_->grads.data(), 0, layout_.total_count() * sizeof(float), compute_));
}

void CudaGptModel::step(double lr, double max_grad_norm) {
  Impl& m = *impl_;
  ++step_;
  const kc::AdamWScalars s =
      kc::make_adamw_scalars(lr, adamw_.beta1, adamw_.beta2, adamw_.eps, adamw_.weight_decay, step_);
  double* partials = m.step_scratch.data();
  double* norm2 = partials + kc::kGradNormBlocks;
  double* norm = norm2 + 1;
  float* coef = reinterpret_cast<float*>(norm2 + 2);
  const int64_t total = layout_.total_count();
  m.mark("opt grad norm, clip coefficient", "optimizer");
  kc::grad_norm_squared(compute_, norm2, m.grads.data(), total, partials);
  // No clipping: an infinite max_norm gives coef = 1 and still reports the norm.
  kc::clip_coefficient(compute_, coef, norm, norm2,
                       max_grad_norm > 0 ? max_grad_norm : std::numeric_limits<double>::infinity());
  auto update = [&](int64_t lo, int64_t hi, bool decayed) {
    kc::adamw_update(compute_, m.params.data() + lo, m.working.data() + lo, m.grads.data() + lo, m.adam_m.data() + lo,
                     m.adam_v.data() + lo, hi - lo, s, decayed, coef);
  };
  m.mark("opt adamw", "optimizer");
  int64_t pos = 0;
  for (const kernels::cpu::DecayRange& r : layout_.weight_decay_ranges()) {
    update(pos, r.begin, false);
    update(r.begin, r.end, true);
    pos = r.end;
  }
  update(pos, total, false);
}

double CudaGptModel::last_grad_norm() {
  double n = std::numeric_limits<double>::quiet_NaN();
  if (step_ == 0) return n;
  STRATA_CUDA_CHECK(cudaMemcpyAsync(&n, impl_->step_scratch.data() + kc::kGradNormBlocks + 1, sizeof n,
                                    cudaMemcpyDeviceToHost, compute_));
  STRATA_CUDA_CHECK(cudaStreamSynchronize(compute_));
  return n;
}

void CudaGptModel::set_phase_marker(kernels::cuda::PhaseMarker* marker) { impl_->blas.set_marker(marker); }

void CudaGptModel::set_attention_row_block(int64_t rows) {
  if (rows < 0) throw std::invalid_argument("CudaGptModel: attention row block must be >= 0");
  attention_row_block_ = rows;
}

int64_t CudaGptModel::attention_blocks(int64_t S) const {
  return attention_row_block_ > 0 ? (S + attention_row_block_ - 1) / attention_row_block_ : 1;
}

void CudaGptModel::set_fused_epilogues(bool on) { impl_->blas.set_lt_epilogues(on); }
bool CudaGptModel::fused_epilogues() const { return impl_->blas.lt_epilogues(); }
int64_t CudaGptModel::fused_gemm_calls() const { return impl_->blas.lt_counts().fused; }
int64_t CudaGptModel::declined_fused_gemm_calls() const { return impl_->blas.lt_counts().declined; }

const char* to_string(CudaAttention a) { return a == CudaAttention::flash ? "flash" : "materialized"; }

void CudaGptModel::synchronize() { STRATA_CUDA_CHECK(cudaStreamSynchronize(compute_)); }

void CudaGptModel::download_params(float* host) {
  synchronize();
  STRATA_CUDA_CHECK(cudaMemcpy(host, impl_->params.data(), layout_.total_count() * sizeof(float),
                               cudaMemcpyDeviceToHost));
}

float* CudaGptModel::device_grads() { return impl_->grads.data(); }

void CudaGptModel::download_grads(float* host) {
  synchronize();
  STRATA_CUDA_CHECK(cudaMemcpy(host, impl_->grads.data(), layout_.total_count() * sizeof(float),
                               cudaMemcpyDeviceToHost));
}

void CudaGptModel::download_moments(float* m, float* v) {
  synchronize();
  const size_t bytes = static_cast<size_t>(layout_.total_count()) * sizeof(float);
  STRATA_CUDA_CHECK(cudaMemcpy(m, impl_->adam_m.data(), bytes, cudaMemcpyDeviceToHost));
  STRATA_CUDA_CHECK(cudaMemcpy(v, impl_->adam_v.data(), bytes, cudaMemcpyDeviceToHost));
}

void CudaGptModel::set_moments(const float* m, const float* v, int64_t step) {
  synchronize();
  const size_t bytes = static_cast<size_t>(layout_.total_count()) * sizeof(float);
  STRATA_CUDA_CHECK(cudaMemcpy(impl_->adam_m.data(), m, bytes, cudaMemcpyHostToDevice));
  STRATA_CUDA_CHECK(cudaMemcpy(impl_->adam_v.data(), v, bytes, cudaMemcpyHostToDevice));
  step_ = step;
}

void CudaGptModel::download_working_params(float* host) {
  const int64_t total = layout_.total_count();
  std::vector<bf16> tmp(static_cast<size_t>(total));
  synchronize();
  STRATA_CUDA_CHECK(cudaMemcpy(tmp.data(), impl_->working.data(), total * sizeof(bf16), cudaMemcpyDeviceToHost));
  for (int64_t i = 0; i < total; ++i) host[i] = kc::to_float(tmp[static_cast<size_t>(i)]);
}

void CudaGptModel::download_attention_probs(int64_t layer, float* host) {
  if (layer < 0 || layer >= config().layers) throw std::out_of_range("CudaGptModel: no layer " + std::to_string(layer));
  if (attention_ == CudaAttention::flash)
    throw std::logic_error(
        "CudaGptModel::download_attention_probs: this model runs flash attention, which keeps no probabilities; "
        "construct it with CudaAttention::materialized (the capture mode) to read them");
  if (B_ == 0) throw std::logic_error("CudaGptModel::download_attention_probs: no forward yet");
  // The probabilities of a [B,S] forward occupy the first B*NH*S*S elements of the slot.
  const int64_t n = B_ * config().heads * S_ * S_;
  std::vector<bf16> tmp(static_cast<size_t>(n));
  synchronize();
  STRATA_CUDA_CHECK(cudaMemcpy(tmp.data(), impl_->act(impl_->blocks[static_cast<size_t>(layer)].probs),
                               n * sizeof(bf16), cudaMemcpyDeviceToHost));
  for (int64_t i = 0; i < n; ++i) host[i] = kc::to_float(tmp[static_cast<size_t>(i)]);
}

}  // namespace strata::engine::cuda
