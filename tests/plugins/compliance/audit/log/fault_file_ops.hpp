// FileOps test doubles for the segment store: failure injection (EIO, ENOSPC on the k-th
// write / fsync / open) and a simulated disk that can "lose power" (drop every write that
// was not fsynced, and directory entries that were not made durable).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>

#include "plugins/compliance/audit/log/segment_store.hpp"

namespace strata::audit::test {

enum class Op { open, write, fsync, ftruncate, close, unlink };

// Passes calls to POSIX, counting them per kind; fails the n-th call of one kind (counted
// from arm()) with the given errno, and every later call of that kind too if `sticky`.
class FaultyFileOps final : public FileOps {
 public:
  void arm(Op op, int nth, int err, bool sticky = false) {
    target_ = op;
    nth_ = nth;
    err_ = err;
    sticky_ = sticky;
    armed_ = true;
    counts_.clear();
  }
  void disarm() { armed_ = false; }
  int count(Op op) const {
    const auto it = counts_.find(op);
    return it == counts_.end() ? 0 : it->second;
  }
  // Writes at most this many bytes per call (0: unlimited), to exercise short writes.
  size_t max_write = 0;
  // false: a successful fsync does not reach the disk (for fast tests that only count calls).
  bool real_fsync = true;

  int open(const std::filesystem::path& path, int flags, mode_t mode) override {
    if (fail(Op::open)) return -1;
    return ::open(path.c_str(), flags, mode);
  }
  ssize_t write(int fd, const void* data, size_t size) override {
    if (fail(Op::write)) return -1;
    if (max_write && size > max_write) size = max_write;
    return ::write(fd, data, size);
  }
  int fsync(int fd) override {
    if (fail(Op::fsync)) return -1;
    return real_fsync ? ::fsync(fd) : 0;
  }
  int ftruncate(int fd, off_t length) override { return fail(Op::ftruncate) ? -1 : ::ftruncate(fd, length); }
  int close(int fd) override {
    if (fail(Op::close)) {
      ::close(fd);
      return -1;
    }
    return ::close(fd);
  }
  int unlink(const std::filesystem::path& path) override { return fail(Op::unlink) ? -1 : ::unlink(path.c_str()); }

 private:
  bool fail(Op op) {
    const int n = ++counts_[op];
    if (!armed_ || op != target_) return false;
    if (n == nth_ || (sticky_ && n > nth_)) {
      errno = err_;
      return true;
    }
    return false;
  }
  std::map<Op, int> counts_;
  bool armed_ = false;
  Op target_ = Op::write;
  int nth_ = 0;
  int err_ = EIO;
  bool sticky_ = false;
};

// A disk model on top of the real file system: it remembers, per file, how many bytes an
// fsync made durable, and which created files have a durable directory entry. lose_power()
// then rewrites the directory as a power cut could leave it: every file cut back to its
// durable length plus a random prefix of the unsynced bytes (kept as written, or zeroed),
// and files whose directory entry was never fsynced either gone or kept likewise.
class SimulatedDisk final : public FileOps {
 public:
  explicit SimulatedDisk(uint64_t seed) : rng_(seed) {}

  // The machine dies during the n-th write or fsync from now (n >= 1): that write stores a
  // random prefix of its bytes, that fsync does nothing; both fail with EIO, as does every
  // later call, until lose_power(). 0: never.
  void crash_after(int n) { countdown_ = n; }

  int open(const std::filesystem::path& path, int flags, mode_t mode) override {
    if (dead_) return dead();
    const int fd = ::open(path.c_str(), flags, mode);
    if (fd < 0) return fd;
    const std::string p = std::filesystem::path(path).lexically_normal().string();
    if (flags & O_DIRECTORY) {
      dir_fds_.insert(fd);
    } else {
      fd_path_[fd] = p;
      if ((flags & O_CREAT) && (flags & O_EXCL)) {
        durable_len_[p] = 0;
        entry_pending_.insert(p);
      } else if (!durable_len_.count(p)) {
        struct stat st;
        ::fstat(fd, &st);
        durable_len_[p] = static_cast<uint64_t>(st.st_size);  // existing file: durable as found
      }
    }
    return fd;
  }
  ssize_t write(int fd, const void* data, size_t size) override {
    if (dead_) return dead();
    if (tick()) {
      [[maybe_unused]] ssize_t n = ::write(fd, data, rng_() % (size + 1));
      return dead();
    }
    return ::write(fd, data, size);
  }
  int fsync(int fd) override {
    if (dead_) return dead();
    if (tick()) return dead();
    // Durability is modelled here, so the real fsync is not needed.
    if (dir_fds_.count(fd)) {
      entry_pending_.clear();
    } else if (const auto it = fd_path_.find(fd); it != fd_path_.end()) {
      struct stat st;
      ::fstat(fd, &st);
      durable_len_[it->second] = static_cast<uint64_t>(st.st_size);
    }
    return 0;
  }
  int ftruncate(int fd, off_t length) override {
    if (dead_) return dead();
    const int rc = ::ftruncate(fd, length);
    if (const auto it = fd_path_.find(fd); rc == 0 && it != fd_path_.end())
      durable_len_[it->second] = std::min<uint64_t>(durable_len_[it->second], static_cast<uint64_t>(length));
    return rc;
  }
  int close(int fd) override {
    dir_fds_.erase(fd);
    fd_path_.erase(fd);
    return ::close(fd);
  }
  int unlink(const std::filesystem::path& path) override {
    if (dead_) return dead();
    const std::string p = std::filesystem::path(path).lexically_normal().string();
    durable_len_.erase(p);
    entry_pending_.erase(p);
    return ::unlink(path.c_str());
  }

  // Call after the writer is gone. Returns a description of what was dropped.
  std::string lose_power() {
    dead_ = false;
    countdown_ = 0;
    std::string what;
    for (const auto& [path, durable] : durable_len_) {
      std::error_code ec;
      const uint64_t size = std::filesystem::file_size(path, ec);
      if (ec) continue;
      if (entry_pending_.count(path) && rng_() % 2 == 0) {
        std::filesystem::remove(path);
        what += " removed " + std::filesystem::path(path).filename().string();
        continue;
      }
      const uint64_t unsynced = size > durable ? size - durable : 0;
      const uint64_t keep = unsynced ? rng_() % (unsynced + 1) : 0;
      const bool zero = rng_() % 4 == 0;
      if (zero && keep > 0) {
        const int fd = ::open(path.c_str(), O_WRONLY);
        std::string zeros(keep, '\0');
        [[maybe_unused]] ssize_t n = ::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(durable));
        ::close(fd);
      }
      std::filesystem::resize_file(path, durable + keep);
      if (unsynced)
        what += " " + std::filesystem::path(path).filename().string() + ": kept " + std::to_string(keep) + "/" +
                std::to_string(unsynced) + " unsynced bytes" + (zero ? " zeroed" : "");
    }
    durable_len_.clear();
    entry_pending_.clear();
    return what;
  }

 private:
  bool tick() {
    if (countdown_ > 0 && --countdown_ == 0) {
      dead_ = true;
      return true;
    }
    return false;
  }
  int dead() {
    errno = EIO;
    return -1;
  }

  int countdown_ = 0;
  bool dead_ = false;
  std::mt19937_64 rng_;
  std::map<int, std::string> fd_path_;
  std::set<int> dir_fds_;
  std::map<std::string, uint64_t> durable_len_;
  std::set<std::string> entry_pending_;
};

}  // namespace strata::audit::test
