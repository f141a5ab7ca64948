#include "kernels/cpu/vocab_parallel.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "kernels/cpu/crossentropy.h"
#include "kernels/cpu/fast_math.h"
#include "kernels/cpu/parallel.h"

namespace strata::kernels::cpu {
namespace {

void check_ids(const char* what, const token_t* ids, index_t n, index_t lo, index_t V) {
  for (index_t i = 0; i < n; ++i)
    if (ids[i] < lo || ids[i] >= V)
      throw std::invalid_argument(std::string(what) + " " + std::to_string(ids[i]) + " at position " +
                                  std::to_string(i) + " outside [" + std::to_string(lo) + ", " + std::to_string(V) +
                                  ")");
}

bool in_slice(token_t t, index_t v0, index_t Vl) { return t >= v0 && t < v0 + Vl; }

index_t min_rows(index_t V) { return std::max<index_t>(2, detail::kParallelMinElems / std::max<index_t>(V, 1)); }

}  // namespace

template <class T>
void encoder_forward_slice(T* out, const token_t* tokens, const T* wte_slice, index_t v0, index_t Vl, index_t B,
                           index_t S, index_t C, index_t V) {
  check_ids("encoder: token", tokens, B * S, 0, V);
  detail::parallel_for(B * S, detail::kParallelMinElems / (C > 0 ? C : 1), [&](index_t bs) {
    T* o = out + bs * C;
    if (in_slice(tokens[bs], v0, Vl))
      std::copy_n(wte_slice + (tokens[bs] - v0) * C, C, o);
    else
      std::fill_n(o, C, T{0});
  });
}

template <class T>
void encoder_add_positions(T* out, const T* wpe, index_t B, index_t S, index_t C) {
  detail::parallel_for(B * S, detail::kParallelMinElems / (C > 0 ? C : 1), [&](index_t bs) {
    const T* p = wpe + (bs % S) * C;
    T* o = out + bs * C;
    for (index_t c = 0; c < C; ++c) o[c] += p[c];
  });
}

template <class T>
void encoder_backward_slice(T* dwte_slice, T* dwpe, const T* dout, const token_t* tokens, index_t v0, index_t Vl,
                            index_t B, index_t S, index_t C, index_t V) {
  check_ids("encoder: token", tokens, B * S, 0, V);
  detail::for_each_column_block(B * S, C, [&](index_t c0, index_t c1) {
    for (index_t bs = 0; bs < B * S; ++bs) {
      const T* g = dout + bs * C;
      if (in_slice(tokens[bs], v0, Vl)) {
        T* de = dwte_slice + (tokens[bs] - v0) * C;
        for (index_t c = c0; c < c1; ++c) de[c] += g[c];
      }
      if (dwpe != nullptr) {
        T* dp = dwpe + (bs % S) * C;
        for (index_t c = c0; c < c1; ++c) dp[c] += g[c];
      }
    }
  });
}

template <class T>
void crossentropy_slice_max(double* rowmax, const T* logits, index_t N, index_t Vl) {
  detail::parallel_for(N, min_rows(Vl), [&](index_t n) {
    const T* x = logits + n * Vl;
    rowmax[n] = Vl > 0 ? static_cast<double>(detail::max_of(x, Vl)) : -std::numeric_limits<double>::infinity();
  });
}

template <class T>
void crossentropy_slice_partials(double* sumexp, double* target_logit, const T* logits, const double* rowmax,
                                 const token_t* targets, index_t v0, index_t N, index_t Vl, index_t V) {
  check_ids("crossentropy: target", targets, N, kIgnoreTarget, V);
  detail::parallel_for(N, min_rows(Vl), [&](index_t n) {
    sumexp[n] = 0;
    target_logit[n] = 0;
    if (targets[n] == kIgnoreTarget) return;
    const T* x = logits + n * Vl;
    // exps in T like row_logsumexp, of x - max rounded to T as it does.
    const T m = static_cast<T>(rowmax[n]);
    sumexp[n] = detail::sum_exp(x, m, Vl);
    if (in_slice(targets[n], v0, Vl)) target_logit[n] = static_cast<double>(x[targets[n] - v0]);
  });
}

template <class T>
double crossentropy_slice_finish(T* losses, T* lse, const double* rowmax, const double* sumexp,
                                 const double* target_logit, const token_t* targets, index_t N) {
  for (index_t n = 0; n < N; ++n) {
    if (targets[n] == kIgnoreTarget) {
      losses[n] = lse[n] = T{0};
      continue;
    }
    const double l = static_cast<double>(static_cast<T>(rowmax[n])) + std::log(sumexp[n]);
    lse[n] = static_cast<T>(l);
    losses[n] = static_cast<T>(l - target_logit[n]);
  }
  const index_t valid = crossentropy_count_valid(targets, N);
  if (valid == 0) return std::numeric_limits<double>::quiet_NaN();
  return detail::deterministic_sum(N, [&](index_t n) { return double{losses[n]}; }) / static_cast<double>(valid);
}

template <class T>
void crossentropy_slice_backward(T* dlogits, const T* logits, const T* lse, const token_t* targets, T dloss_scale,
                                 index_t v0, index_t N, index_t Vl) {
  detail::parallel_for(N, min_rows(Vl), [&](index_t n) {
    T* d = dlogits + n * Vl;
    if (targets[n] == kIgnoreTarget) {
      std::fill_n(d, Vl, T{0});
      return;
    }
    const T* x = logits + n * Vl;
    const T l = lse[n];
    const token_t t = targets[n];
    const bool mine = in_slice(t, v0, Vl);
    const T p_target = mine ? detail::exp_of(x[t - v0] - l) : T{0};
    for (index_t j = 0; j < Vl; ++j) d[j] = detail::exp_of(x[j] - l) * dloss_scale;
    if (mine) d[t - v0] = (p_target - T{1}) * dloss_scale;
  });
}

#define STRATA_INSTANTIATE(T)                                                                                     \
  template void encoder_forward_slice<T>(T*, const token_t*, const T*, index_t, index_t, index_t, index_t,       \
                                         index_t, index_t);                                                      \
  template void encoder_add_positions<T>(T*, const T*, index_t, index_t, index_t);                               \
  template void encoder_backward_slice<T>(T*, T*, const T*, const token_t*, index_t, index_t, index_t, index_t,  \
                                          index_t, index_t);                                                     \
  template void crossentropy_slice_max<T>(double*, const T*, index_t, index_t);                                  \
  template void crossentropy_slice_partials<T>(double*, double*, const T*, const double*, const token_t*,        \
                                               index_t, index_t, index_t, index_t);                              \
  template double crossentropy_slice_finish<T>(T*, T*, const double*, const double*, const double*,              \
                                               const token_t*, index_t);                                         \
  template void crossentropy_slice_backward<T>(T*, const T*, const T*, const token_t*, T, index_t, index_t,      \
                                               index_t);
STRATA_INSTANTIATE(float)
STRATA_INSTANTIATE(double)
#undef STRATA_INSTANTIATE

}  // namespace strata::kernels::cpu
