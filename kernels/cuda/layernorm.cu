#include "kernels/cuda/layernorm.h"

#include "kernels/cuda/colsum.cuh"
#include "kernels/cuda/common.cuh"

namespace strata::kernels::cuda {
using namespace detail;
namespace {

constexpr int kThreads = 256;
constexpr int kRowsPerBlock = kThreads / 32;  // one warp per row

__global__ void layernorm_forward_kernel(bf* out, float* mean, float* rstd, const bf* inp, const bf* weight,
                                         const bf* bias, index_t N, int C) {
  const index_t row = static_cast<index_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;  // whole warps leave together: the shuffles below stay full-warp
  const bf* x = inp + row * C;
  float s = 0.0f;
  for (int c = lane; c < C; c += 32) s += ld(x + c);
  const float m = warp_sum(s) / C;
  float v = 0.0f;
  for (int c = lane; c < C; c += 32) {
    const float d = ld(x + c) - m;
    v += d * d;
  }
  const float r = rsqrtf(warp_sum(v) / C + kLayerNormEps);
  bf* o = out + row * C;
  for (int c = lane; c < C; c += 32) st(o + c, (ld(x + c) - m) * r * ld(weight + c) + ld(bias + c));
  if (lane == 0) {
    mean[row] = m;
    rstd[row] = r;
  }
}

// dinp += (dnorm - mean(dnorm) - xhat * mean(dnorm * xhat)) * rstd, dnorm = dout * weight.
__global__ void layernorm_backward_dinp_kernel(bf* dinp, const bf* dout, const bf* inp, const bf* weight,
                                               const float* mean, const float* rstd, index_t N, int C) {
  const index_t row = static_cast<index_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  const bf* x = inp + row * C;
  const bf* dy = dout + row * C;
  const float m = mean[row], r = rstd[row];
  float s1 = 0.0f, s2 = 0.0f;
  for (int c = lane; c < C; c += 32) {
    const float dn = ld(dy + c) * ld(weight + c);
    s1 += dn;
    s2 += dn * (ld(x + c) - m) * r;
  }
  const float dn_mean = warp_sum(s1) / C, dn_xhat_mean = warp_sum(s2) / C;
  bf* dx = dinp + row * C;
  for (int c = lane; c < C; c += 32) {
    const float xhat = (ld(x + c) - m) * r;
    const float dn = ld(dy + c) * ld(weight + c);
    st(dx + c, ld(dx + c) + (dn - dn_mean - xhat * dn_xhat_mean) * r);
  }
}

// Per (row chunk, column): partial[chunk][c] = sum dout*xhat, partial[chunk][C + c] = sum dout.
__global__ void layernorm_param_partial_kernel(float* partial, const bf* dout, const bf* inp, const float* mean,
                                               const float* rstd, index_t N, int C) {
  __shared__ float sw[kColsumLanes][kColsumCols + 1];
  __shared__ float sb[kColsumLanes][kColsumCols + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int col = blockIdx.x * kColsumCols + tx;
  const index_t chunk = blockIdx.y;
  const index_t r0 = chunk * kColsumRows;
  const index_t r1 = r0 + kColsumRows < N ? r0 + kColsumRows : N;
  float aw = 0.0f, ab = 0.0f;
  if (col < C) {
    for (index_t r = r0 + ty; r < r1; r += kColsumLanes) {
      const float d = ld(dout + r * C + col);
      aw += d * (ld(inp + r * C + col) - mean[r]) * rstd[r];
      ab += d;
    }
  }
  sw[ty][tx] = aw;
  sb[ty][tx] = ab;
  __syncthreads();
  if (ty == 0 && col < C) {
    float w = 0.0f, b = 0.0f;
    for (int k = 0; k < kColsumLanes; ++k) {
      w += sw[k][tx];
      b += sb[k][tx];
    }
    partial[chunk * 2 * C + col] = w;
    partial[chunk * 2 * C + C + col] = b;
  }
}

// The same, for C % 8 == 0 and C <= 256 * kVec: 16-byte loads, and the row's dout and xhat
// kept in registers between the two passes instead of read twice.
template <int kVec>
__global__ void layernorm_backward_dinp_vec_kernel(bf* dinp, const bf* dout, const bf* inp, const bf* weight,
                                                   const float* mean, const float* rstd, index_t N, int C) {
  const index_t row = static_cast<index_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  const bf* x = inp + row * C;
  const bf* dy = dout + row * C;
  const float m = mean[row], r = rstd[row];
  const int chunks = C / 8;
  float dn[kVec][8], xhat[kVec][8];
  float s1 = 0.0f, s2 = 0.0f;
#pragma unroll
  for (int i = 0; i < kVec; ++i) {
    const int k = lane + 32 * i;
    if (k >= chunks) continue;
    float y[8], xv[8], w[8];
    ld8(y, dy + 8 * k);
    ld8(xv, x + 8 * k);
    ld8(w, weight + 8 * k);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      dn[i][j] = y[j] * w[j];
      xhat[i][j] = (xv[j] - m) * r;
      s1 += dn[i][j];
      s2 += dn[i][j] * xhat[i][j];
    }
  }
  const float dn_mean = warp_sum(s1) / C, dn_xhat_mean = warp_sum(s2) / C;
  bf* dx = dinp + row * C;
#pragma unroll
  for (int i = 0; i < kVec; ++i) {
    const int k = lane + 32 * i;
    if (k >= chunks) continue;
    float d[8];
    ld8(d, dx + 8 * k);
#pragma unroll
    for (int j = 0; j < 8; ++j) d[j] += (dn[i][j] - dn_mean - xhat[i][j] * dn_xhat_mean) * r;
    st8(dx + 8 * k, d);
  }
}

// layernorm_param_partial_kernel for C % 8 == 0: each thread sums 8 adjacent columns with
// 16-byte loads (a block covers 256 columns), then thread t of the block adds column t's
// 8 row-lane partials in order: fixed order, so the same bits run to run.
static_assert(kColsumLanes * kColsumCols == kColsumCols * 8, "a block's 256 threads sum its 256 columns");
__global__ void layernorm_param_partial_vec_kernel(float* partial, const bf* dout, const bf* inp, const float* mean,
                                                   const float* rstd, index_t N, int C) {
  constexpr int kSlab = kColsumCols * 8;
  __shared__ float sw[kColsumLanes][kSlab];
  __shared__ float sb[kColsumLanes][kSlab];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int col = (static_cast<int>(blockIdx.x) * kColsumCols + tx) * 8;
  const index_t chunk = blockIdx.y;
  const index_t r0 = chunk * kColsumRows;
  const index_t r1 = r0 + kColsumRows < N ? r0 + kColsumRows : N;
  float aw[8] = {}, ab[8] = {};
  if (col < C) {
    for (index_t r = r0 + ty; r < r1; r += kColsumLanes) {
      float d[8], x[8];
      ld8(d, dout + r * C + col);
      ld8(x, inp + r * C + col);
      const float m = mean[r], rs = rstd[r];
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        aw[j] += d[j] * (x[j] - m) * rs;
        ab[j] += d[j];
      }
    }
  }
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    sw[ty][tx * 8 + j] = aw[j];
    sb[ty][tx * 8 + j] = ab[j];
  }
  __syncthreads();
  const int t = ty * kColsumCols + tx;
  const int c = static_cast<int>(blockIdx.x) * kSlab + t;
  if (c < C) {
    float w = 0.0f, b = 0.0f;
    for (int k = 0; k < kColsumLanes; ++k) {
      w += sw[k][t];
      b += sb[k][t];
    }
    partial[chunk * 2 * C + c] = w;
    partial[chunk * 2 * C + C + c] = b;
  }
}

}  // namespace

void layernorm_forward(Stream stream, bf16* out, float* mean, float* rstd, const bf16* inp, const bf16* weight,
                       const bf16* bias, index_t N, index_t C) {
  if (N == 0) return;
  layernorm_forward_kernel<<<blocks_for(N, kRowsPerBlock), kThreads, 0, stream>>>(
      dev(out), mean, rstd, dev(inp), dev(weight), dev(bias), N, checked_int(C, "layernorm C"));
  STRATA_CUDA_CHECK_LAUNCH("layernorm_forward_kernel");
}

index_t layernorm_backward_scratch_floats(index_t N, index_t C) { return colsum_chunks(N) * 2 * C; }

void layernorm_backward(Stream stream, bf16* dinp, float* dweight, float* dbias, const bf16* dout, const bf16* inp,
                        const bf16* weight, const float* mean, const float* rstd, index_t N, index_t C,
                        float* scratch) {
  if (N == 0) return;
  const int c = checked_int(C, "layernorm C");
  // The 16-byte paths need 8-aligned rows and aligned pointers; anything else takes the
  // scalar kernels (same math).
  const bool vec = C % 8 == 0 && aligned16(dinp) && aligned16(dout) && aligned16(inp) && aligned16(weight);
  const unsigned int row_blocks = blocks_for(N, kRowsPerBlock);
  const int kvec = vec ? (c + 255) / 256 : 0;
  switch (kvec) {
    case 1: layernorm_backward_dinp_vec_kernel<1><<<row_blocks, kThreads, 0, stream>>>(dev(dinp), dev(dout), dev(inp), dev(weight), mean, rstd, N, c); break;
    case 2: layernorm_backward_dinp_vec_kernel<2><<<row_blocks, kThreads, 0, stream>>>(dev(dinp), dev(dout), dev(inp), dev(weight), mean, rstd, N, c); break;
    case 3: layernorm_backward_dinp_vec_kernel<3><<<row_blocks, kThreads, 0, stream>>>(dev(dinp), dev(dout), dev(inp), dev(weight), mean, rstd, N, c); break;
    case 4: layernorm_backward_dinp_vec_kernel<4><<<row_blocks, kThreads, 0, stream>>>(dev(dinp), dev(dout), dev(inp), dev(weight), mean, rstd, N, c); break;
    default:
      layernorm_backward_dinp_kernel<<<row_blocks, kThreads, 0, stream>>>(dev(dinp), dev(dout), dev(inp), dev(weight),
                                                                          mean, rstd, N, c);
  }
  STRATA_CUDA_CHECK_LAUNCH("layernorm_backward_dinp_kernel");
  const index_t chunks = colsum_chunks(N);
  if (chunks > 65535) throw std::invalid_argument("layernorm_backward: too many rows");
  if (vec) {
    const dim3 grid(blocks_for(C, kColsumCols * 8), static_cast<unsigned int>(chunks));
    layernorm_param_partial_vec_kernel<<<grid, dim3(kColsumCols, kColsumLanes), 0, stream>>>(
        scratch, dev(dout), dev(inp), mean, rstd, N, c);
  } else {
    const dim3 grid(blocks_for(C, kColsumCols), static_cast<unsigned int>(chunks));
    layernorm_param_partial_kernel<<<grid, dim3(kColsumCols, kColsumLanes), 0, stream>>>(
        scratch, dev(dout), dev(inp), mean, rstd, N, c);
  }
  STRATA_CUDA_CHECK_LAUNCH("layernorm_param_partial_kernel");
  launch_sum_partials(scratch, chunks, 2 * C, C, dweight, stream);
  launch_sum_partials(scratch + C, chunks, 2 * C, C, dbias, stream);
}

}  // namespace strata::kernels::cuda
