// Precision conversions on the device: the fp32 master weights to their bf16 working copy,
// and bf16 buffers to fp32 (for reading activations back in tests and tools).
#pragma once

#include "kernels/cuda/types.h"

namespace strata::kernels::cuda {

// out[i] = bf16(in[i]) (round to nearest even). WRITTEN.
void convert_to_bf16(Stream stream, bf16* out, const float* in, index_t n);
// out[i] = float(in[i]) (exact). WRITTEN.
void convert_to_float(Stream stream, float* out, const bf16* in, index_t n);
// p[i] = value, for poisoning and filling bf16 buffers.
void fill_bf16(Stream stream, bf16* p, float value, index_t n);

}  // namespace strata::kernels::cuda
