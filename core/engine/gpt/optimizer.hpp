// AdamW over the flat parameter buffer of a ParameterLayout (torch.optim.AdamW semantics:
// decoupled weight decay, bias correction with a step count starting at 1, amsgrad off).
// Decay applies to the layout's decayed tensors only (ndim >= 2: matrices and
// embeddings), as nanoGPT's two parameter groups do.
#pragma once

#include <cstdint>
#include <vector>

#include "core/engine/gpt/aligned_buffer.hpp"
#include "core/engine/gpt/parameter_layout.hpp"
#include "kernels/cpu/adamw.h"

namespace strata::engine {

// Elements [begin, end) of the flat buffer one optimizer instance updates: all of it, or one
// data-parallel rank's shard under ZeRO-1 (optimizer state sharded over the ranks).
struct OptimizerShard {
  int64_t begin = 0;
  int64_t end = -1;  // -1: the end of the buffer
};

template <class T>
class AdamW {
 public:
  // Allocates (and pre-touches) the two moment buffers, zeroed, for the shard's elements.
  AdamW(const ParameterLayout& layout, double beta1, double beta2, double eps, double weight_decay,
        OptimizerShard shard = {});
  AdamW(const AdamW&) = delete;
  AdamW& operator=(const AdamW&) = delete;

  // One step over the shard of params/grads [layout.total_count()] with learning rate lr
  // (the schedule is the caller's). Increments step_count() first, so the first step uses
  // t = 1. Elements outside the shard are left as they are.
  void step(T* params, T* grads, double lr);
  int64_t shard_begin() const { return begin_; }
  int64_t shard_end() const { return begin_ + m_.size(); }

  int64_t step_count() const { return step_; }
  // First and second moments of the shard, flat in the parameter layout from shard_begin().
  T* m() { return m_.data(); }
  T* v() { return v_.data(); }
  const T* m() const { return m_.data(); }
  const T* v() const { return v_.data(); }
  int64_t size() const { return m_.size(); }
  // Restores the step counter when loading a checkpoint.
  void set_step_count(int64_t step) { step_ = step; }

 private:
  kernels::cpu::AdamWHyper hyper_;
  std::vector<kernels::cpu::DecayRange> decay_ranges_;
  int64_t begin_ = 0;
  AlignedBuffer<T> m_, v_;
  int64_t step_ = 0;
};

extern template class AdamW<float>;
extern template class AdamW<double>;

}  // namespace strata::engine
