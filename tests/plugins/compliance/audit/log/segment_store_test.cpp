// The durable segment store: round trips, rotation, torn-tail recovery, corruption and
// segment tampering detection, EIO/ENOSPC fail-stop (T8) and simulated power loss (T7).
#include "plugins/compliance/audit/log/segment_store.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

#include "fault_file_ops.hpp"
#include "plugins/compliance/audit/log/crc32c.hpp"
#include "test_support.hpp"

namespace strata::audit {
namespace {

namespace fs = std::filesystem;
using test::bytes_of;
using test::Op;
using test::read_bytes;
using test::write_bytes;

std::string payload_for(uint64_t i) {
  std::string s = "{\"record\":" + std::to_string(i) + ",\"pad\":\"";
  s.append(static_cast<size_t>((i * 37) % 61), static_cast<char>('a' + i % 26));
  s += "\"}";
  return s;
}

struct Opened {
  std::unique_ptr<SegmentWriter> writer;
  std::vector<std::string> records;
  RecoveryReport report;
};

Opened open_store(const fs::path& dir, StoreOptions options = {}) {
  Opened o;
  o.writer = SegmentWriter::open(
      dir, std::move(options),
      [&](uint64_t index, std::span<const uint8_t> p) {
        EXPECT_EQ(index, o.records.size());
        o.records.emplace_back(p.begin(), p.end());
      },
      &o.report);
  return o;
}

void append_n(SegmentWriter& w, uint64_t n) {
  for (uint64_t k = 0; k < n; ++k) {
    const uint64_t i = w.size();
    EXPECT_EQ(w.append(bytes_of(payload_for(i))), i);
  }
}

void expect_records(const std::vector<std::string>& records, uint64_t n) {
  ASSERT_EQ(records.size(), n);
  for (uint64_t i = 0; i < n; ++i) ASSERT_EQ(records[i], payload_for(i)) << i;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const AuditIoError& e) {
    return e.what();
  }
  return "";
}

std::vector<fs::path> segment_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().starts_with("segment-")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

void copy_dir(const fs::path& from, const fs::path& to) {
  fs::remove_all(to);
  fs::copy(from, to, fs::copy_options::recursive);
}

TEST(SegmentStore, RoundTripAndReopen) {
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "log";  // created by open
  {
    auto o = open_store(dir);
    EXPECT_EQ(o.writer->size(), 0u);
    EXPECT_EQ(o.report.records, 0u);
    append_n(*o.writer, 100);
    EXPECT_EQ(o.writer->size(), 100u);
    EXPECT_EQ(o.writer->durable_size(), 0u);
    o.writer->sync();
    EXPECT_EQ(o.writer->durable_size(), 100u);
    o.writer->sync();  // nothing pending: no-op
  }
  {
    auto o = open_store(dir);
    expect_records(o.records, 100);
    EXPECT_EQ(o.report.truncated_bytes, 0u);
    EXPECT_TRUE(o.report.truncated_at.empty());
    EXPECT_EQ(o.writer->durable_size(), 100u);
    append_n(*o.writer, 50);
    o.writer->sync();
  }
  const StoreScan scan = scan_store(dir);
  ASSERT_EQ(scan.records.size(), 150u);
  EXPECT_TRUE(scan.torn_tail.empty());
  EXPECT_EQ(scan.segments, 1u);
  uint64_t offset = kSegmentHeaderBytes;
  for (const auto& r : scan.records) {
    EXPECT_EQ(r.segment, "segment-000000.log");
    EXPECT_EQ(r.offset, offset);
    EXPECT_EQ(std::string(r.payload.begin(), r.payload.end()), payload_for(r.index));
    offset += 8 + r.payload.size();
  }
  EXPECT_EQ(fs::file_size(dir / "segment-000000.log"), offset);
  // Exact bytes of the format: header then u32 length | payload | u32 CRC32C(payload).
  const auto bytes = read_bytes(dir / "segment-000000.log");
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), "STRAUDIT");
  EXPECT_EQ(bytes[8], 1);
  const std::string p0 = payload_for(0);
  EXPECT_EQ(bytes[32], p0.size());
  EXPECT_EQ(std::string(bytes.begin() + 36, bytes.begin() + 36 + p0.size()), p0);
  const uint32_t crc = crc32c(bytes_of(p0));
  EXPECT_EQ(bytes[36 + p0.size()], crc & 0xFF);
  EXPECT_EQ(bytes[39 + p0.size()], crc >> 24);
}

TEST(SegmentStore, EmptyAndOversizedPayloadsAreRefusedWithoutPoisoning) {
  test::TempDir tmp;
  auto o = open_store(tmp.path());
  EXPECT_THROW(o.writer->append({}), std::invalid_argument);
  std::vector<uint8_t> big(kMaxRecordBytes + 1, 'x');
  EXPECT_THROW(o.writer->append(big), std::invalid_argument);
  EXPECT_FALSE(o.writer->poisoned());
  append_n(*o.writer, 3);
  o.writer->sync();
  EXPECT_EQ(scan_store(tmp.path()).records.size(), 3u);
}

TEST(SegmentStore, SecondWriterIsRefused) {
  test::TempDir tmp;
  auto a = open_store(tmp.path());
  const std::string err = error_of([&] { open_store(tmp.path()); });
  EXPECT_NE(err.find("already open"), std::string::npos) << err;
  a.writer.reset();
  EXPECT_NO_THROW(open_store(tmp.path()));
}

TEST(SegmentStore, RotationAcrossManySmallSegments) {
  test::TempDir tmp;
  StoreOptions opt;
  opt.rotate_bytes = 300;
  {
    auto o = open_store(tmp.path(), opt);
    for (int batch = 0; batch < 40; ++batch) {
      append_n(*o.writer, 1 + batch % 13);  // some batches span several new segments
      o.writer->sync();
    }
  }
  const uint64_t n = [] {
    uint64_t s = 0;
    for (int b = 0; b < 40; ++b) s += 1 + b % 13;
    return s;
  }();
  const auto files = segment_files(tmp.path());
  EXPECT_GE(files.size(), 50u);
  StoreScan scan = scan_store(tmp.path());
  ASSERT_EQ(scan.records.size(), n);
  EXPECT_EQ(scan.segments, files.size());
  for (const auto& r : scan.records) ASSERT_EQ(std::string(r.payload.begin(), r.payload.end()), payload_for(r.index));
  // Every segment but the last reached the rotation size, and overshoots by less than one record.
  for (size_t i = 0; i + 1 < files.size(); ++i) {
    EXPECT_GE(fs::file_size(files[i]), 300u) << files[i];
    EXPECT_LT(fs::file_size(files[i]), 300u + 8 + 100) << files[i];
  }
  {
    auto o = open_store(tmp.path(), opt);
    expect_records(o.records, n);
    EXPECT_EQ(o.writer->segment_count(), files.size());
    append_n(*o.writer, 30);
    o.writer->sync();
  }
  expect_records(open_store(tmp.path(), opt).records, n + 30);
  std::printf("[ store    ] rotation: %llu records in %zu segments\n", static_cast<unsigned long long>(n + 30),
              segment_files(tmp.path()).size());
}

TEST(SegmentStore, RotateEveryRecord) {
  test::TempDir tmp;
  StoreOptions opt;
  opt.rotate_bytes = 0;
  {
    auto o = open_store(tmp.path(), opt);
    append_n(*o.writer, 7);
    o.writer->sync();
  }
  EXPECT_EQ(segment_files(tmp.path()).size(), 7u);
  expect_records(open_store(tmp.path(), opt).records, 7);
}

// Writes n records (one segment) and returns the end offset of each record.
std::vector<uint64_t> make_store(const fs::path& dir, uint64_t n, StoreOptions opt = {}) {
  auto o = open_store(dir, opt);
  append_n(*o.writer, n);
  o.writer->sync();
  std::vector<uint64_t> ends;
  for (const auto& r : scan_store(dir).records) ends.push_back(r.offset + 8 + r.payload.size());
  return ends;
}

TEST(SegmentStore, TornTailsAreTruncatedAndReported) {
  test::TempDir tmp;
  const fs::path base = tmp.path() / "base";
  const auto ends = make_store(base, 10);
  const uint64_t end = ends.back();
  const std::string next = payload_for(10);
  std::vector<uint8_t> full(8 + next.size());
  full[0] = static_cast<uint8_t>(next.size());
  std::copy(next.begin(), next.end(), full.begin() + 4);
  const uint32_t crc = crc32c(bytes_of(next));
  for (int i = 0; i < 4; ++i) full[4 + next.size() + i] = static_cast<uint8_t>(crc >> (8 * i));

  struct Case {
    const char* name;
    std::vector<uint8_t> tail;
    const char* reason;
  };
  std::vector<uint8_t> bad_crc = full;
  bad_crc.back() ^= 0x40;
  const Case cases[] = {
      {"short length", {full.begin(), full.begin() + 2}, "incomplete record length"},
      {"short payload", {full.begin(), full.begin() + 9}, "extends past the end"},
      {"missing crc", {full.begin(), full.end() - 1}, "extends past the end"},
      {"bad crc", bad_crc, "CRC mismatch"},
      {"zero-filled", std::vector<uint8_t>(300, 0), "length is zero"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const fs::path dir = tmp.path() / "case";
    copy_dir(base, dir);
    const fs::path seg = dir / "segment-000000.log";
    auto bytes = read_bytes(seg);
    bytes.insert(bytes.end(), c.tail.begin(), c.tail.end());
    write_bytes(seg, bytes);

    const StoreScan scan = scan_store(dir);
    EXPECT_EQ(scan.records.size(), 10u);
    EXPECT_EQ(scan.torn_bytes, c.tail.size());
    EXPECT_NE(scan.torn_tail.find("segment-000000.log offset " + std::to_string(end)), std::string::npos)
        << scan.torn_tail;
    EXPECT_NE(scan.torn_tail.find(c.reason), std::string::npos) << scan.torn_tail;

    {
      auto o = open_store(dir);
      expect_records(o.records, 10);
      EXPECT_EQ(o.report.records, 10u);
      EXPECT_EQ(o.report.truncated_bytes, c.tail.size());
      EXPECT_EQ(o.report.truncated_at, "segment-000000.log offset " + std::to_string(end));
      EXPECT_NE(o.report.reason.find(c.reason), std::string::npos) << o.report.reason;
      EXPECT_EQ(fs::file_size(seg), end);
      append_n(*o.writer, 5);
      o.writer->sync();
    }
    auto o = open_store(dir);
    expect_records(o.records, 15);
    EXPECT_EQ(o.report.truncated_bytes, 0u);
  }
}

// Power-loss style truncation: the last segment cut at every byte offset of its last records.
TEST(SegmentStore, TruncationAtEveryByteOfTheLastRecordsRecovers) {
  test::TempDir tmp;
  const fs::path base = tmp.path() / "base";
  StoreOptions opt;
  opt.rotate_bytes = 2048;
  const auto ends = make_store(base, 60, opt);
  const auto scan = scan_store(base);
  const std::string last_seg = scan.records.back().segment;
  // Records in the last segment, and their end offsets.
  std::vector<uint64_t> last_ends;
  uint64_t first_in_last = 0;
  for (const auto& r : scan.records) {
    if (r.segment != last_seg) continue;
    if (last_ends.empty()) first_in_last = r.index;
    last_ends.push_back(r.offset + 8 + r.payload.size());
  }
  ASSERT_GE(last_ends.size(), 3u);
  const uint64_t from = scan.records[scan.records.size() - 3].offset;
  const uint64_t to = last_ends.back();
  uint64_t cuts = 0, torn = 0;
  const fs::path dir = tmp.path() / "cut";
  for (uint64_t cut = from; cut < to; ++cut) {
    copy_dir(base, dir);
    fs::resize_file(dir / last_seg, cut);
    uint64_t complete = first_in_last;
    uint64_t boundary = kSegmentHeaderBytes;
    for (const uint64_t e : last_ends) {
      if (e <= cut) {
        ++complete;
        boundary = e;
      }
    }
    auto o = open_store(dir, opt);
    expect_records(o.records, complete);
    EXPECT_EQ(o.report.truncated_bytes, cut - boundary) << cut;
    if (cut != boundary) {
      ++torn;
      EXPECT_EQ(o.report.truncated_at, last_seg + " offset " + std::to_string(boundary));
    }
    ++cuts;
  }
  std::printf("[ store    ] %llu truncation points in the last 3 records: all recovered, %llu torn tails cut\n",
              static_cast<unsigned long long>(cuts), static_cast<unsigned long long>(torn));
}

TEST(SegmentStore, DamageBeforeTheTailIsAnErrorNamingFileAndOffset) {
  test::TempDir tmp;
  const fs::path base = tmp.path() / "base";
  make_store(base, 50);
  const auto scan = scan_store(base);
  const auto& r10 = scan.records[10];
  const fs::path dir = tmp.path() / "d";

  auto check = [&](const std::function<void(std::vector<uint8_t>&)>& damage, const std::string& needle) {
    copy_dir(base, dir);
    const fs::path seg = dir / "segment-000000.log";
    auto bytes = read_bytes(seg);
    damage(bytes);
    write_bytes(seg, bytes);
    const std::string e1 = error_of([&] { scan_store(dir); });
    EXPECT_NE(e1.find(seg.string()), std::string::npos) << e1;
    EXPECT_NE(e1.find(needle), std::string::npos) << e1;
    const std::string e2 = error_of([&] { open_store(dir); });
    EXPECT_NE(e2.find(needle), std::string::npos) << e2;
    EXPECT_EQ(read_bytes(seg), bytes) << "recovery must not modify a damaged store";
  };
  const std::string at10 = "offset " + std::to_string(r10.offset) + ": record 10";
  check([&](auto& b) { b[r10.offset + 4 + 3] ^= 0x01; }, at10 + ": record CRC mismatch");
  check([&](auto& b) { b[r10.offset] ^= 0x02; }, at10);
  check([&](auto& b) { b[r10.offset + 3] ^= 0x80; }, at10);  // huge length: not mistaken for a torn tail
  check([&](auto& b) { b[r10.offset + 8 + r10.payload.size() - 1] ^= 0xFF; }, at10 + ": record CRC mismatch");
  check([&](auto& b) { b[3] ^= 0x01; }, "offset 0: bad segment magic");
  check([&](auto& b) { b[20] ^= 0x01; }, "offset 0: segment header CRC mismatch");
  // Bytes removed from the middle.
  check([&](auto& b) { b.erase(b.begin() + static_cast<long>(r10.offset), b.begin() + static_cast<long>(r10.offset) + 3); },
        at10);
  // A whole record duplicated in place is well-formed at this level: the store returns 51
  // records, and it is the Merkle root in the signed tree head that exposes it.
  copy_dir(base, dir);
  {
    const fs::path seg = dir / "segment-000000.log";
    auto b = read_bytes(seg);
    const auto rec = std::vector<uint8_t>(b.begin() + static_cast<long>(r10.offset),
                                          b.begin() + static_cast<long>(r10.offset + 8 + r10.payload.size()));
    b.insert(b.begin() + static_cast<long>(r10.offset), rec.begin(), rec.end());
    write_bytes(seg, b);
    EXPECT_EQ(scan_store(dir).records.size(), 51u);
  }
}

TEST(SegmentStore, RandomSingleByteFlipsAreAllDetected) {
  test::TempDir tmp;
  const fs::path base = tmp.path() / "base";
  StoreOptions opt;
  opt.rotate_bytes = 1024;
  make_store(base, 200, opt);
  const auto files = segment_files(base);
  std::vector<std::pair<std::string, uint64_t>> sizes;
  uint64_t total = 0;
  for (const auto& f : files) {
    sizes.emplace_back(f.filename().string(), fs::file_size(f));
    total += fs::file_size(f);
  }
  std::mt19937_64 rng(11);
  const fs::path dir = tmp.path() / "flip";
  copy_dir(base, dir);
  int flips = 0, errors = 0, torn = 0;
  for (int t = 0; t < 1000; ++t) {
    uint64_t pos = rng() % total;
    size_t f = 0;
    while (pos >= sizes[f].second) pos -= sizes[f++].second;
    const fs::path seg = dir / sizes[f].first;
    // Flip in place (rewriting the file through O_TRUNC makes ext4 flush it: slow).
    std::fstream io(seg, std::ios::in | std::ios::out | std::ios::binary);
    io.seekg(static_cast<std::streamoff>(pos));
    const char before = static_cast<char>(io.get());
    io.seekp(static_cast<std::streamoff>(pos));
    io.put(static_cast<char>(before ^ static_cast<char>(1 + rng() % 255)));
    io.flush();
    ++flips;
    try {
      const StoreScan s = scan_store(dir);
      if (!s.torn_tail.empty()) {
        ++torn;  // only acceptable for the last record of the last segment
        EXPECT_EQ(f, sizes.size() - 1);
        EXPECT_EQ(s.records.size(), 199u);
      } else {
        ADD_FAILURE() << "undetected flip in " << sizes[f].first << " at " << pos;
      }
    } catch (const AuditCorruptionError& e) {
      ++errors;
    }
    io.seekp(static_cast<std::streamoff>(pos));
    io.put(before);
    io.flush();
  }
  std::printf("[ store    ] %d random byte flips: %d errors, %d torn-tail reports, %d undetected\n", flips, errors, torn,
              flips - errors - torn);
  EXPECT_EQ(errors + torn, flips);
}

TEST(SegmentStore, DeletedReorderedDuplicatedSegmentsAreDetected) {
  test::TempDir tmp;
  const fs::path base = tmp.path() / "base";
  StoreOptions opt;
  opt.rotate_bytes = 300;
  make_store(base, 40, opt);
  ASSERT_GE(segment_files(base).size(), 5u);
  const fs::path dir = tmp.path() / "d";
  auto seg = [&](int n) { return dir / segment_file_name(static_cast<uint64_t>(n)); };
  auto check = [&](const std::function<void()>& tamper, const std::string& needle) {
    copy_dir(base, dir);
    tamper();
    const std::string e1 = error_of([&] { scan_store(dir); });
    EXPECT_NE(e1.find(needle), std::string::npos) << "scan: " << e1;
    const std::string e2 = error_of([&] { open_store(dir, opt); });
    EXPECT_NE(e2.find(needle), std::string::npos) << "open: " << e2;
  };
  check([&] { fs::remove(seg(1)); }, "segment-000001.log is missing");
  check([&] { fs::remove(seg(0)); }, "segment-000000.log is missing");
  check(
      [&] {
        fs::rename(seg(1), dir / "tmp");
        fs::rename(seg(2), seg(1));
        fs::rename(dir / "tmp", seg(2));
      },
      "segment-000001.log offset 0: header says segment 2");
  check([&] { fs::copy_file(seg(1), seg(2), fs::copy_options::overwrite_existing); },
        "segment-000002.log offset 0: header says segment 1");
  const int last = static_cast<int>(segment_files(base).size()) - 1;
  check([&] { fs::copy_file(seg(last), seg(last + 1)); }, "header says segment " + std::to_string(last));
  check([&] { fs::copy_file(seg(1), dir / "segment-1.log"); }, "unexpected file");
  // A segment replaced by one with the right number but the wrong first index.
  check(
      [&] {
        auto b = read_bytes(seg(2));
        b[20] ^= 1;  // first index
        const uint32_t crc = crc32c(std::span(b.data(), 28));
        for (int i = 0; i < 4; ++i) b[28 + i] = static_cast<uint8_t>(crc >> (8 * i));
        write_bytes(seg(2), b);
      },
      "segment-000002.log offset 0: header says the first record is");
  // Unrelated files are ignored.
  copy_dir(base, dir);
  write_bytes(dir / "README", bytes_of("x"));
  EXPECT_EQ(scan_store(dir).records.size(), 40u);
}

TEST(SegmentStore, TornHeaderOfANewLastSegmentIsRemoved) {
  test::TempDir tmp;
  const fs::path base = tmp.path() / "base";
  StoreOptions opt;
  opt.rotate_bytes = 300;
  make_store(base, 20, opt);
  const uint64_t segs = segment_files(base).size();
  const fs::path dir = tmp.path() / "d";
  for (const uint64_t len : {0u, 5u, 31u}) {
    SCOPED_TRACE(len);
    copy_dir(base, dir);
    // What sync() writes for the next segment: the header for (segs, 20), cut short.
    auto last = read_bytes(dir / segment_file_name(0));
    std::vector<uint8_t> header(last.begin(), last.begin() + 32);
    header[12] = static_cast<uint8_t>(segs);
    header[20] = 20;
    const uint32_t crc = crc32c(std::span(header.data(), 28));
    for (int i = 0; i < 4; ++i) header[28 + i] = static_cast<uint8_t>(crc >> (8 * i));
    header.resize(len);
    write_bytes(dir / segment_file_name(segs), header);
    const StoreScan s = scan_store(dir);
    EXPECT_EQ(s.records.size(), 20u);
    EXPECT_NE(s.torn_tail.find(segment_file_name(segs) + " offset 0"), std::string::npos) << s.torn_tail;
    {
      auto o = open_store(dir, opt);
      expect_records(o.records, 20);
      EXPECT_EQ(o.report.truncated_at, segment_file_name(segs) + " offset 0");
      EXPECT_EQ(o.report.truncated_bytes, len);
      EXPECT_FALSE(fs::exists(dir / segment_file_name(segs)));
      append_n(*o.writer, 10);
      o.writer->sync();
    }
    expect_records(open_store(dir, opt).records, 30);
  }
  // A torn header that is not a prefix of the expected one is damage, not a torn write.
  copy_dir(base, dir);
  write_bytes(dir / segment_file_name(segs), bytes_of("garbage"));
  EXPECT_NE(error_of([&] { scan_store(dir); }).find("incomplete segment header"), std::string::npos);
  // The only segment torn: the store starts afresh.
  const fs::path fresh = tmp.path() / "fresh";
  fs::create_directories(fresh);
  write_bytes(fresh / "segment-000000.log", bytes_of("STRAU"));
  auto o = open_store(fresh);
  EXPECT_EQ(o.report.truncated_bytes, 5u);
  append_n(*o.writer, 2);
  o.writer->sync();
  o.writer.reset();
  EXPECT_EQ(scan_store(fresh).records.size(), 2u);
}

// --- T8: failure injection ------------------------------------------------------------------

TEST(SegmentStoreFaults, EioOnFsyncPoisonsAndIsNeverRetried) {
  test::TempDir tmp;
  auto ops = std::make_shared<test::FaultyFileOps>();
  StoreOptions opt;
  opt.file_ops = ops;
  {
    auto o = open_store(tmp.path(), opt);
    append_n(*o.writer, 10);
    o.writer->sync();
    ops->arm(Op::fsync, 1, EIO);
    append_n(*o.writer, 5);
    const std::string err = error_of([&] { o.writer->sync(); });
    EXPECT_NE(err.find("fsync"), std::string::npos) << err;
    EXPECT_NE(err.find("segment-000000.log"), std::string::npos) << err;
    EXPECT_NE(err.find(std::strerror(EIO)), std::string::npos) << err;
    EXPECT_TRUE(o.writer->poisoned());
    EXPECT_EQ(o.writer->durable_size(), 10u);
    const std::string later = error_of([&] { o.writer->append(bytes_of("x")); });
    EXPECT_NE(later.find(std::strerror(EIO)), std::string::npos) << later;
    EXPECT_NE(error_of([&] { o.writer->sync(); }).find(std::strerror(EIO)), std::string::npos);
    EXPECT_NE(error_of([&] { o.writer->sync(); }), "");
    EXPECT_EQ(ops->count(Op::fsync), 1) << "fsync must never be retried";
  }
  ops->disarm();
  auto o = open_store(tmp.path());
  ASSERT_GE(o.records.size(), 10u);  // the 5 unacknowledged records may or may not be there
  expect_records(std::vector<std::string>(o.records.begin(), o.records.begin() + 10), 10);
}

TEST(SegmentStoreFaults, EioAndEnospcOnWritePoison) {
  for (const int err : {EIO, ENOSPC}) {
    SCOPED_TRACE(err);
    test::TempDir tmp;
    auto ops = std::make_shared<test::FaultyFileOps>();
    StoreOptions opt;
    opt.file_ops = ops;
    {
      auto o = open_store(tmp.path(), opt);
      append_n(*o.writer, 10);
      o.writer->sync();
      ops->arm(Op::write, 1, err);
      append_n(*o.writer, 5);
      const std::string e = error_of([&] { o.writer->sync(); });
      EXPECT_NE(e.find("write"), std::string::npos) << e;
      EXPECT_NE(e.find(std::strerror(err)), std::string::npos) << e;
      EXPECT_EQ(ops->count(Op::fsync), 0);
      EXPECT_THROW(o.writer->append(bytes_of("y")), AuditIoError);
      EXPECT_THROW(o.writer->sync(), AuditIoError);
      EXPECT_EQ(ops->count(Op::write), 1);
      EXPECT_EQ(ops->count(Op::fsync), 0);
    }
    auto o = open_store(tmp.path());
    expect_records(o.records, 10);
  }
}

TEST(SegmentStoreFaults, ShortWritesAreCompleted) {
  test::TempDir tmp;
  auto ops = std::make_shared<test::FaultyFileOps>();
  ops->max_write = 7;
  StoreOptions opt;
  opt.file_ops = ops;
  opt.rotate_bytes = 400;
  {
    auto o = open_store(tmp.path(), opt);
    append_n(*o.writer, 40);
    o.writer->sync();
  }
  expect_records(open_store(tmp.path()).records, 40);
}

// Fail the k-th call of each kind, for every k the workload reaches: the writer stops at
// the first failure, and reopening finds every acknowledged record intact.
TEST(SegmentStoreFaults, EveryFailurePointKeepsAcknowledgedRecords) {
  int scenarios = 0;
  for (const Op op : {Op::write, Op::fsync, Op::open, Op::close}) {
    for (int k = 1;; ++k) {
      test::TempDir tmp;
      auto ops = std::make_shared<test::FaultyFileOps>();
      ops->real_fsync = false;
      StoreOptions opt;
      opt.file_ops = ops;
      opt.rotate_bytes = 256;
      ops->arm(op, k, op == Op::write ? ENOSPC : EIO);
      uint64_t acked = 0;
      bool failed = false;
      try {
        auto o = open_store(tmp.path(), opt);
        for (int batch = 0; batch < 12; ++batch) {
          append_n(*o.writer, 1 + batch % 5);
          o.writer->sync();
          acked = o.writer->size();
        }
      } catch (const AuditIoError& e) {
        failed = true;
      }
      if (!failed) break;  // k is past the last call of this kind
      ++scenarios;
      ops->disarm();
      auto o = open_store(tmp.path());
      ASSERT_GE(o.records.size(), acked) << "op " << static_cast<int>(op) << " k " << k;
      for (uint64_t i = 0; i < o.records.size(); ++i) ASSERT_EQ(o.records[i], payload_for(i));
    }
  }
  std::printf("[ store    ] %d injected failure points: acknowledged records all present after reopening\n", scenarios);
  EXPECT_GT(scenarios, 40);
}

// T7: simulated power loss: drop every write that was not fsynced (or keep a random part of
// it, possibly zeroed), and directory entries that were not fsynced.
TEST(SegmentStoreFaults, SimulatedPowerLossNeverLosesAcknowledgedRecords) {
  int runs = 0, torn = 0, crashes = 0;
  uint64_t acked_total = 0;
  for (uint64_t seed = 1; seed <= 150; ++seed) {
    test::TempDir tmp;
    auto disk = std::make_shared<test::SimulatedDisk>(seed);
    std::mt19937_64 rng(seed);
    StoreOptions opt;
    opt.file_ops = disk;
    opt.rotate_bytes = 200 + rng() % 600;
    uint64_t acked = 0;
    for (int life = 0; life < 4; ++life) {
      disk->crash_after(rng() % 3 == 0 ? 0 : 1 + static_cast<int>(rng() % 30));
      try {
        auto o = open_store(tmp.path(), opt);
        ASSERT_GE(o.records.size(), acked) << "seed " << seed << " life " << life;
        for (uint64_t i = 0; i < o.records.size(); ++i) ASSERT_EQ(o.records[i], payload_for(i)) << seed;
        if (o.report.truncated_bytes) ++torn;
        const int batches = static_cast<int>(rng() % 10);
        for (int b = 0; b < batches; ++b) {
          append_n(*o.writer, 1 + rng() % 6);
          o.writer->sync();
          acked = o.writer->size();
        }
        append_n(*o.writer, rng() % 6);  // never acknowledged
      } catch (const AuditCorruptionError& e) {
        ADD_FAILURE() << "seed " << seed << ": recovery refused a power-cut state: " << e.what();
        return;
      } catch (const AuditIoError& e) {
        EXPECT_NE(std::string(e.what()).find(std::strerror(EIO)), std::string::npos) << e.what();
        ++crashes;
      }
      disk->lose_power();
      ++runs;
    }
    acked_total += acked;
    auto o = open_store(tmp.path());
    ASSERT_GE(o.records.size(), acked);
  }
  std::printf("[ store    ] %d simulated power cuts (%d inside a write or fsync): 0 acknowledged records lost "
              "(%llu acknowledged), %d torn tails cut on reopening\n",
              runs, crashes, static_cast<unsigned long long>(acked_total), torn);
  EXPECT_GT(crashes, 100);
  EXPECT_GT(torn, 20);
}

}  // namespace
}  // namespace strata::audit
