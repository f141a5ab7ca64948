#include "kernels/cpu/gelu.h"

#include <cmath>

#include "kernels/cpu/parallel.h"

namespace strata::kernels::cpu {
namespace {

// tanh is ~20x an add: even modest sizes pay for a thread team.
constexpr index_t kGeluMinParallel = index_t{1} << 13;

template <class T>
constexpr T kSqrt2OverPi = static_cast<T>(0.7978845608028654);  // sqrt(2/pi)

template <class T>
constexpr T kCubic = static_cast<T>(0.044715);

template <class T>
T tanh_arg(T x) {
  return kSqrt2OverPi<T> * (x + kCubic<T> * x * x * x);
}

// d/dx [0.5 x (1 + tanh u)] = 0.5 (1 + tanh u) + 0.5 x sech^2(u) u'(x),
// with sech^2 = 1 - tanh^2 (saves the cosh llm.c evaluates).
template <class T>
T gelu_grad(T x) {
  const T t = std::tanh(tanh_arg(x));
  const T du = kSqrt2OverPi<T> * (T{1} + T{3} * kCubic<T> * x * x);
  return T{0.5} * (T{1} + t) + T{0.5} * x * (T{1} - t * t) * du;
}

}  // namespace

template <class T>
void gelu_forward(T* out, const T* inp, index_t n) {
  detail::parallel_for(n, kGeluMinParallel, [&](index_t i) {
    const T x = inp[i];
    out[i] = T{0.5} * x * (T{1} + std::tanh(tanh_arg(x)));
  });
}

template <class T>
void gelu_backward(T* dinp, const T* inp, const T* dout, index_t n) {
  detail::parallel_for(n, kGeluMinParallel, [&](index_t i) {
    dinp[i] += gelu_grad(inp[i]) * dout[i];
  });
}

#define STRATA_INSTANTIATE(T)                                 \
  template void gelu_forward<T>(T*, const T*, index_t);       \
  template void gelu_backward<T>(T*, const T*, const T*, index_t);
STRATA_INSTANTIATE(float)
STRATA_INSTANTIATE(double)
#undef STRATA_INSTANTIATE

}  // namespace strata::kernels::cpu
