// Fused AdamW over one flat parameter buffer, and global gradient-norm
// clipping. Semantics follow torch.optim.AdamW (amsgrad=False, maximize=False)
// and torch.nn.utils.clip_grad_norm_ (norm_type=2).
// Instantiated for T = float and T = double only.
#pragma once

#include <span>

#include "kernels/cpu/types.h"

namespace strata::kernels::cpu {

struct AdamWHyper {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
};

// Elements [begin, end) of the flat buffer that receive weight decay
// (typically the matmul weights; not biases, LayerNorm gains, embeddings --
// the caller decides). Ranges must be sorted, non-overlapping, within [0, n].
struct DecayRange {
  index_t begin = 0;
  index_t end = 0;
};

// One AdamW step over param/grad/m/v [n] in a single pass. step is 1-based
// (torch's state["step"] after its increment). Per element, in torch's order:
//   p *= 1 - lr*wd                           (decoupled decay; decayed ranges)
//   m  = lerp(m, g, 1 - beta1)               (torch's lerp_ formula)
//   v  = v*beta2 + (1 - beta2)*g*g
//   p += -(lr / (1 - beta1^step)) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
// Scalars are formed in double (as Python does) and rounded to T; element
// math is in T (as torch's float kernels). Throws std::invalid_argument for
// step < 1 or malformed ranges.
template <class T>
void adamw_step(T* param, const T* grad, T* m, T* v, index_t n,
                const AdamWHyper& hp, index_t step,
                std::span<const DecayRange> decay_ranges);

// sqrt(sum grad^2), accumulated in double; bitwise independent of the number
// of threads (fixed chunks summed in order).
template <class T>
double grad_l2_norm(const T* grad, index_t n);

// torch.nn.utils.clip_grad_norm_: norm = grad_l2_norm; coef = max_norm /
// (norm + 1e-6); grad *= coef when coef < 1 (a NaN norm gives a NaN coef that
// is applied, as torch's clamp(coef, max=1) would). Returns the norm before
// clipping, like torch.
template <class T>
double clip_grad_norm(T* grad, index_t n, double max_norm);

}  // namespace strata::kernels::cpu
