#include "kernels/cpu/lr_schedule.h"

#include <cmath>
#include <numbers>
#include <stdexcept>

#include <gtest/gtest.h>

namespace strata::kernels::cpu {
namespace {

const LrSchedule kSchedule{1.0, 0.1, 10, 110};  // lr, min_lr, warmup, total

TEST(LrSchedule, LinearWarmupFromLrOverWarmup) {
  EXPECT_DOUBLE_EQ(lr_at_step(kSchedule, 0), 0.1);  // lr * 1/10, never 0
  EXPECT_DOUBLE_EQ(lr_at_step(kSchedule, 4), 0.5);
  EXPECT_DOUBLE_EQ(lr_at_step(kSchedule, 9), 1.0);
}

TEST(LrSchedule, CosineDecayToMinLr) {
  EXPECT_DOUBLE_EQ(lr_at_step(kSchedule, 10), 1.0);   // ratio 0
  EXPECT_DOUBLE_EQ(lr_at_step(kSchedule, 60), 0.55);  // ratio 1/2: midpoint
  const double quarter = 0.1 + 0.5 * (1.0 + std::cos(std::numbers::pi * 0.25)) * 0.9;
  EXPECT_DOUBLE_EQ(lr_at_step(kSchedule, 35), quarter);
  EXPECT_DOUBLE_EQ(lr_at_step(kSchedule, 110), 0.1);  // ratio 1
  for (index_t s = 10; s < 110; ++s)
    EXPECT_GT(lr_at_step(kSchedule, s), lr_at_step(kSchedule, s + 1)) << s;
}

TEST(LrSchedule, MinLrAfterTotal) {
  EXPECT_DOUBLE_EQ(lr_at_step(kSchedule, 111), 0.1);
  EXPECT_DOUBLE_EQ(lr_at_step(kSchedule, 100000), 0.1);
}

TEST(LrSchedule, EdgeCases) {
  const LrSchedule no_warmup{2.0, 0.0, 0, 4};
  EXPECT_DOUBLE_EQ(lr_at_step(no_warmup, 0), 2.0);
  EXPECT_DOUBLE_EQ(lr_at_step(no_warmup, 2), 1.0);
  const LrSchedule warmup_only{2.0, 0.5, 4, 4};
  EXPECT_DOUBLE_EQ(lr_at_step(warmup_only, 3), 2.0);
  EXPECT_DOUBLE_EQ(lr_at_step(warmup_only, 4), 0.5);
  EXPECT_THROW(lr_at_step(kSchedule, -1), std::invalid_argument);
  EXPECT_THROW(lr_at_step(LrSchedule{1.0, 0.0, 5, 4}, 0), std::invalid_argument);
}

}  // namespace
}  // namespace strata::kernels::cpu
