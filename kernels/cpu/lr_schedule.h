// Learning-rate schedule: linear warmup then cosine decay to min_lr.
#pragma once

#include "kernels/cpu/types.h"

namespace strata::kernels::cpu {

struct LrSchedule {
  double lr = 6e-4;       // peak
  double min_lr = 0.0;    // floor reached at total_steps
  index_t warmup_steps = 0;
  index_t total_steps = 0;  // >= warmup_steps
};

// Learning rate for 0-based step s:
//   s < warmup:              lr * (s + 1) / warmup
//   warmup <= s <= total:    min_lr + 0.5 (1 + cos(pi r)) (lr - min_lr),
//                            r = (s - warmup) / (total - warmup)
//   s > total:               min_lr
// (total == warmup: min_lr from s = warmup on.) Pure function. Throws
// std::invalid_argument for s < 0, warmup < 0 or total < warmup.
double lr_at_step(const LrSchedule& schedule, index_t step);

}  // namespace strata::kernels::cpu
