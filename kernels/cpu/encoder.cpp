#include "kernels/cpu/encoder.h"

#include <stdexcept>
#include <string>

#include "kernels/cpu/parallel.h"

namespace strata::kernels::cpu {
namespace {

// An out-of-range id would read/write outside wte; checking B*S ints is
// negligible next to the B*S*C copy.
void check_tokens(const token_t* tokens, index_t n, index_t V) {
  for (index_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= V)
      throw std::invalid_argument("encoder: token " + std::to_string(tokens[i]) +
                                  " at position " + std::to_string(i) +
                                  " outside [0, " + std::to_string(V) + ")");
  }
}

}  // namespace

template <class T>
void encoder_forward(T* out, const token_t* tokens, const T* wte, const T* wpe,
                     index_t B, index_t S, index_t C, index_t V) {
  check_tokens(tokens, B * S, V);
  detail::parallel_for(B * S, detail::kParallelMinElems / (C > 0 ? C : 1),
                       [&](index_t bs) {
    const T* e = wte + tokens[bs] * C;
    const T* p = wpe + (bs % S) * C;
    T* o = out + bs * C;
    for (index_t c = 0; c < C; ++c) o[c] = e[c] + p[c];
  });
}

template <class T>
void encoder_backward(T* dwte, T* dwpe, const T* dout, const token_t* tokens,
                      index_t B, index_t S, index_t C, index_t V) {
  check_tokens(tokens, B * S, V);
  // Parallel over channel blocks (not tokens): two positions holding the same
  // token would otherwise race on the same dwte row.
  detail::for_each_column_block(B * S, C, [&](index_t c0, index_t c1) {
    for (index_t bs = 0; bs < B * S; ++bs) {
      const T* g = dout + bs * C;
      T* de = dwte + tokens[bs] * C;
      T* dp = dwpe + (bs % S) * C;
      for (index_t c = c0; c < c1; ++c) {
        de[c] += g[c];
        dp[c] += g[c];
      }
    }
  });
}

#define STRATA_INSTANTIATE(T)                                                  \
  template void encoder_forward<T>(T*, const token_t*, const T*, const T*,     \
                                   index_t, index_t, index_t, index_t);        \
  template void encoder_backward<T>(T*, T*, const T*, const token_t*, index_t, \
                                    index_t, index_t, index_t);
STRATA_INSTANTIATE(float)
STRATA_INSTANTIATE(double)
#undef STRATA_INSTANTIATE

}  // namespace strata::kernels::cpu
