#include "kernels/cpu/crossentropy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "kernels/cpu/fast_math.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/vocab_parallel.h"

namespace strata::kernels::cpu {
namespace {

void check_targets(const token_t* targets, index_t N, index_t V) {
  for (index_t n = 0; n < N; ++n) {
    if (targets[n] < kIgnoreTarget || targets[n] >= V)
      throw std::invalid_argument("crossentropy: target " +
                                  std::to_string(targets[n]) + " at row " +
                                  std::to_string(n) + " outside [-1, " +
                                  std::to_string(V) + ")");
  }
}

// log(sum_j exp(x_j)) with the max subtracted so exp never overflows.
template <class T>
double row_logsumexp(const T* x, index_t V) {
  const T m = detail::max_of(x, V);
  return static_cast<double>(m) + std::log(detail::sum_exp(x, m, V));
}

// One row is ~V exps: a team pays off from a handful of rows.
index_t min_parallel_rows(index_t V) {
  return std::max<index_t>(2, detail::kParallelMinElems / std::max<index_t>(V, 1));
}

}  // namespace

index_t crossentropy_count_valid(const token_t* targets, index_t N) {
  return static_cast<index_t>(
      std::count_if(targets, targets + N,
                    [](token_t t) { return t != kIgnoreTarget; }));
}

template <class T>
double crossentropy_forward(T* losses, T* lse, const T* logits,
                            const token_t* targets, index_t N, index_t V) {
  check_targets(targets, N, V);
  detail::parallel_for(N, min_parallel_rows(V), [&](index_t n) {
    if (targets[n] == kIgnoreTarget) {
      losses[n] = T{0};
      lse[n] = T{0};
      return;
    }
    const T* x = logits + n * V;
    const double l = row_logsumexp(x, V);
    lse[n] = static_cast<T>(l);
    losses[n] = static_cast<T>(l - static_cast<double>(x[targets[n]]));
  });
  const index_t valid = crossentropy_count_valid(targets, N);
  if (valid == 0) return std::numeric_limits<double>::quiet_NaN();
  const double total =
      detail::deterministic_sum(N, [&](index_t n) { return double{losses[n]}; });
  return total / static_cast<double>(valid);
}

template <class T>
void crossentropy_backward(T* dlogits, const T* logits, const T* lse,
                           const token_t* targets, T dloss_scale, index_t N,
                           index_t V) {
  check_targets(targets, N, V);
  // The whole vocabulary is the slice [0, V) (vocab_parallel.h).
  crossentropy_slice_backward(dlogits, logits, lse, targets, dloss_scale, 0, N,
                              V);
}

#define STRATA_INSTANTIATE(T)                                                  \
  template double crossentropy_forward<T>(T*, T*, const T*, const token_t*,    \
                                          index_t, index_t);                   \
  template void crossentropy_backward<T>(T*, const T*, const T*,               \
                                         const token_t*, T, index_t, index_t);
STRATA_INSTANTIATE(float)
STRATA_INSTANTIATE(double)
#undef STRATA_INSTANTIATE

}  // namespace strata::kernels::cpu
