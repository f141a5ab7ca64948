// Turns SIGINT/SIGTERM into a cancellation flag the training loop polls, so a signal ends
// the run cleanly (final checkpoint, run_end) instead of killing it mid-write. The signals
// are blocked in every thread and received by one watcher thread with sigtimedwait, so no
// async-signal handler and no global state are involved.
#pragma once

#include <atomic>
#include <thread>

#include "core/util/log.hpp"

namespace strata::run {

class SignalWatcher {
 public:
  // Call before starting other threads (OpenMP, BLAS) so they inherit the blocked mask.
  explicit SignalWatcher(util::Logger logger);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  const std::atomic<bool>& cancelled() const { return cancelled_; }
  int signal_number() const { return signal_.load(); }

 private:
  util::Logger logger_;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> stop_{false};
  std::atomic<int> signal_{0};
  std::thread thread_;
};

}  // namespace strata::run
