// The placeholder engine until the GPT engine lands: a byte-level bigram language model.
// One parameter tensor, logits[prev][next] (256 x 256), trained with softmax cross-entropy
// and plain SGD. It exercises every tier with real numbers: its gradient is aggregated in
// buckets, its memory is planned, it is evaluated per group, and its "attention" (which
// context position each prediction uses: always the current token) is captured.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace strata::engine {

template <class T>
class BigramModel {
 public:
  static constexpr int kVocab = 256;

  BigramModel();
  std::vector<T>& parameters() { return logits_; }
  const std::vector<T>& parameters() const { return logits_; }
  std::vector<T>& gradients() { return grads_; }

  // Mean next-byte cross-entropy over all windows (nats); gradients are overwritten.
  double forward_backward(const std::vector<std::string_view>& windows);
  // Mean cross-entropy without touching gradients.
  double loss(std::string_view text) const;
  void sgd_step(T lr);
  // Activation bytes one window of `length` bytes keeps for backward (probabilities).
  static uint64_t activation_bytes(int64_t batch, int64_t length) {
    return static_cast<uint64_t>(batch * (length - 1)) * kVocab * sizeof(T);
  }

 private:
  std::vector<T> logits_;
  std::vector<T> grads_;
};

}  // namespace strata::engine
