#include "plugins/compliance/audit/log/segment_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "plugins/compliance/audit/log/crc32c.hpp"

namespace strata::audit {
namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'S', 'T', 'R', 'A', 'U', 'D', 'I', 'T'};
constexpr std::string_view kPrefix = "segment-";
constexpr std::string_view kSuffix = ".log";

void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get_u32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::array<uint8_t, kSegmentHeaderBytes> make_header(uint64_t segment, uint64_t first_index) {
  std::array<uint8_t, kSegmentHeaderBytes> h{};
  std::memcpy(h.data(), kMagic, 8);
  put_u32(h.data() + 8, kSegmentFormatVersion);
  put_u64(h.data() + 12, segment);
  put_u64(h.data() + 20, first_index);
  put_u32(h.data() + 28, crc32c(std::span(h.data(), 28)));
  return h;
}

void append_record(std::vector<uint8_t>& out, std::span<const uint8_t> payload) {
  const size_t at = out.size();
  out.resize(at + 8 + payload.size());
  put_u32(out.data() + at, static_cast<uint32_t>(payload.size()));
  std::memcpy(out.data() + at + 4, payload.data(), payload.size());
  put_u32(out.data() + at + 4 + payload.size(), crc32c(payload));
}

std::string errno_text(int err) { return std::strerror(err); }

[[noreturn]] void io_error(const std::string& what, const fs::path& path, int err) {
  throw AuditIoError(what + " " + path.string() + ": " + errno_text(err));
}

[[noreturn]] void corrupt(const fs::path& file, uint64_t offset, const std::string& what) {
  throw AuditCorruptionError(file.string() + " offset " + std::to_string(offset) + ": " + what);
}

// Segment numbers present in `dir`, sorted. Names that look like segments but are not
// spelled canonically are an error; other files are ignored.
std::vector<uint64_t> list_segments(const fs::path& dir) {
  std::vector<uint64_t> numbers;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) throw AuditIoError("cannot list audit log directory " + dir.string() + ": " + ec.message());
  for (const fs::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix)) continue;
    const std::string digits = name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
    const bool all_digits = !digits.empty() && digits.size() <= 19 &&
                            std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!all_digits || segment_file_name(std::stoull(digits)) != name)
      throw AuditCorruptionError("unexpected file " + (dir / name).string() +
                                 ": segment files are named segment-NNNNNN.log");
    numbers.push_back(std::stoull(digits));
  }
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

std::vector<uint8_t> read_file(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) io_error("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    io_error("cannot stat", path, err);
  }
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      io_error("cannot read", path, err);
    }
    if (n == 0) break;  // shrank meanwhile
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  ::close(fd);
  return data;
}

// Is there a well-formed record (sane length, matching CRC) starting anywhere in
// data[from, end)? Used to tell a torn tail (nothing valid follows) from damage in the
// middle of the last segment.
bool valid_record_after(const std::vector<uint8_t>& data, size_t from) {
  for (size_t y = from; y + 8 < data.size() + 0; ++y) {
    const uint32_t len = get_u32(data.data() + y);
    if (len == 0 || len > kMaxRecordBytes || y + 8 + len > data.size()) continue;
    const auto payload = std::span(data.data() + y + 4, len);
    if (crc32c(payload) == get_u32(data.data() + y + 4 + len)) return true;
  }
  return false;
}

struct TornTail {
  uint64_t segment = 0;
  uint64_t offset = 0;
  uint64_t bytes = 0;
  bool whole_file = false;  // the last segment's header itself is incomplete
  std::string reason;
};

struct ScanState {
  uint64_t segments = 0;
  uint64_t records = 0;
  uint64_t last_end = 0;      // end of the intact part of the last segment
  uint64_t last_records = 0;  // intact records in the last segment
  std::optional<TornTail> torn;
};

using Visitor = std::function<void(uint64_t index, const std::string& file, uint64_t offset, std::span<const uint8_t>)>;

// Explains why a header differs from the expected one.
std::string header_problem(const std::vector<uint8_t>& data, const std::array<uint8_t, kSegmentHeaderBytes>& expected) {
  if (data.size() < kSegmentHeaderBytes)
    return "incomplete segment header (" + std::to_string(data.size()) + " of " + std::to_string(kSegmentHeaderBytes) +
           " bytes)";
  if (std::memcmp(data.data(), kMagic, 8) != 0) return "bad segment magic (not an audit log segment)";
  if (get_u32(data.data() + 28) != crc32c(std::span(data.data(), 28))) return "segment header CRC mismatch";
  if (get_u32(data.data() + 8) != kSegmentFormatVersion)
    return "unsupported segment format version " + std::to_string(get_u32(data.data() + 8));
  if (get_u64(data.data() + 12) != get_u64(expected.data() + 12))
    return "header says segment " + std::to_string(get_u64(data.data() + 12)) +
           " (segment renamed, reordered or duplicated)";
  if (get_u64(data.data() + 20) != get_u64(expected.data() + 20))
    return "header says the first record is " + std::to_string(get_u64(data.data() + 20)) + ", expected " +
           std::to_string(get_u64(expected.data() + 20)) + " (records missing or duplicated before this segment)";
  return "segment header differs from the expected one";
}

// A last segment whose header never made it to disk completely: each byte present is the
// expected one or zero, and nothing but zeros follows.
bool torn_header(const std::vector<uint8_t>& data, const std::array<uint8_t, kSegmentHeaderBytes>& expected) {
  for (size_t j = 0; j < data.size(); ++j) {
    if (data[j] == 0) continue;
    if (j >= kSegmentHeaderBytes || data[j] != expected[j]) return false;
  }
  return true;
}

ScanState scan_segments(const fs::path& dir, const Visitor& visit) {
  ScanState st;
  const std::vector<uint64_t> numbers = list_segments(dir);
  for (size_t i = 0; i < numbers.size(); ++i) {
    if (numbers[i] != i) {
      const uint64_t missing = i;
      throw AuditCorruptionError((dir / segment_file_name(missing)).string() + " is missing (found " +
                                 segment_file_name(numbers[i]) + "): a segment was deleted or renamed");
    }
  }
  st.segments = numbers.size();
  for (uint64_t seg = 0; seg < numbers.size(); ++seg) {
    const bool last = seg + 1 == numbers.size();
    const std::string name = segment_file_name(seg);
    const fs::path path = dir / name;
    const std::vector<uint8_t> data = read_file(path);
    const auto expected = make_header(seg, st.records);
    if (data.size() < kSegmentHeaderBytes || std::memcmp(data.data(), expected.data(), kSegmentHeaderBytes) != 0) {
      if (last && torn_header(data, expected)) {
        st.torn = TornTail{seg, 0, data.size(), true, header_problem(data, expected)};
        st.last_end = 0;
        st.last_records = 0;
        return st;
      }
      corrupt(path, 0, header_problem(data, expected));
    }
    uint64_t off = kSegmentHeaderBytes;
    uint64_t seg_records = 0;
    while (off < data.size()) {
      const uint64_t remaining = data.size() - off;
      std::string problem;
      uint32_t len = 0;
      if (remaining < 4) {
        problem = "incomplete record length (" + std::to_string(remaining) + " bytes)";
      } else {
        len = get_u32(data.data() + off);
        if (len == 0) problem = "record length is zero";
        else if (len > kMaxRecordBytes) problem = "record length " + std::to_string(len) + " exceeds the maximum";
        else if (remaining < 8ull + len)
          problem = "record of " + std::to_string(len) + " bytes extends past the end of the file";
        else if (crc32c(std::span(data.data() + off + 4, len)) != get_u32(data.data() + off + 4 + len))
          problem = "record CRC mismatch";
      }
      if (!problem.empty()) {
        if (last && !valid_record_after(data, off + 1)) {
          st.torn = TornTail{seg, off, remaining, false, problem};
          break;
        }
        corrupt(path, off,
                "record " + std::to_string(st.records) + ": " + problem +
                    (last ? " (valid records follow: damage before the end of the log)" : " (not the last segment)"));
      }
      visit(st.records, name, off, std::span(data.data() + off + 4, len));
      ++st.records;
      ++seg_records;
      off += 8ull + len;
    }
    if (last) {
      st.last_end = off;
      st.last_records = seg_records;
    }
  }
  return st;
}

class PosixFileOps final : public FileOps {
 public:
  int open(const fs::path& path, int flags, mode_t mode) override { return ::open(path.c_str(), flags, mode); }
  ssize_t write(int fd, const void* data, size_t size) override { return ::write(fd, data, size); }
  int fsync(int fd) override { return ::fsync(fd); }
  int ftruncate(int fd, off_t length) override { return ::ftruncate(fd, length); }
  int close(int fd) override { return ::close(fd); }
  int unlink(const fs::path& path) override { return ::unlink(path.c_str()); }
};

std::string location(uint64_t segment, uint64_t offset) {
  return segment_file_name(segment) + " offset " + std::to_string(offset);
}

}  // namespace

std::string segment_file_name(uint64_t number) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "segment-%06llu.log", static_cast<unsigned long long>(number));
  return buf;
}

std::shared_ptr<FileOps> posix_file_ops() {
  static const std::shared_ptr<FileOps> ops = std::make_shared<PosixFileOps>();
  return ops;
}

// --- SegmentWriter ---------------------------------------------------------------------------

SegmentWriter::SegmentWriter(fs::path dir, StoreOptions options)
    : dir_(std::move(dir)), options_(std::move(options)), ops_(options_.file_ops ? options_.file_ops : posix_file_ops()) {}

SegmentWriter::~SegmentWriter() {
  if (fd_ >= 0) ops_->close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void SegmentWriter::poison(const std::string& what, const fs::path& path, int err) {
  poison_ = what + " " + path.string() + ": " + errno_text(err);
  throw AuditIoError(*poison_);
}

void SegmentWriter::check_poison() const {
  if (poison_) throw AuditIoError("audit log writer stopped after an earlier error: " + *poison_);
}

void SegmentWriter::write_all(int fd, const uint8_t* data, size_t size, const fs::path& path) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ops_->write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) poison("write", path, errno);
    if (n == 0) poison("write", path, EIO);
    done += static_cast<size_t>(n);
  }
}

void SegmentWriter::fsync_dir() {
  const int dfd = ops_->open(dir_, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dfd < 0) poison("open directory", dir_, errno);
  if (ops_->fsync(dfd) != 0) {
    const int err = errno;
    ops_->close(dfd);
    poison("fsync directory", dir_, err);
  }
  if (ops_->close(dfd) != 0) poison("close directory", dir_, errno);
}

std::unique_ptr<SegmentWriter> SegmentWriter::open(const fs::path& dir, StoreOptions options,
                                                   const RecordCallback& on_record, RecoveryReport* report) {
  std::unique_ptr<SegmentWriter> w(new SegmentWriter(dir, std::move(options)));
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) throw AuditIoError("cannot create audit log directory " + dir.string() + ": " + ec.message());
    // Make the new directory entry durable too.
    const fs::path parent = fs::absolute(dir).parent_path();
    const int pfd = w->ops_->open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (pfd < 0) io_error("open directory", parent, errno);
    if (w->ops_->fsync(pfd) != 0) {
      const int err = errno;
      w->ops_->close(pfd);
      io_error("fsync directory", parent, err);
    }
    w->ops_->close(pfd);
  }
  w->lock_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (w->lock_fd_ < 0) io_error("cannot open audit log directory", dir, errno);
  if (::flock(w->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      throw AuditIoError("audit log " + dir.string() + " is already open for writing by another writer");
    io_error("cannot lock audit log directory", dir, errno);
  }

  const ScanState st = scan_segments(dir, [&](uint64_t index, const std::string&, uint64_t, std::span<const uint8_t> p) {
    if (on_record) on_record(index, p);
  });
  RecoveryReport rep;
  rep.records = st.records;
  uint64_t segments = st.segments;
  uint64_t last_end = st.last_end;
  uint64_t last_records = st.last_records;
  if (st.torn) {
    const fs::path path = dir / segment_file_name(st.torn->segment);
    rep.truncated_bytes = st.torn->bytes;
    rep.truncated_at = location(st.torn->segment, st.torn->offset);
    rep.reason = st.torn->reason;
    if (st.torn->whole_file) {
      if (w->ops_->unlink(path) != 0) w->poison("unlink torn segment", path, errno);
      w->fsync_dir();
      --segments;
      if (segments > 0) {
        // The previous segment becomes the last one: find its end.
        const std::vector<uint8_t> prev = read_file(dir / segment_file_name(segments - 1));
        last_end = prev.size();
        last_records = 0;
        for (uint64_t off = kSegmentHeaderBytes; off < prev.size(); off += 8ull + get_u32(prev.data() + off)) ++last_records;
      }
    } else {
      const int fd = w->ops_->open(path, O_WRONLY | O_CLOEXEC, 0);
      if (fd < 0) w->poison("open", path, errno);
      if (w->ops_->ftruncate(fd, static_cast<off_t>(st.torn->offset)) != 0) {
        const int err = errno;
        w->ops_->close(fd);
        w->poison("truncate torn tail of", path, err);
      }
      if (w->ops_->fsync(fd) != 0) {
        const int err = errno;
        w->ops_->close(fd);
        w->poison("fsync", path, err);
      }
      if (w->ops_->close(fd) != 0) w->poison("close", path, errno);
    }
  }

  if (segments == 0) {
    const fs::path path = dir / segment_file_name(0);
    w->fd_ = w->ops_->open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (w->fd_ < 0) w->poison("create", path, errno);
    const auto header = make_header(0, 0);
    w->write_all(w->fd_, header.data(), header.size(), path);
    if (w->ops_->fsync(w->fd_) != 0) w->poison("fsync", path, errno);
    w->fsync_dir();
    w->current_segment_ = 0;
    w->tail_bytes_ = kSegmentHeaderBytes;
    w->tail_records_ = 0;
  } else {
    const fs::path path = dir / segment_file_name(segments - 1);
    w->fd_ = w->ops_->open(path, O_WRONLY | O_APPEND | O_CLOEXEC, 0);
    if (w->fd_ < 0) w->poison("open", path, errno);
    w->current_segment_ = segments - 1;
    w->tail_bytes_ = last_end;
    w->tail_records_ = last_records;
  }
  w->size_ = w->durable_size_ = st.records;
  if (report) *report = std::move(rep);
  return w;
}

uint64_t SegmentWriter::append(std::span<const uint8_t> payload) {
  check_poison();
  if (payload.empty()) throw std::invalid_argument("audit log records must not be empty");
  if (payload.size() > kMaxRecordBytes)
    throw std::invalid_argument("audit log record of " + std::to_string(payload.size()) + " bytes exceeds the maximum of " +
                                std::to_string(kMaxRecordBytes));
  if (tail_bytes_ >= options_.rotate_bytes && tail_records_ > 0) {
    const uint64_t next = current_segment_ + pending_new_segments_ + 1;
    const auto header = make_header(next, size_);
    pending_.push_back(Chunk{next, true, std::vector<uint8_t>(header.begin(), header.end()), 0});
    ++pending_new_segments_;
    tail_bytes_ = kSegmentHeaderBytes;
    tail_records_ = 0;
  }
  if (pending_.empty()) pending_.push_back(Chunk{current_segment_, false, {}, 0});
  append_record(pending_.back().bytes, payload);
  ++pending_.back().records;
  tail_bytes_ += 8ull + payload.size();
  ++tail_records_;
  return size_++;
}

void SegmentWriter::sync() {
  check_poison();
  for (Chunk& chunk : pending_) {
    const fs::path path = dir_ / segment_file_name(chunk.segment);
    if (chunk.create) {
      // The previous segment was fsynced by the previous chunk (or an earlier sync()).
      const int fd = ops_->open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
      if (fd < 0) poison("create", path, errno);
      const int old = fd_;
      fd_ = fd;
      if (ops_->close(old) != 0) poison("close", dir_ / segment_file_name(current_segment_), errno);
      current_segment_ = chunk.segment;
      --pending_new_segments_;
    }
    write_all(fd_, chunk.bytes.data(), chunk.bytes.size(), path);
    if (ops_->fsync(fd_) != 0) poison("fsync", path, errno);
    if (chunk.create) fsync_dir();
    durable_size_ += chunk.records;
    chunk.bytes.clear();
    chunk.records = 0;
  }
  pending_.clear();
}

StoreScan scan_store(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw AuditIoError("audit log directory " + dir.string() + " does not exist");
  StoreScan out;
  const ScanState st = scan_segments(dir, [&](uint64_t index, const std::string& file, uint64_t offset,
                                              std::span<const uint8_t> payload) {
    out.records.push_back(StoredRecord{index, file, offset, std::vector<uint8_t>(payload.begin(), payload.end())});
  });
  out.segments = st.segments;
  if (st.torn) {
    out.torn_tail = location(st.torn->segment, st.torn->offset) + ": " + st.torn->reason + " (" +
                    std::to_string(st.torn->bytes) + " bytes)";
    out.torn_bytes = st.torn->bytes;
  }
  return out;
}

}  // namespace strata::audit
