#include "kernels/cpu/layernorm.h"

#include <cmath>

#include "kernels/cpu/parallel.h"

namespace strata::kernels::cpu {
namespace {

// Two-pass mean/variance in double: one extra pass over C values avoids the
// cancellation of E[x^2] - E[x]^2 when |mean| >> std. Both sums run over
// serial_sum's fixed lanes, which vectorise: a single double chain waits 4
// cycles per term, and the two chains made the LayerNorm forward 3% of a
// shape-a step.
template <class T>
void row_stats(const T* x, index_t C, double& mean, double& rstd) {
  const double s = detail::serial_sum(0, C, [x](index_t c) { return static_cast<double>(x[c]); });
  mean = s / static_cast<double>(C);
  const double m = mean;
  const double v = detail::serial_sum(0, C, [x, m](index_t c) {
    const double d = x[c] - m;
    return d * d;
  });
  rstd = 1.0 / std::sqrt(v / static_cast<double>(C) + kLayerNormEps);
}

// dinp for one row: with g = weight*dout and xhat the normalised input,
// dinp += rstd * (g - mean(g) - xhat * mean(g*xhat)). The two row sums are two
// serial_sum passes (see row_stats): one loop accumulating both was left
// scalar by GCC, and the row is in L1 for the second pass.
template <class T>
void row_backward(T* dx, const T* dy, const T* x, const T* w, T m, T r,
                  index_t C) {
  const double g_sum = detail::serial_sum(0, C, [w, dy](index_t c) {
    return static_cast<double>(w[c] * dy[c]);
  });
  const double gx_sum = detail::serial_sum(0, C, [w, dy, x, m, r](index_t c) {
    return static_cast<double>(w[c] * dy[c] * ((x[c] - m) * r));
  });
  const T g_mean = static_cast<T>(g_sum / static_cast<double>(C));
  const T gx_mean = static_cast<T>(gx_sum / static_cast<double>(C));
  for (index_t c = 0; c < C; ++c) {
    const T xhat = (x[c] - m) * r;
    dx[c] += (w[c] * dy[c] - g_mean - xhat * gx_mean) * r;
  }
}

}  // namespace

template <class T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* weight,
                       const T* bias, index_t N, index_t C) {
  detail::parallel_for(N, detail::kParallelMinElems / (C > 0 ? C : 1),
                       [&](index_t n) {
    const T* x = inp + n * C;
    double m = 0.0, r = 0.0;
    row_stats(x, C, m, r);
    const T mt = static_cast<T>(m), rt = static_cast<T>(r);
    T* y = out + n * C;
    for (index_t c = 0; c < C; ++c) y[c] = (x[c] - mt) * rt * weight[c] + bias[c];
    mean[n] = mt;
    rstd[n] = rt;
  });
}

template <class T>
void layernorm_backward(T* dinp, T* dweight, T* dbias, const T* dout,
                        const T* inp, const T* weight, const T* mean,
                        const T* rstd, index_t N, index_t C) {
  // Rows are independent for dinp ...
  detail::parallel_for(N, detail::kParallelMinElems / (C > 0 ? C : 1),
                       [&](index_t n) {
    row_backward(dinp + n * C, dout + n * C, inp + n * C, weight, mean[n],
                 rstd[n], C);
  });
  // ... but dweight/dbias sum over rows: give each thread whole columns and
  // sum rows in order (deterministic, no atomics), in double.
  detail::for_each_column_block(N, C, [&](index_t c0, index_t c1) {
    double dw[detail::kColBlock] = {}, db[detail::kColBlock] = {};
    for (index_t n = 0; n < N; ++n) {
      const T* x = inp + n * C;
      const T* dy = dout + n * C;
      for (index_t c = c0; c < c1; ++c) {
        dw[c - c0] += dy[c] * ((x[c] - mean[n]) * rstd[n]);
        db[c - c0] += dy[c];
      }
    }
    for (index_t c = c0; c < c1; ++c) {
      dweight[c] += static_cast<T>(dw[c - c0]);
      dbias[c] += static_cast<T>(db[c - c0]);
    }
  });
}

#define STRATA_INSTANTIATE(T)                                                 \
  template void layernorm_forward<T>(T*, T*, T*, const T*, const T*,          \
                                     const T*, index_t, index_t);             \
  template void layernorm_backward<T>(T*, T*, T*, const T*, const T*,         \
                                      const T*, const T*, const T*, index_t,  \
                                      index_t);
STRATA_INSTANTIATE(float)
STRATA_INSTANTIATE(double)
#undef STRATA_INSTANTIATE

}  // namespace strata::kernels::cpu
