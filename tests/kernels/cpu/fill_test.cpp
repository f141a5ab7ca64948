#include "kernels/cpu/fill.h"

#include <cmath>
#include <limits>
#include <vector>

#include "tests/kernels/cpu/test_util.h"

namespace strata::kernels::cpu {
namespace {

// Sizes around the 2^16-element chunks (one chunk, a ragged second one, several), on 1 and
// 3 threads: exactly [0, n) becomes zero, the guard elements either side keep their NaN.
template <class T>
void expect_fills_exactly(index_t n, int threads) {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> buf(static_cast<size_t>(n + 2), nan);
  testing::with_threads(threads, [&] {
    fill_zero(buf.data() + 1, n);
    return 0;
  });
  EXPECT_TRUE(std::isnan(buf.front())) << "n " << n << ": wrote before the buffer";
  EXPECT_TRUE(std::isnan(buf.back())) << "n " << n << ": wrote past the buffer";
  for (index_t i = 1; i <= n; ++i)
    ASSERT_EQ(buf[static_cast<size_t>(i)], T{0}) << "n " << n << ", element " << i - 1;
}

TEST(Fill, ZeroesExactlyTheRange) {
  constexpr index_t kChunk = index_t{1} << 16;
  for (index_t n : {index_t{0}, index_t{1}, kChunk, kChunk + 3, 2 * kChunk, 3 * kChunk + 7})
    for (int threads : {1, 3}) {
      expect_fills_exactly<float>(n, threads);
      expect_fills_exactly<double>(n, threads);
    }
}

}  // namespace
}  // namespace strata::kernels::cpu
