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
  layernorm_backward_dinp_kernel<<<blocks_for(N, kRowsPerBlock), kThreads, 0, stream>>>(
      dev(dinp), dev(dout), dev(inp), dev(weight), mean, rstd, N, c);
  STRATA_CUDA_CHECK_LAUNCH("layernorm_backward_dinp_kernel");
  const index_t chunks = colsum_chunks(N);
  if (chunks > 65535) throw std::invalid_argument("layernorm_backward: too many rows");
  const dim3 grid(blocks_for(C, kColsumCols), static_cast<unsigned int>(chunks));
  layernorm_param_partial_kernel<<<grid, dim3(kColsumCols, kColsumLanes), 0, stream>>>(scratch, dev(dout), dev(inp),
                                                                                        mean, rstd, N, c);
  STRATA_CUDA_CHECK_LAUNCH("layernorm_param_partial_kernel");
  launch_sum_partials(scratch, chunks, 2 * C, C, dweight, stream);
  launch_sum_partials(scratch + C, chunks, 2 * C, C, dbias, stream);
}

}  // namespace strata::kernels::cuda
