// Deterministic column sums over N rows (internal). Bias and LayerNorm parameter
// gradients are sums over all rows; instead of atomics (whose order, and so whose float
// rounding, changes run to run) the rows are cut into fixed chunks of kColsumRows: a first
// kernel writes one partial sum per (chunk, column) to scratch, and launch_sum_partials
// adds the chunks in order. Same inputs, same bits, on any GPU.
#pragma once

#include <cuda_runtime.h>

#include "kernels/cuda/types.h"

namespace strata::kernels::cuda::detail {

inline constexpr int kColsumRows = 128;  // rows per chunk
inline constexpr int kColsumCols = 32;   // columns per block (one warp wide: coalesced rows)
inline constexpr int kColsumLanes = 8;   // row lanes per block

inline index_t colsum_chunks(index_t N) { return (N + kColsumRows - 1) / kColsumRows; }

// out[j] += sum over c < chunks of partials[c * stride + j], for j < width, in chunk order.
void launch_sum_partials(const float* partials, index_t chunks, index_t stride, index_t width, float* out,
                         cudaStream_t stream);

}  // namespace strata::kernels::cuda::detail
