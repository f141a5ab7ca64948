#include "core/run/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace strata::run {

std::string format_duration(double seconds) {
  if (seconds < 0) seconds = 0;
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  return buf;
}

Progress::Progress(util::Logger logger, int64_t total_steps, bool force_plain)
    : logger_(std::move(logger)), total_(total_steps), terminal_(!force_plain && isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

void Progress::update(int64_t step, const std::string& status, bool log_line) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double eta = step > 0 ? elapsed / static_cast<double>(step) * static_cast<double>(total_ - step) : 0;
  if (terminal_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * step / std::max<int64_t>(total_, 1));
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(kWidth - filled), '.');
    std::fprintf(stderr, "\r[%s] %lld/%lld | %s | ETA %s   ", bar.c_str(), static_cast<long long>(step),
                 static_cast<long long>(total_), status.c_str(), format_duration(eta).c_str());
    std::fflush(stderr);
    if (log_line && step == total_) std::fprintf(stderr, "\n");
  } else if (log_line) {
    logger_->info("step {}/{} | {} | elapsed {} | ETA {}", step, total_, status, format_duration(elapsed),
                  format_duration(eta));
  }
}

void Progress::finish() {
  if (terminal_) std::fprintf(stderr, "\n");
}

}  // namespace strata::run
