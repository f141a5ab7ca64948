// Hang and desync diagnosis for distributed runs. CheckedComm wraps a communicator table:
// every call is numbered per group (the world, and each communicator split from it) and
// described by its signature (kind, dtype, count, op or root, peer), and each rank
// publishes what it is doing in a small status file in a shared folder. A watchdog thread
// notices when this rank has waited in one call longer than the timeout, reads every
// rank's status, and reports which ranks are in which call: ranks in a different call of
// the same number have desynchronised, ranks at a lower number are behind. It then ends the
// process (exit code 124) so the launcher tears the job down, instead of hanging.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "strata/abi/comm.h"

namespace strata::comm {

struct WatchdogOptions {
  double timeout_s = 300;               // 0 disables the watchdog (calls are still numbered)
  std::filesystem::path status_dir;     // shared by all ranks (the run directory's watchdog/)
  // Receives the report lines; then the process ends. Tests replace `on_hang`.
  std::function<void(const std::string&)> log;
  std::function<void()> on_hang;        // default: std::_Exit(124)
};

class CheckedComm {
 public:
  CheckedComm(const strata_comm* inner, int rank, int size, WatchdogOptions options);
  ~CheckedComm();
  CheckedComm(const CheckedComm&) = delete;
  CheckedComm& operator=(const CheckedComm&) = delete;

  const strata_comm* comm() const;  // the wrapped world

  // The next call this rank makes may wait for long for a good reason (rank 0 alone is
  // writing a checkpoint or evaluating): the timeout does not apply until that call ends.
  void expect_long_wait();

  // Implementation details shared with the wrapped tables.
  struct Group;
  void enter(Group& g, const std::string& signature, bool collective);
  void leave(Group& g);
  Group* adopt(strata_comm* inner_child, const std::string& name);
  void forget(Group* g);

 private:
  void publish_status();
  void watch();
  std::string report();

  int rank_, size_;
  WatchdogOptions options_;
  std::unique_ptr<Group> world_;
  std::vector<std::unique_ptr<Group>> children_;
  int splits_ = 0;

  // This rank's state, written by the calling thread, read by the watchdog.
  std::mutex mutex_;
  bool in_call_ = false;
  bool long_wait_expected_ = false;
  std::string group_name_, signature_;
  uint64_t seq_ = 0;
  int64_t since_ns_ = 0;         // wall clock, for the reports
  int64_t since_steady_ns_ = 0;  // monotonic, for the timeout
  int status_fd_ = -1;

  std::atomic<bool> stop_{false};
  std::condition_variable wake_;
  std::thread thread_;
};

// Parses one status file's text; empty on garbage. Exposed for tests.
struct RankStatus {
  int rank = -1;
  bool in_call = false;
  std::string group, signature;
  uint64_t seq = 0;
  int64_t since_ns = 0;
  std::map<std::string, uint64_t> calls;  // calls made so far in each group
};
RankStatus parse_status(const std::string& text);

}  // namespace strata::comm
