// Durable append-only record store for the audit log (governance.md §6).
//
// Layout: a directory of segment files segment-000000.log, segment-000001.log, ... Each
// starts with a 32-byte header
//   "STRAUDIT" | u32 format version (1) | u64 segment number | u64 index of its first record
//   | u32 CRC32C of the previous 28 bytes                         (integers little-endian)
// followed by records
//   u32 payload length (1 .. kMaxRecordBytes) | payload | u32 CRC32C(payload)
// A new segment starts when the current one has reached StoreOptions::rotate_bytes. Record
// indices run on across segments (one Merkle tree spans them all; the caller keeps it).
//
// Durability: append() only buffers; sync() writes the buffered records, fsyncs each file
// it wrote to and, after creating a segment, the directory. A record is acknowledged once
// the sync() that covers it has returned. Any write/fsync/open error poisons the writer
// (fail-stop): fsync is never retried, because Linux may drop the failed pages and report
// success the second time.
//
// Recovery (SegmentWriter::open) accepts exactly one kind of damage: a torn end of the LAST
// segment (a record cut short, a bad CRC on the final record, zero-filled space, or an
// incomplete header of a freshly created last segment), which it truncates and reports.
// Anything else (a bad record followed by a valid one, a damaged earlier segment, a
// missing, duplicated or renumbered segment, a wrong first-record index) throws
// AuditCorruptionError naming the file and offset; nothing in the middle is ever repaired.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace strata::audit {

class AuditIoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// Damaged or inconsistent store contents (as opposed to a failing system call).
class AuditCorruptionError : public AuditIoError {
 public:
  using AuditIoError::AuditIoError;
};

inline constexpr uint32_t kSegmentFormatVersion = 1;
inline constexpr uint64_t kSegmentHeaderBytes = 32;
inline constexpr uint32_t kMaxRecordBytes = 16u << 20;  // 16 MiB

// "segment-000003.log" for 3 (at least six digits).
std::string segment_file_name(uint64_t number);

// The system calls the writer makes, so that tests can inject failures (EIO, ENOSPC) and
// simulate power loss without LD_PRELOAD. Each returns what the POSIX call returns and sets
// errno the same way.
class FileOps {
 public:
  virtual ~FileOps() = default;
  virtual int open(const std::filesystem::path& path, int flags, mode_t mode) = 0;
  virtual ssize_t write(int fd, const void* data, size_t size) = 0;
  virtual int fsync(int fd) = 0;
  virtual int ftruncate(int fd, off_t length) = 0;
  virtual int close(int fd) = 0;
  virtual int unlink(const std::filesystem::path& path) = 0;
};
// The plain POSIX implementation (shared, stateless).
std::shared_ptr<FileOps> posix_file_ops();

struct StoreOptions {
  uint64_t rotate_bytes = 64ull << 20;
  std::shared_ptr<FileOps> file_ops;  // null: posix_file_ops()
};

struct RecoveryReport {
  uint64_t records = 0;          // intact records found (and passed to on_record)
  uint64_t truncated_bytes = 0;  // bytes cut from the torn tail (0 if none)
  std::string truncated_at;      // "segment-000003.log offset 4096", or empty
  std::string reason;            // why the tail was torn (e.g. "bad CRC"), or empty
};

class SegmentWriter {
 public:
  using RecordCallback = std::function<void(uint64_t index, std::span<const uint8_t> payload)>;

  // Opens or creates the store in `dir` (creating the directory if needed) and recovers it
  // as described above, calling on_record(index, payload) for each intact record in order
  // so that the caller can rebuild its Merkle tree; `report` may be null. Takes an
  // exclusive flock on the directory: a second writer on the same store fails.
  // Throws AuditIoError (or AuditCorruptionError) naming the file and offset.
  static std::unique_ptr<SegmentWriter> open(const std::filesystem::path& dir, StoreOptions options,
                                             const RecordCallback& on_record, RecoveryReport* report);

  // Closes the files and releases the lock WITHOUT syncing: records appended after the
  // last successful sync() were never acknowledged and may be lost.
  ~SegmentWriter();
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;

  // Buffers one record and returns its index. Throws std::invalid_argument for an empty
  // payload or one over kMaxRecordBytes (the writer stays usable), AuditIoError if poisoned.
  uint64_t append(std::span<const uint8_t> payload);
  // Makes every appended record durable (write + fsync; directory fsync after creating a
  // segment). Group commit: call it once per batch. A no-op when nothing is pending.
  // On failure the writer is poisoned and this and every later append/sync throws
  // AuditIoError with the original error (operation, path, errno text).
  void sync();

  uint64_t size() const { return size_; }                  // records, durable or not
  uint64_t durable_size() const { return durable_size_; }  // records covered by a successful sync()
  bool poisoned() const { return poison_.has_value(); }     // (size/durable_size/poisoned never throw)
  const std::filesystem::path& dir() const { return dir_; }
  uint64_t segment_count() const { return current_segment_ + 1 + pending_new_segments_; }

 private:
  struct Chunk {
    uint64_t segment;
    bool create;  // the segment file does not exist yet
    std::vector<uint8_t> bytes;
    uint64_t records = 0;
  };

  SegmentWriter(std::filesystem::path dir, StoreOptions options);
  [[noreturn]] void poison(const std::string& what, const std::filesystem::path& path, int err);
  void check_poison() const;
  void write_all(int fd, const uint8_t* data, size_t size, const std::filesystem::path& path);
  void fsync_dir();

  std::filesystem::path dir_;
  StoreOptions options_;
  std::shared_ptr<FileOps> ops_;
  int lock_fd_ = -1;
  int fd_ = -1;                    // current (last) segment, open for appending
  uint64_t current_segment_ = 0;   // number of the segment fd_ refers to
  uint64_t pending_new_segments_ = 0;
  uint64_t tail_bytes_ = 0;        // logical size of the last segment, pending bytes included
  uint64_t tail_records_ = 0;      // records in the last segment, pending included
  std::vector<Chunk> pending_;
  uint64_t size_ = 0;
  uint64_t durable_size_ = 0;
  std::optional<std::string> poison_;
};

// Read-only strict scan for verification. Every record with its location; a torn tail of
// the last segment is reported in torn_tail (not an error by itself: the verifier decides);
// any other damage throws AuditCorruptionError naming the file and offset, and I/O errors
// throw AuditIoError.
struct StoredRecord {
  uint64_t index = 0;
  std::string segment;  // file name, e.g. "segment-000003.log"
  uint64_t offset = 0;  // of the record's length field
  std::vector<uint8_t> payload;
};
struct StoreScan {
  std::vector<StoredRecord> records;
  std::string torn_tail;     // "segment-000003.log offset 4096: <reason> (N bytes)", empty if none
  uint64_t torn_bytes = 0;
  uint64_t segments = 0;     // segment files read
};
StoreScan scan_store(const std::filesystem::path& dir);

}  // namespace strata::audit
