// Progress of a long run: a one-line bar with rate and ETA when stderr is a terminal,
// plain log lines otherwise (CI logs, files), so nothing fills logs with carriage returns.
#pragma once

#include <chrono>
#include <string>

#include "core/util/log.hpp"

namespace strata::run {

class Progress {
 public:
  Progress(util::Logger logger, int64_t total_steps, bool force_plain = false);
  // step is 1-based (steps done). `status` is appended: "loss 2.31 | 12.3k tok/s".
  void update(int64_t step, const std::string& status, bool log_line);
  void finish();

 private:
  util::Logger logger_;
  int64_t total_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_;
};

std::string format_duration(double seconds);

}  // namespace strata::run
