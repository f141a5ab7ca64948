// Picking the next token from logits: temperature, top-k, and a draw from a counter-based
// random stream keyed by (seed, position), so a sample is reproducible from its seed.
#pragma once

#include <cstdint>
#include <span>

namespace strata::engine {

struct SamplingOptions {
  double temperature = 0.8;  // > 0
  int64_t top_k = 40;        // 0 = keep every token
  uint64_t seed = 0;
};

// logits: one row of vocab_size values. `position` indexes the random stream.
template <class T>
int32_t sample_token(std::span<const T> logits, const SamplingOptions& options, uint64_t position);

}  // namespace strata::engine
