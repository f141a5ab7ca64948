#include "core/engine/gpt/optimizer.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace strata::engine {

namespace {

int64_t end_of(const ParameterLayout& layout, OptimizerShard shard) {
  const int64_t total = layout.total_count();
  const int64_t end = shard.end < 0 ? total : shard.end;
  if (shard.begin < 0 || shard.begin > end || end > total)
    throw std::invalid_argument("AdamW: shard [" + std::to_string(shard.begin) + ", " + std::to_string(end) +
                                ") is not within the " + std::to_string(total) + " parameters");
  return end;
}

// The layout's decay ranges, cut to the shard and counted from its start.
std::vector<kernels::cpu::DecayRange> shard_ranges(const ParameterLayout& layout, int64_t begin, int64_t end) {
  std::vector<kernels::cpu::DecayRange> out;
  for (const auto& r : layout.weight_decay_ranges()) {
    const int64_t b = std::max<int64_t>(r.begin, begin), e = std::min<int64_t>(r.end, end);
    if (b < e) out.push_back({b - begin, e - begin});
  }
  return out;
}

}  // namespace

template <class T>
AdamW<T>::AdamW(const ParameterLayout& layout, double beta1, double beta2, double eps, double weight_decay,
                OptimizerShard shard)
    : decay_ranges_(shard_ranges(layout, shard.begin, end_of(layout, shard))),
      begin_(shard.begin),
      m_(end_of(layout, shard) - shard.begin),
      v_(end_of(layout, shard) - shard.begin) {
  if (!(beta1 >= 0.0 && beta1 < 1.0) || !(beta2 >= 0.0 && beta2 < 1.0))
    throw std::invalid_argument("AdamW: betas must be in [0, 1)");
  if (!(eps >= 0.0)) throw std::invalid_argument("AdamW: eps must be >= 0");
  if (!(weight_decay >= 0.0)) throw std::invalid_argument("AdamW: weight_decay must be >= 0");
  hyper_.beta1 = beta1;
  hyper_.beta2 = beta2;
  hyper_.eps = eps;
  hyper_.weight_decay = weight_decay;
}

template <class T>
void AdamW<T>::step(T* params, T* grads, double lr) {
  ++step_;
  kernels::cpu::AdamWHyper hp = hyper_;
  hp.lr = lr;
  kernels::cpu::adamw_step(params + begin_, grads + begin_, m_.data(), v_.data(), m_.size(), hp, step_, decay_ranges_);
}

template class AdamW<float>;
template class AdamW<double>;

}  // namespace strata::engine
