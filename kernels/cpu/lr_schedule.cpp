#include "kernels/cpu/lr_schedule.h"

#include <cmath>
#include <numbers>
#include <stdexcept>

namespace strata::kernels::cpu {

double lr_at_step(const LrSchedule& sc, index_t step) {
  if (step < 0 || sc.warmup_steps < 0 || sc.total_steps < sc.warmup_steps)
    throw std::invalid_argument(
        "lr_at_step: need step >= 0 and 0 <= warmup_steps <= total_steps");
  if (step < sc.warmup_steps)
    return sc.lr * static_cast<double>(step + 1) /
           static_cast<double>(sc.warmup_steps);
  // Also covers total == warmup, where the cosine span is empty.
  if (step >= sc.total_steps) return sc.min_lr;
  const double ratio = static_cast<double>(step - sc.warmup_steps) /
                       static_cast<double>(sc.total_steps - sc.warmup_steps);
  const double coeff = 0.5 * (1.0 + std::cos(std::numbers::pi * ratio));
  return sc.min_lr + coeff * (sc.lr - sc.min_lr);
}

}  // namespace strata::kernels::cpu
