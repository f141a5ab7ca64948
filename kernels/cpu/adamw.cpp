#include "kernels/cpu/adamw.h"

#include <cmath>
#include <stdexcept>

#include "kernels/cpu/parallel.h"

namespace strata::kernels::cpu {
namespace {

// Per-step constants, each rounded to T once, as torch passes Python floats
// into its float kernels.
template <class T>
struct AdamWScalars {
  T decay;          // 1 - lr*wd
  T lerp_weight;    // 1 - beta1
  T beta2;
  T one_minus_b2;
  T bc2_sqrt;       // sqrt(1 - beta2^step)
  T neg_step_size;  // -lr / (1 - beta1^step)
  T eps;
};

template <class T>
AdamWScalars<T> make_scalars(const AdamWHyper& hp, index_t step) {
  const double t = static_cast<double>(step);
  const double bc1 = 1.0 - std::pow(hp.beta1, t);
  const double bc2 = 1.0 - std::pow(hp.beta2, t);
  return {static_cast<T>(1.0 - hp.lr * hp.weight_decay),
          static_cast<T>(1.0 - hp.beta1),
          static_cast<T>(hp.beta2),
          static_cast<T>(1.0 - hp.beta2),
          static_cast<T>(std::sqrt(bc2)),
          static_cast<T>(-(hp.lr / bc1)),
          static_cast<T>(hp.eps)};
}

// m follows torch's lerp: of its two algebraically equal forms, torch picks by |w| < 0.5 to
// stay accurate at both ends; reproduced so m matches torch's exp_avg.
template <class T, bool Decayed, bool SmallWeight>
inline void adamw_element(T& p, T g, T& m, T& v, const AdamWScalars<T>& s) {
  if constexpr (Decayed) p = p * s.decay;
  // The lerp's form is chosen once per call: the weight is the same for every element.
  const T w = s.lerp_weight;
  m = SmallWeight ? m + w * (g - m) : g - (g - m) * (T{1} - w);
  v = v * s.beta2 + s.one_minus_b2 * g * g;
  const T denom = std::sqrt(v) / s.bc2_sqrt + s.eps;
  p = p + s.neg_step_size * m / denom;
}

// Work-shares [lo, hi) over the enclosing team (orphaned omp for). nowait:
// the segments are disjoint, so threads need not meet between them. The loop has no
// branches, so it vectorises (AdamW streams 16 bytes of state per parameter: at 124M
// parameters a scalar loop was a large part of a step).
template <class T, bool Decayed, bool SmallWeight>
void adamw_loop(T* param, const T* grad, T* m, T* v, index_t lo, index_t hi, const AdamWScalars<T>& s) {
#pragma omp for simd schedule(static) nowait
  for (index_t i = lo; i < hi; ++i) adamw_element<T, Decayed, SmallWeight>(param[i], grad[i], m[i], v[i], s);
}

template <class T>
void adamw_segment(T* param, const T* grad, T* m, T* v, index_t lo, index_t hi,
                   const AdamWScalars<T>& s, bool decayed) {
  const bool small = std::abs(s.lerp_weight) < T{0.5};
  if (decayed && small) adamw_loop<T, true, true>(param, grad, m, v, lo, hi, s);
  else if (decayed) adamw_loop<T, true, false>(param, grad, m, v, lo, hi, s);
  else if (small) adamw_loop<T, false, true>(param, grad, m, v, lo, hi, s);
  else adamw_loop<T, false, false>(param, grad, m, v, lo, hi, s);
}

void check_ranges(std::span<const DecayRange> ranges, index_t n) {
  index_t prev_end = 0;
  for (const DecayRange& r : ranges) {
    if (r.begin < prev_end || r.end < r.begin || r.end > n)
      throw std::invalid_argument(
          "adamw: decay ranges must be sorted, disjoint and within [0, n]");
    prev_end = r.end;
  }
}

}  // namespace

template <class T>
void adamw_step(T* param, const T* grad, T* m, T* v, index_t n,
                const AdamWHyper& hp, index_t step,
                std::span<const DecayRange> decay_ranges) {
  if (step < 1) throw std::invalid_argument("adamw: step is 1-based");
  check_ranges(decay_ranges, n);
  const AdamWScalars<T> s = make_scalars<T>(hp, step);
  // One team for the whole buffer; each decay / no-decay segment is
  // work-shared inside it, so the buffer is streamed exactly once.
#pragma omp parallel if (n >= detail::kParallelMinElems)
  {
    index_t pos = 0;
    for (const DecayRange& r : decay_ranges) {
      adamw_segment(param, grad, m, v, pos, r.begin, s, false);
      adamw_segment(param, grad, m, v, r.begin, r.end, s, true);
      pos = r.end;
    }
    adamw_segment(param, grad, m, v, pos, n, s, false);
  }
}

template <class T>
double grad_l2_norm(const T* grad, index_t n) {
  return std::sqrt(detail::deterministic_sum(n, [&](index_t i) {
    const double g = grad[i];
    return g * g;
  }));
}

template <class T>
double clip_grad_norm(T* grad, index_t n, double max_norm) {
  const double norm = grad_l2_norm(grad, n);
  const double coef = max_norm / (norm + 1e-6);
  if (!(coef >= 1.0)) {  // negated so a NaN coef is applied, as in torch
    const T c = static_cast<T>(coef);
    detail::parallel_for(n, detail::kParallelMinElems,
                         [&](index_t i) { grad[i] *= c; });
  }
  return norm;
}

#define STRATA_INSTANTIATE(T)                                                \
  template void adamw_step<T>(T*, const T*, T*, T*, index_t,                 \
                              const AdamWHyper&, index_t,                    \
                              std::span<const DecayRange>);                  \
  template double grad_l2_norm<T>(const T*, index_t);                        \
  template double clip_grad_norm<T>(T*, index_t, double);
STRATA_INSTANTIATE(float)
STRATA_INSTANTIATE(double)
#undef STRATA_INSTANTIATE

}  // namespace strata::kernels::cpu
