// The collectives a tensor-parallel shard of GptModel needs from its group: sums of partial
// outputs and input gradients (Megatron's f and g operators) and the row maxima of the
// vocabulary-parallel cross-entropy. The engine does not know about communicators; the
// runner adapts its tensor-parallel communicator to this (core/run/model_parallel.hpp).
#pragma once

#include <cstdint>

namespace strata::engine {

class TensorParallelGroup {
 public:
  virtual ~TensorParallelGroup() = default;
  // In place over the group; every rank receives the same result. Throw on failure.
  virtual void sum(float* data, int64_t n) = 0;
  virtual void sum(double* data, int64_t n) = 0;
  virtual void max(double* data, int64_t n) = 0;
};

}  // namespace strata::engine
