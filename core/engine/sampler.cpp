#include "core/engine/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "core/engine/gpt/counter_rng.hpp"

namespace strata::engine {

template <class T>
int32_t sample_token(std::span<const T> logits, const SamplingOptions& options, uint64_t position) {
  if (logits.empty()) throw std::invalid_argument("sample_token: empty logits");
  if (!(options.temperature > 0)) throw std::invalid_argument("sample_token: temperature must be > 0");
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  size_t keep = logits.size();
  if (options.top_k > 0 && static_cast<size_t>(options.top_k) < keep) {
    keep = static_cast<size_t>(options.top_k);
    // Ties broken by index so the kept set never depends on the sort's internals.
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    order.resize(keep);
    std::sort(order.begin(), order.end());
  }
  double max = -INFINITY;
  for (int32_t i : order) max = std::max(max, static_cast<double>(logits[i]));
  std::vector<double> weights(order.size());
  double sum = 0;
  for (size_t j = 0; j < order.size(); ++j) {
    weights[j] = std::exp((static_cast<double>(logits[order[j]]) - max) / options.temperature);
    sum += weights[j];
  }
  // A uniform in (0, 1] from the sampling stream of this seed, drawn at `position`.
  const double u = counter_uniform(stream_key(options.seed, stream_id("sample")), position) * sum;
  double acc = 0;
  for (size_t j = 0; j < order.size(); ++j) {
    acc += weights[j];
    if (u <= acc) return order[j];
  }
  return order.back();
}

template int32_t sample_token<float>(std::span<const float>, const SamplingOptions&, uint64_t);
template int32_t sample_token<double>(std::span<const double>, const SamplingOptions&, uint64_t);

}  // namespace strata::engine
