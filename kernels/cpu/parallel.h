// INTERNAL helpers for the kernel .cpp files (not for callers: it carries
// OpenMP pragmas, which would warn under -Wall in a TU built without -fopenmp).
//
// Every reduction here is deterministic regardless of the thread count: work is
// cut into pieces whose boundaries depend only on the problem size, each piece
// is reduced serially, and the pieces are combined in a fixed order.
#pragma once

#include <algorithm>
#include <cstddef>

#include "kernels/cpu/types.h"

namespace strata::kernels::cpu::detail {

// Below this many elements an OpenMP fork/join (a few microseconds) costs more
// than the loop itself.
inline constexpr index_t kParallelMinElems = index_t{1} << 15;

// Chunking for deterministic_sum: at most kMaxReduceChunks partials, so they
// fit on the stack (no allocation), and at least kMinReduceChunk elements each.
inline constexpr index_t kMaxReduceChunks = 256;
inline constexpr index_t kMinReduceChunk = 4096;

// Independent accumulators inside a chunk: breaks the add-latency chain of a
// serial double sum while keeping a fixed, thread-independent order.
inline constexpr int kSumLanes = 8;

// Width of the column blocks used for column reductions (bias/weight grads).
inline constexpr index_t kColBlock = 32;

// Sum over [lo, hi) of term(i), in double, with kSumLanes fixed lanes.
template <class Term>
double serial_sum(index_t lo, index_t hi, Term&& term) {
  double lane[kSumLanes] = {};
  index_t i = lo;
  for (; i + kSumLanes <= hi; i += kSumLanes)
    for (int l = 0; l < kSumLanes; ++l) lane[l] += term(i + l);
  for (; i < hi; ++i) lane[0] += term(i);
  double s = 0.0;
  for (int l = 0; l < kSumLanes; ++l) s += lane[l];
  return s;
}

// Sum over [0, n) of term(i), in double. Bitwise identical for any number of
// threads: chunk boundaries depend on n only, partials are summed in order.
template <class Term>
double deterministic_sum(index_t n, Term&& term) {
  if (n <= 0) return 0.0;
  const index_t chunk =
      std::max(kMinReduceChunk, (n + kMaxReduceChunks - 1) / kMaxReduceChunks);
  const index_t n_chunks = (n + chunk - 1) / chunk;
  double partial[kMaxReduceChunks];
#pragma omp parallel for schedule(static) if (n_chunks > 1)
  for (index_t c = 0; c < n_chunks; ++c) {
    const index_t lo = c * chunk;
    partial[c] = serial_sum(lo, std::min(n, lo + chunk), term);
  }
  double total = 0.0;
  for (index_t c = 0; c < n_chunks; ++c) total += partial[c];
  return total;
}

// Calls body(c0, c1) for column blocks [c0, c1) of width kColBlock, in
// parallel when rows*cols is large. Each block is owned by one thread, so a
// body that reduces over rows serially is race-free and deterministic.
template <class Body>
void for_each_column_block(index_t rows, index_t cols, Body&& body) {
  const index_t n_blocks = (cols + kColBlock - 1) / kColBlock;
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMinElems)
  for (index_t blk = 0; blk < n_blocks; ++blk) {
    const index_t c0 = blk * kColBlock;
    body(c0, std::min(cols, c0 + kColBlock));
  }
}

// Calls body(i) for i in [0, n), in parallel when n is large. For element-wise
// loops whose iterations are independent.
template <class Body>
void parallel_for(index_t n, index_t min_parallel, Body&& body) {
#pragma omp parallel for schedule(static) if (n >= min_parallel)
  for (index_t i = 0; i < n; ++i) body(i);
}

}  // namespace strata::kernels::cpu::detail
