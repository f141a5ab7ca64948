#include "kernels/cpu/residual.h"

#include "kernels/cpu/parallel.h"

namespace strata::kernels::cpu {

// Memory-bound: threads only help once the arrays spill out of L2.
template <class T>
void residual_forward(T* out, const T* a, const T* b, index_t n) {
  detail::parallel_for(n, detail::kParallelMinElems,
                       [&](index_t i) { out[i] = a[i] + b[i]; });
}

template <class T>
void residual_backward(T* da, T* db, const T* dout, index_t n) {
  detail::parallel_for(n, detail::kParallelMinElems, [&](index_t i) {
    da[i] += dout[i];
    db[i] += dout[i];
  });
}

#define STRATA_INSTANTIATE(T)                                             \
  template void residual_forward<T>(T*, const T*, const T*, index_t);     \
  template void residual_backward<T>(T*, T*, const T*, index_t);
STRATA_INSTANTIATE(float)
STRATA_INSTANTIATE(double)
#undef STRATA_INSTANTIATE

}  // namespace strata::kernels::cpu
