#include "kernels/cpu/fill.h"

#include <algorithm>
#include <cstring>

namespace strata::kernels::cpu {

// Chunks of 2^16 elements; memset of 1 MiB measured 43 us on one thread and 28 us on two,
// 256 KiB equal, so two chunks are the least worth a fork/join.
template <class T>
void fill_zero(T* p, index_t n) {
  constexpr index_t kChunk = index_t{1} << 16;
  const index_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks >= 2)
  for (index_t i = 0; i < chunks; ++i) {
    const index_t lo = i * kChunk;
    std::memset(p + lo, 0, static_cast<size_t>(std::min(kChunk, n - lo)) * sizeof(T));
  }
}

template void fill_zero<float>(float*, index_t);
template void fill_zero<double>(double*, index_t);

}  // namespace strata::kernels::cpu
