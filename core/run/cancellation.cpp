#include "core/run/cancellation.hpp"

#include <pthread.h>
#include <signal.h>

#include <ctime>

namespace strata::run {
namespace {

sigset_t watched_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

SignalWatcher::SignalWatcher(util::Logger logger) : logger_(std::move(logger)) {
  const sigset_t set = watched_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  thread_ = std::thread([this, set] {
    const timespec tick{0, 100'000'000};  // wake every 100 ms to notice shutdown
    while (!stop_.load()) {
      const int sig = sigtimedwait(&set, nullptr, &tick);
      if (sig <= 0) continue;
      signal_ = sig;
      if (!cancelled_.exchange(true)) {
        logger_->warn("received {}: finishing the current step, then saving a checkpoint and ending the run "
                      "(send it again to force)", sig == SIGINT ? "SIGINT" : "SIGTERM");
      } else {
        // Second signal: the user insists. Restore the default action and re-raise.
        logger_->error("second signal: stopping now");
        const sigset_t one = watched_signals();
        pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
        signal(sig, SIG_DFL);
        raise(sig);
      }
    }
  });
}

SignalWatcher::~SignalWatcher() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  const sigset_t set = watched_signals();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

}  // namespace strata::run
