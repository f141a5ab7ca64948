#include "core/engine/gpt/optimizer.hpp"

#include <stdexcept>

namespace strata::engine {

template <class T>
AdamW<T>::AdamW(const ParameterLayout& layout, double beta1, double beta2, double eps, double weight_decay)
    : decay_ranges_(layout.weight_decay_ranges()), m_(layout.total_count()), v_(layout.total_count()) {
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
  kernels::cpu::adamw_step(params, grads, m_.data(), v_.data(), m_.size(), hp, step_, decay_ranges_);
}

template class AdamW<float>;
template class AdamW<double>;

}  // namespace strata::engine
