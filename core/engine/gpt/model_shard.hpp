// Which part of a GptConfig one rank holds under Megatron-LM's tensor and pipeline
// parallelism (docs/distributed.md has the picture):
//
// - Pipeline: a contiguous range of blocks [layer_begin, layer_end). The first stage also
//   holds the embeddings (wte, wpe), the last one ln_f and the tied head, i.e. its own copy
//   of wte (with several stages the two copies get the same initial values and their
//   gradients are summed, as Megatron does).
// - Tensor: of tp ranks, rank r holds heads [r·H/tp, (r+1)·H/tp) of every attention
//   (c_attn's q, k and v rows for those heads: column parallel; c_proj's matching input
//   columns: row parallel), columns [r·F/tp, (r+1)·F/tp) of the MLP (c_fc rows, c_proj
//   columns), and rows [floor(r·V/tp), floor((r+1)·V/tp)) of wte (vocabulary parallel).
//   LayerNorms, wpe and the biases of row-parallel layers are replicated.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/engine/gpt/gpt_config.hpp"

namespace strata::engine {

struct ModelShard {
  int64_t tp_rank = 0;
  int64_t tp_size = 1;
  int64_t layer_begin = 0;
  int64_t layer_end = -1;  // -1: through the last layer

  // The shard is the whole model (one rank, or data parallelism only).
  bool whole(const GptConfig& c) const { return tp_size == 1 && layer_begin == 0 && end(c) == c.layers; }
  int64_t end(const GptConfig& c) const { return layer_end < 0 ? c.layers : layer_end; }
  bool first_stage() const { return layer_begin == 0; }
  bool last_stage(const GptConfig& c) const { return end(c) == c.layers; }
  // Rows of wte this tensor-parallel rank holds: [vocab_begin, vocab_end).
  int64_t vocab_begin(const GptConfig& c) const { return tp_rank * c.vocab_size / tp_size; }
  int64_t vocab_end(const GptConfig& c) const { return (tp_rank + 1) * c.vocab_size / tp_size; }

  // Throws std::invalid_argument naming what does not fit the config.
  void validate(const GptConfig& c) const {
    const auto fail = [](const std::string& what) { throw std::invalid_argument("ModelShard: " + what); };
    if (tp_size < 1 || tp_rank < 0 || tp_rank >= tp_size)
      fail("tensor-parallel rank " + std::to_string(tp_rank) + " of " + std::to_string(tp_size));
    if (c.heads % tp_size != 0)
      fail(std::to_string(c.heads) + " heads are not divisible by tp = " + std::to_string(tp_size));
    if (c.vocab_size < tp_size)
      fail("a vocabulary of " + std::to_string(c.vocab_size) + " cannot be split over tp = " + std::to_string(tp_size));
    if (layer_begin < 0 || end(c) > c.layers || layer_begin >= end(c))
      fail("layers [" + std::to_string(layer_begin) + ", " + std::to_string(end(c)) + ") of " +
           std::to_string(c.layers));
  }
};

}  // namespace strata::engine
