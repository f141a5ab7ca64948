// Where every parameter of a GptConfig lives inside ONE flat buffer.
//
// The parameters, their gradients and the optimizer moments are each a single
// contiguous array with this layout, so the optimizer, gradient clipping, all-reduce
// buckets and checkpoints all work on plain ranges instead of lists of tensors.
//
// Order (GPT-2 / Hugging Face names): wte [V,C], wpe [context,C], then per block i
//   h.i.ln_1.weight [C], h.i.ln_1.bias [C],
//   h.i.attn.c_attn.weight [3C,C], h.i.attn.c_attn.bias [3C],
//   h.i.attn.c_proj.weight [C,C], h.i.attn.c_proj.bias [C],
//   h.i.ln_2.weight [C], h.i.ln_2.bias [C],
//   h.i.mlp.c_fc.weight [4C,C], h.i.mlp.c_fc.bias [4C],
//   h.i.mlp.c_proj.weight [C,4C], h.i.mlp.c_proj.bias [C],
// then ln_f.weight [C], ln_f.bias [C]. Matrices use the nn.Linear layout [out,in] (note:
// Hugging Face's GPT-2 Conv1D checkpoints store them transposed). The head is tied to wte
// and has no tensor of its own.
//
// Under tensor or pipeline parallelism (model_shard.hpp) a rank's layout holds only its
// shard: the tensors of its blocks (names keep the model-wide block number), each cut to
// the rows or columns the rank owns, with the full shape and the cut recorded so that
// checkpoints, initialisation and gradient norms work in full-model terms.
//
// Every tensor starts at a multiple of kAlignElems elements (64 bytes in float), so each
// one is cache-line and SIMD aligned when the buffer is; the padding between tensors is
// counted in total_count() and must stay zero (it never receives a gradient, so AdamW
// leaves it at zero too).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/engine/gpt/gpt_config.hpp"
#include "core/engine/gpt/model_shard.hpp"
#include "kernels/cpu/adamw.h"

namespace strata::engine {

struct ParameterTensor {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0;  // first element in the flat buffer (multiple of kAlignElems)
  int64_t count = 0;   // product of shape
  bool decay = false;  // weight decay applies: ndim >= 2 (matrices and embeddings), nanoGPT's rule
  // Sharding: the model-wide tensor has full_shape; along split_axis it is `split_groups`
  // equal blocks (3 for c_attn's q, k, v) and this shard holds [split_begin, split_end)
  // of each block. split_axis -1: the whole tensor (replicated, or not sharded at all).
  std::vector<int64_t> full_shape;
  int split_axis = -1;
  int64_t split_groups = 1, split_begin = 0, split_end = 0;
  // This copy is the one that counts (in gradient norms and checkpoints): false for the
  // replicas on tensor-parallel ranks other than 0 and for the last stage's copy of wte.
  bool primary = true;
};

// Elements [local, local + count) of a tensor's shard are elements [full, full + count) of
// the model-wide tensor (offsets relative to each tensor's start).
struct IndexRun {
  int64_t local = 0;
  int64_t full = 0;
  int64_t count = 0;
};

// Elements [begin, end) of the flat buffer.
struct FlatRange {
  std::string name;
  int64_t begin = 0;
  int64_t end = 0;
};

// Offsets of one transformer block's tensors, for the model's hot loops (no name lookups).
struct BlockOffsets {
  int64_t ln_1_weight, ln_1_bias;
  int64_t c_attn_weight, c_attn_bias;
  int64_t attn_proj_weight, attn_proj_bias;
  int64_t ln_2_weight, ln_2_bias;
  int64_t c_fc_weight, c_fc_bias;
  int64_t mlp_proj_weight, mlp_proj_bias;
};

class ParameterLayout {
 public:
  static constexpr int64_t kAlignElems = 16;

  // Validates the config and the shard (std::invalid_argument).
  explicit ParameterLayout(const GptConfig& config, const ModelShard& shard = {});

  const GptConfig& config() const { return config_; }
  const ModelShard& shard() const { return shard_; }
  // Blocks in this layout: block(i) is model block shard().layer_begin + i.
  int64_t local_layers() const { return static_cast<int64_t>(blocks_.size()); }
  bool has_embedding() const { return wpe_ >= 0; }  // wte and wpe (first stage)
  bool has_head() const { return ln_f_weight_ >= 0; }  // ln_f and the tied head (last stage)
  // Where the shard's elements sit in the model-wide tensor.
  std::vector<IndexRun> index_runs(const ParameterTensor& t) const;
  const std::vector<ParameterTensor>& tensors() const { return tensors_; }
  // Null when there is no tensor of that name.
  const ParameterTensor* find(std::string_view name) const;
  // Throws std::out_of_range when there is no tensor of that name.
  const ParameterTensor& at(std::string_view name) const;

  // Size of the flat buffer, padding included.
  int64_t total_count() const { return total_count_; }
  // Number of real parameters in this layout (for the whole model the GPT-2 count:
  // 12LC² + 13LC + VC + context·C + 2C).
  int64_t parameter_count() const { return parameter_count_; }

  // Sorted, disjoint ranges to decay, as adamw_step wants them. Consecutive decayed
  // tensors are merged into one range (the zero padding between them is harmless to
  // decay): wte and wpe form one range; inside a block the biases separate the matrices.
  std::vector<kernels::cpu::DecayRange> weight_decay_ranges() const;

  // Contiguous ranges that tile [0, total_count()) in order: "embedding" (wte, wpe),
  // "h.0" ... "h.{L-1}", "ln_f" (and "head.wte" for a last pipeline stage's copy of wte).
  // Units for sharding, gradient buckets and per-layer checkpointing.
  const std::vector<FlatRange>& segments() const { return segments_; }
  // The range of block i (segments()[i + 1]).
  const FlatRange& block_range(int64_t i) const {
    return segments_.at(static_cast<size_t>(i + (has_embedding() ? 1 : 0)));
  }

  const BlockOffsets& block(int64_t i) const { return blocks_[static_cast<size_t>(i)]; }
  // Offsets; -1 where the shard does not hold the tensor.
  int64_t wte() const { return wte_; }
  int64_t wpe() const { return wpe_; }
  int64_t ln_f_weight() const { return ln_f_weight_; }
  int64_t ln_f_bias() const { return ln_f_bias_; }

 private:
  // A tensor of full_shape; split_axis >= 0 cuts it for this shard (see ParameterTensor).
  struct Cut {
    int axis = -1;
    int64_t groups = 1, begin = 0, end = 0;
    bool primary = true;
  };
  int64_t add(std::string name, std::vector<int64_t> full_shape, Cut cut);

  GptConfig config_;
  ModelShard shard_;
  std::vector<ParameterTensor> tensors_;
  std::vector<FlatRange> segments_;
  std::vector<BlockOffsets> blocks_;
  int64_t wte_ = -1, wpe_ = -1, ln_f_weight_ = -1, ln_f_bias_ = -1;
  int64_t total_count_ = 0;
  int64_t parameter_count_ = 0;
};

}  // namespace strata::engine
