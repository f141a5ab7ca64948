// Shared vocabulary of the CPU kernels: index type and the shape structs that
// several kernel families take. Public header: no OpenMP, no BLAS.
#pragma once

#include <cstdint>

namespace strata::kernels::cpu {

// Signed 64-bit indices: B*T*V for GPT-2 sized vocabularies overflows int32
// offsets, and OpenMP loops want a signed induction variable.
using index_t = std::int64_t;

// Token ids and cross-entropy targets are int32, as in llm.c data files.
using token_t = std::int32_t;

// How a backward kernel treats an input-gradient buffer: accumulate into it
// (+=), or write it, so that the caller need not zero-fill it first.
enum class InputGrad { kAccumulate, kWrite };

}  // namespace strata::kernels::cpu
