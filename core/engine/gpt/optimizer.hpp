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

template <class T>
class AdamW {
 public:
  // Allocates (and pre-touches) the two moment buffers, zeroed, in the layout.
  AdamW(const ParameterLayout& layout, double beta1, double beta2, double eps, double weight_decay);
  AdamW(const AdamW&) = delete;
  AdamW& operator=(const AdamW&) = delete;

  // One step over params/grads [layout.total_count()] with learning rate lr (the schedule
  // is the caller's). Increments step_count() first, so the first step uses t = 1.
  void step(T* params, T* grads, double lr);

  int64_t step_count() const { return step_; }
  // First and second moments, flat in the parameter layout (for checkpoints).
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
  AlignedBuffer<T> m_, v_;
  int64_t step_ = 0;
};

extern template class AdamW<float>;
extern template class AdamW<double>;

}  // namespace strata::engine
