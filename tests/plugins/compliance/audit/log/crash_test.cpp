// T6: kill -9 while writing. A helper process appends, syncs and prints what it has
// acknowledged; the test kills it with SIGKILL at a random moment of that loop, recovers
// the store in-process and checks that every acknowledged record is present and intact,
// and that recovery cut at most one torn record. STRATA_AUDIT_KILL_TRIALS overrides the
// number of trials (default 200).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <thread>

#include "plugins/compliance/audit/log/segment_store.hpp"
#include "tests/plugins/compliance/audit/log/crash_payload.hpp"
#include "tests/plugins/compliance/audit/log/test_support.hpp"

namespace strata::audit {
namespace {

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of its stdout
};

Child spawn_writer(const std::filesystem::path& dir, uint64_t seed, uint64_t rotate) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const std::string d = dir.string(), s = std::to_string(seed), r = std::to_string(rotate);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execl(AUDIT_LOG_CRASH_WRITER, AUDIT_LOG_CRASH_WRITER, d.c_str(), s.c_str(), r.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  return {pid, fds[0]};
}

// Reads until a full line is available; returns false at EOF.
bool read_line(int fd, std::string& buffer, std::string& line) {
  for (;;) {
    const size_t nl = buffer.find('\n');
    if (nl != std::string::npos) {
      line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      return true;
    }
    char chunk[4096];
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
  }
}

TEST(AuditLogKill9, AcknowledgedRecordsSurviveSigkill) {
  const char* env = std::getenv("STRATA_AUDIT_KILL_TRIALS");
  const int trials = env ? std::atoi(env) : 200;
  test::TempDir tmp;
  const auto dir = tmp.path() / "log";
  const uint64_t rotate = 16 * 1024;  // many rotations over the run
  std::mt19937_64 rng(std::random_device{}());
  const uint64_t seed0 = rng();
  uint64_t acked_max = 0, lost = 0, torn_tails = 0, torn_bytes = 0, killed_in_loop = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < trials; ++t) {
    Child c = spawn_writer(dir, seed0 + static_cast<uint64_t>(t), rotate);
    std::string buffer, line;
    ASSERT_TRUE(read_line(c.out, buffer, line)) << "the writer did not start";
    ASSERT_TRUE(line.starts_with("ready ")) << line;
    // Kill at a uniformly random moment of the append/sync/ack loop (0 to 25 ms in).
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 25000));
    ::kill(c.pid, SIGKILL);
    uint64_t acked = 0;
    while (read_line(c.out, buffer, line)) {
      if (line.starts_with("ack ")) acked = std::stoull(line.substr(4));
    }
    ::close(c.out);
    int status = 0;
    ::waitpid(c.pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "trial " << t << ": the writer exited by itself";
    if (acked > 0) ++killed_in_loop;
    acked_max = std::max(acked_max, acked);

    // Recover and check.
    RecoveryReport report;
    uint64_t present = 0;
    bool intact = true;
    {
      auto w = SegmentWriter::open(
          dir, StoreOptions{rotate, nullptr},
          [&](uint64_t i, std::span<const uint8_t> p) {
            if (std::string(p.begin(), p.end()) != test::crash_payload(i)) intact = false;
            ++present;
          },
          &report);
    }
    ASSERT_TRUE(intact) << "trial " << t << ": a recovered record differs from what was written";
    if (present < acked_max) lost += acked_max - present;
    ASSERT_GE(present, acked_max) << "trial " << t << ": acknowledged records lost";
    if (report.truncated_bytes > 0) {
      ++torn_tails;
      torn_bytes += report.truncated_bytes;
      EXPECT_LT(report.truncated_bytes, 8 + test::kCrashMaxPayload) << "recovery cut more than one record";
    }
    const StoreScan scan = scan_store(dir);
    ASSERT_TRUE(scan.torn_tail.empty());
    ASSERT_EQ(scan.records.size(), present);
    acked_max = present;  // every record now on disk is the baseline for the next trial
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ kill -9  ] %d SIGKILL trials in %.1f s: %llu records on disk, %llu acknowledged records lost, "
              "%llu kills after at least one ack, %llu torn tails cut (%llu bytes), %zu segments\n",
              trials, secs, static_cast<unsigned long long>(acked_max), static_cast<unsigned long long>(lost),
              static_cast<unsigned long long>(killed_in_loop), static_cast<unsigned long long>(torn_tails),
              static_cast<unsigned long long>(torn_bytes), static_cast<size_t>(scan_store(dir).segments));
  EXPECT_EQ(lost, 0u);
  EXPECT_GT(killed_in_loop, static_cast<uint64_t>(trials) / 2);
}

}  // namespace
}  // namespace strata::audit
