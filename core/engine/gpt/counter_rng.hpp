// Counter-based random numbers: a value is a pure function of (seed, stream, index).
//
// Parameter initialisation draws one normal per element from its coordinates instead of
// from a sequential generator, so the result does not depend on the number of threads,
// on the order tensors are visited in, or on the padding of the flat layout.
// Mixing is SplitMix64's finaliser (Stafford's variant 13), which passes BigCrush when
// fed a counter; two uniforms per element feed Box-Muller.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <string_view>

namespace strata::engine {

inline uint64_t splitmix64_mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// FNV-1a: a stable stream id for a tensor name (std::hash is not stable across builds).
inline uint64_t stream_id(std::string_view name) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : name) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

// Key of one stream: every (seed, stream) pair gets an unrelated sequence.
inline uint64_t stream_key(uint64_t seed, uint64_t stream) {
  return splitmix64_mix(splitmix64_mix(seed) ^ stream);
}

// Uniform in (0, 1]: 53 random bits, never 0 (Box-Muller takes its log).
inline double counter_uniform(uint64_t key, uint64_t counter) {
  const uint64_t bits = splitmix64_mix(key ^ splitmix64_mix(counter)) >> 11;
  return static_cast<double>(bits + 1) * 0x1.0p-53;
}

// Standard normal for element `index` of the stream `key` (Box-Muller, cosine branch).
inline double counter_normal(uint64_t key, uint64_t index) {
  const double u1 = counter_uniform(key, 2 * index);
  const double u2 = counter_uniform(key, 2 * index + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

}  // namespace strata::engine
