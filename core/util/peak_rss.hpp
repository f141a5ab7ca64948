// The process's peak resident set size, as summary.json and the benchmarks report it.
#pragma once

#include <sys/resource.h>

#include <cstdint>

namespace strata::util {

inline uint64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace strata::util
