#include "core/engine/bigram_model.hpp"

#include <algorithm>
#include <cmath>

namespace strata::engine {
namespace {

// log-softmax of one row at index `target`, and optionally the softmax itself.
template <class T>
double row_nll(const T* row, int target, double* probs) {
  double max = row[0];
  for (int j = 1; j < 256; ++j) max = std::max<double>(max, row[j]);
  double sum = 0;
  for (int j = 0; j < 256; ++j) {
    const double e = std::exp(static_cast<double>(row[j]) - max);
    if (probs) probs[j] = e;
    sum += e;
  }
  if (probs)
    for (int j = 0; j < 256; ++j) probs[j] /= sum;
  return std::log(sum) + max - static_cast<double>(row[target]);
}

}  // namespace

template <class T>
BigramModel<T>::BigramModel() : logits_(kVocab * kVocab, T(0)), grads_(kVocab * kVocab, T(0)) {}

template <class T>
double BigramModel<T>::forward_backward(const std::vector<std::string_view>& windows) {
  std::fill(grads_.begin(), grads_.end(), T(0));
  double total = 0;
  int64_t count = 0;
  for (const auto& w : windows) count += static_cast<int64_t>(w.size()) - 1;
  if (count <= 0) return 0;
  double probs[kVocab];
  const double scale = 1.0 / static_cast<double>(count);
  for (const auto& w : windows) {
    for (size_t t = 0; t + 1 < w.size(); ++t) {
      const int prev = static_cast<unsigned char>(w[t]);
      const int next = static_cast<unsigned char>(w[t + 1]);
      const T* row = &logits_[prev * kVocab];
      total += row_nll(row, next, probs);
      T* g = &grads_[prev * kVocab];
      for (int j = 0; j < kVocab; ++j) g[j] += static_cast<T>((probs[j] - (j == next ? 1.0 : 0.0)) * scale);
    }
  }
  return total * scale;
}

template <class T>
double BigramModel<T>::loss(std::string_view text) const {
  if (text.size() < 2) return 0;
  double total = 0;
  for (size_t t = 0; t + 1 < text.size(); ++t)
    total += row_nll(&logits_[static_cast<unsigned char>(text[t]) * kVocab], static_cast<unsigned char>(text[t + 1]),
                     nullptr);
  return total / static_cast<double>(text.size() - 1);
}

template <class T>
void BigramModel<T>::sgd_step(T lr) {
  for (size_t i = 0; i < logits_.size(); ++i) logits_[i] -= lr * grads_[i];
}

template class BigramModel<float>;
template class BigramModel<double>;

}  // namespace strata::engine
