#include "core/data/token_file.hpp"

#include "core/util/sha256.hpp"
#include "tests/support/paths.hpp"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace strata::data {
namespace {

namespace fs = std::filesystem;

// A fresh temporary folder, removed at the end of the test.
using test::TempDir;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Removes before writing: rewriting a file in place through truncation makes ext4 flush it
// (auto_da_alloc), which turns the per-byte corruption loops from milliseconds into seconds.
void spit(const fs::path& p, const std::string& bytes) {
  fs::remove(p);
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Recomputes the trailer, so a test can corrupt the body and still get past the checksum:
// this is what a buggy (or hostile) writer would produce.
std::string reseal(std::string bytes) {
  const std::string body = bytes.substr(0, bytes.size() - kTrailerBytes);
  const std::string hex = util::sha256_hex(body);
  for (size_t i = 0; i < kTrailerBytes; ++i)
    bytes[body.size() + i] = static_cast<char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  return bytes;
}

template <typename T>
void poke(std::string& bytes, size_t at, T value) {
  std::memcpy(bytes.data() + at, &value, sizeof value);
}

TokenFileMetadata small_metadata(int64_t vocab = 256, bool labelled = true) {
  TokenFileMetadata m;
  m.tokenizer_name = "byte";
  m.tokenizer_vocab_size = vocab;
  m.sources = {{"corpus/a.txt", std::string(64, 'a'), 12}};
  if (labelled) m.label_names = {"toxicity", "quality"};
  m.attributes = {{"dialect", {"us", "uk", "in"}}};
  m.extra = {{"split", "train"}};
  return m;
}

// Three documents (one empty), two label columns, one attribute.
fs::path write_small(const fs::path& dir, const std::string& name = "small.tok") {
  TokenFileWriter w(small_metadata(), 2);
  const std::vector<int32_t> a{72, 105, 10, 10}, c{0, 255, 7};
  const std::vector<float> la{0.5f, 1.0f};
  const std::vector<int32_t> attr_a{2}, attr_c{-1};
  w.add_document(a, la, attr_a);
  w.add_document({});
  w.add_document(c, {}, attr_c);
  const fs::path p = dir / name;
  w.write(p);
  return p;
}

std::string open_error(const fs::path& p, const ReadOptions& options = {}) {
  try {
    TokenFile::open(p, options);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(TokenFile, RoundTrip) {
  TempDir dir;
  const fs::path p = write_small(dir.path());
  const TokenFile f = TokenFile::open(p);
  EXPECT_EQ(f.dtype(), TokenDtype::u16);
  EXPECT_EQ(f.token_count(), 7u);
  EXPECT_EQ(f.document_count(), 3u);
  EXPECT_EQ(f.label_width(), 2u);
  EXPECT_EQ(f.attribute_count(), 1u);
  EXPECT_EQ(f.document_tokens(0), (std::vector<int32_t>{72, 105, 10, 10}));
  EXPECT_TRUE(f.document_tokens(1).empty());
  EXPECT_EQ(f.document_tokens(2), (std::vector<int32_t>{0, 255, 7}));
  EXPECT_EQ(std::vector<uint64_t>(f.document_offsets().begin(), f.document_offsets().end()),
            (std::vector<uint64_t>{0, 4, 4, 7}));
  EXPECT_EQ(f.labels(0)[0], 0.5f);
  EXPECT_EQ(f.labels(0)[1], 1.0f);
  EXPECT_TRUE(std::isnan(f.labels(1)[0]));  // labels not given are NaN: unknown
  EXPECT_EQ(f.attributes(0)[0], 2);
  EXPECT_EQ(f.attributes(1)[0], -1);
  EXPECT_EQ(f.attributes(2)[0], -1);
  EXPECT_EQ(f.token(6), 7);
  EXPECT_THROW(f.token(7), std::out_of_range);
  EXPECT_THROW(f.labels(3), std::out_of_range);
  std::vector<int32_t> buf(8);
  EXPECT_THROW(f.copy_tokens(5, 3, buf.data()), std::out_of_range);
  EXPECT_THROW(f.copy_tokens(~uint64_t{0}, 2, buf.data()), std::out_of_range);

  const TokenFileMetadata& m = f.metadata();
  EXPECT_EQ(m.tokenizer_name, "byte");
  EXPECT_EQ(m.tokenizer_vocab_size, 256);
  ASSERT_EQ(m.sources.size(), 1u);
  EXPECT_EQ(m.sources[0].path, "corpus/a.txt");
  EXPECT_EQ(m.sources[0].bytes, 12u);
  EXPECT_EQ(m.label_names, (std::vector<std::string>{"toxicity", "quality"}));
  ASSERT_EQ(m.attributes.size(), 1u);
  EXPECT_EQ(m.attributes[0].groups, (std::vector<std::string>{"us", "uk", "in"}));
  EXPECT_EQ(m.extra.at("split"), "train");

  // Sections start 8-aligned after a 64-aligned header; the whole file is this long.
  const std::string bytes = slurp(p);
  uint32_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes.data() + 44, 4);
  EXPECT_EQ(header_bytes % 64, 0u);
  EXPECT_EQ(bytes.size(), header_bytes + 16 /*7 u16 + pad*/ + 32 /*offsets*/ + 24 /*labels*/ + 16 /*attrs+pad*/ + 32);
  EXPECT_EQ(bytes.substr(0, 8), "STRATATK");
}

TEST(TokenFile, WriteIsDeterministicAndReturnsTheFileDigest) {
  TempDir dir;
  const fs::path a = write_small(dir.path(), "a.tok"), b = write_small(dir.path(), "b.tok");
  EXPECT_EQ(slurp(a), slurp(b));
  TokenFileWriter w(small_metadata(), 2);
  const std::string digest = w.write(dir.path() / "c.tok");
  EXPECT_EQ(digest, util::sha256_file_hex(dir.path() / "c.tok"));
  // Nothing but the file itself is left behind (no temp files).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 3);
}

TEST(TokenFile, EveryByteFlipIsRefused) {
  TempDir dir;
  const fs::path good = write_small(dir.path());
  const std::string bytes = slurp(good);
  const fs::path bad = dir.path() / "flipped.tok";
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (unsigned char mask : {0x01, 0x80, 0xff}) {
      std::string copy = bytes;
      copy[i] = static_cast<char>(copy[i] ^ mask);
      spit(bad, copy);
      const std::string error = open_error(bad);
      ASSERT_FALSE(error.empty()) << "flip of byte " << i << " with mask " << int(mask) << " was accepted";
      EXPECT_EQ(error.rfind(bad.string() + ": ", 0), 0u) << error;
    }
  }
}

// Without the checksum, corruption may go unnoticed, but it must never crash or let an
// accessor reach outside the file (run under ASan/UBSan to see the point of this test).
TEST(TokenFile, FlipsWithoutChecksumNeverCrash) {
  TempDir dir;
  const std::string bytes = slurp(write_small(dir.path()));
  const fs::path bad = dir.path() / "flipped.tok";
  ReadOptions fast;
  fast.verify_checksum = false;
  int accepted = 0;
  for (size_t i = 0; i < bytes.size() - kTrailerBytes; ++i) {
    for (unsigned char mask : {0x01, 0x40, 0xff}) {
      std::string copy = bytes;
      copy[i] = static_cast<char>(copy[i] ^ mask);
      spit(bad, copy);
      try {
        const TokenFile f = TokenFile::open(bad, fast);
        ++accepted;
        for (uint64_t d = 0; d < f.document_count(); ++d) {
          (void)f.document_tokens(d);
          (void)f.labels(d);
          (void)f.attributes(d);
        }
      } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()).rfind(bad.string() + ": ", 0), 0u) << e.what();
      }
    }
  }
  EXPECT_GT(accepted, 0);  // flips inside token values pass when nothing hashes them
}

TEST(TokenFile, TruncationAtEveryOffsetIsRefused) {
  TempDir dir;
  const std::string bytes = slurp(write_small(dir.path()));
  const fs::path cut = dir.path() / "cut.tok";
  for (size_t n = 0; n < bytes.size(); ++n) {
    spit(cut, bytes.substr(0, n));
    const std::string error = open_error(cut);
    EXPECT_NE(error.find(cut.string() + ": truncated"), std::string::npos) << "at " << n << ": " << error;
  }
  spit(cut, bytes.substr(0, bytes.size() - 1));
  EXPECT_NE(open_error(cut).find("header says 7 tokens and 3 documents"), std::string::npos) << open_error(cut);
  spit(cut, bytes + "x");
  EXPECT_NE(open_error(cut).find("1 unexpected bytes after the checksum"), std::string::npos) << open_error(cut);
}

TEST(TokenFile, BadMagicVersionAndDtype) {
  TempDir dir;
  const std::string bytes = slurp(write_small(dir.path()));
  const fs::path p = dir.path() / "x.tok";

  std::string copy = bytes;
  copy[0] = 'X';
  spit(p, copy);
  EXPECT_EQ(open_error(p), p.string() + ": bad magic: not a Strata token file (expected \"STRATATK\")");
  spit(p, "hello, I am a text file and not a token file at all\n");
  EXPECT_NE(open_error(p).find("bad magic"), std::string::npos);

  copy = bytes;
  poke<uint32_t>(copy, 8, 2);
  spit(p, reseal(copy));
  EXPECT_NE(open_error(p).find("unsupported version 2"), std::string::npos) << open_error(p);

  copy = bytes;
  poke<uint32_t>(copy, 12, 7);
  spit(p, reseal(copy));
  EXPECT_NE(open_error(p).find("unknown dtype 7"), std::string::npos) << open_error(p);
}

TEST(TokenFile, ResealedStructuralCorruptionIsRefused) {
  TempDir dir;
  const std::string bytes = slurp(write_small(dir.path()));
  const fs::path p = dir.path() / "x.tok";
  uint32_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes.data() + 44, 4);
  const size_t offsets_at = header_bytes + 16, labels_at = offsets_at + 32, attrs_at = labels_at + 24;

  auto expect_refused = [&](std::string copy, const std::string& what) {
    spit(p, reseal(std::move(copy)));
    const std::string error = open_error(p);
    EXPECT_NE(error.find(what), std::string::npos) << "wanted '" << what << "', got '" << error << "'";
  };
  std::string c = bytes;
  poke<uint64_t>(c, 16, uint64_t{1} << 62);  // a huge token count is "truncated", not a crash
  expect_refused(c, "truncated: header says 4611686018427387904 tokens");
  c = bytes;
  poke<uint64_t>(c, 16, uint64_t{1} << 63);  // token count x 2 bytes overflows 64 bits
  expect_refused(c, "overflow");
  c = bytes;
  poke<uint64_t>(c, 24, ~uint64_t{0});  // document count + 1 wraps
  expect_refused(c, "overflow");
  c = bytes;
  poke<uint32_t>(c, 44, 100);
  expect_refused(c, "header_bytes 100");
  c = bytes;
  poke<uint64_t>(c, offsets_at + 8, 6);  // document 0 ends after document 1
  expect_refused(c, "corrupt document offsets: document 1 ends at 4 before it starts at 6");
  c = bytes;
  poke<uint64_t>(c, offsets_at, 1);
  expect_refused(c, "the first is 1");
  c = bytes;
  poke<uint16_t>(c, header_bytes, 256);  // token id == vocab size
  expect_refused(c, "token 0 has id 256, outside the vocabulary of 256");
  c = bytes;
  poke<uint16_t>(c, header_bytes + 14, 1);  // padding after the 7 tokens
  expect_refused(c, "nonzero padding after the token array");
  c = bytes;
  poke<int32_t>(c, attrs_at, 3);  // group index past the 3 groups
  expect_refused(c, "corrupt attributes: document 0");
  c = bytes;
  c.replace(48, 1, "[");  // metadata is no longer JSON
  expect_refused(c, "corrupt metadata: not valid JSON");
  c = bytes;
  const size_t vocab_at = c.find("\"vocab_size\":256");
  ASSERT_NE(vocab_at, std::string::npos);
  c.replace(vocab_at, 16, "\"vocab_size\":\"x\"");
  expect_refused(c, "corrupt metadata");
  c.replace(vocab_at, 16, "\"vocab_size\":-10");
  expect_refused(c, "vocab size -10 is not in [1, 2^31)");
  c.replace(vocab_at, 16, "\"vocab_size\":100");  // a consistent edit passes once resealed
  spit(p, reseal(c));
  EXPECT_NO_THROW(TokenFile::open(p, {.verify_checksum = true, .verify_token_ids = false}));
}

TEST(TokenFile, SkippingTokenIdCheckStillBoundsAccess) {
  TempDir dir;
  std::string bytes = slurp(write_small(dir.path()));
  uint32_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes.data() + 44, 4);
  poke<uint16_t>(bytes, header_bytes, 60000);
  const fs::path p = dir.path() / "x.tok";
  spit(p, reseal(bytes));
  EXPECT_THROW(TokenFile::open(p), std::runtime_error);
  ReadOptions lax;
  lax.verify_token_ids = false;
  EXPECT_EQ(TokenFile::open(p, lax).token(0), 60000);
}

TEST(TokenFile, DtypeFollowsVocabSize) {
  TempDir dir;
  EXPECT_EQ(dtype_for_vocab(256), TokenDtype::u16);
  EXPECT_EQ(dtype_for_vocab(65536), TokenDtype::u16);
  EXPECT_EQ(dtype_for_vocab(65537), TokenDtype::u32);

  TokenFileWriter narrow(small_metadata(65536, false));
  const std::vector<int32_t> max16{65535, 0};
  narrow.add_document(max16);
  narrow.write(dir.path() / "u16.tok");
  const TokenFile f16 = TokenFile::open(dir.path() / "u16.tok");
  EXPECT_EQ(f16.dtype(), TokenDtype::u16);
  EXPECT_EQ(f16.document_tokens(0), max16);

  TokenFileWriter wide(small_metadata(100000, false));
  const std::vector<int32_t> big{65536, 99999};
  wide.add_document(big);
  wide.write(dir.path() / "u32.tok");
  const TokenFile f32 = TokenFile::open(dir.path() / "u32.tok");
  EXPECT_EQ(f32.dtype(), TokenDtype::u32);
  EXPECT_EQ(f32.document_tokens(0), big);

  // On disk: packed u16 pairs vs u32 words, right after the header.
  auto raw_tokens = [](const fs::path& p, size_t n) {
    const std::string bytes = slurp(p);
    uint32_t header_bytes = 0;
    std::memcpy(&header_bytes, bytes.data() + 44, 4);
    return bytes.substr(header_bytes, n);
  };
  EXPECT_EQ(raw_tokens(dir.path() / "u16.tok", 4), std::string("\xff\xff\x00\x00", 4));
  EXPECT_EQ(raw_tokens(dir.path() / "u32.tok", 8), std::string("\x00\x00\x01\x00\x9f\x86\x01\x00", 8));
}

TEST(TokenFile, WriterRejectsBadDocuments) {
  TokenFileWriter w(small_metadata(), 2);
  const std::vector<int32_t> too_big{256}, negative{-1};
  EXPECT_THROW(w.add_document(too_big), std::invalid_argument);
  EXPECT_THROW(w.add_document(negative), std::invalid_argument);
  const std::vector<float> one_label{1.0f};
  EXPECT_THROW(w.add_document({}, one_label), std::invalid_argument);
  const std::vector<int32_t> bad_group{3}, too_low{-2};
  EXPECT_THROW(w.add_document({}, {}, bad_group), std::invalid_argument);
  EXPECT_THROW(w.add_document({}, {}, too_low), std::invalid_argument);
  EXPECT_EQ(w.document_count(), 0u);  // refused documents leave nothing behind
  EXPECT_EQ(w.token_count(), 0u);
  EXPECT_THROW(TokenFileWriter(small_metadata(0)), std::invalid_argument);
  EXPECT_THROW(TokenFileWriter(small_metadata(), 3), std::invalid_argument);  // 2 label names
}

TEST(TokenFile, OpenRefusesMissingFilesAndFolders) {
  TempDir dir;
  EXPECT_NE(open_error(dir.path() / "missing.tok").find("missing.tok: cannot open"), std::string::npos);
  EXPECT_NE(open_error(dir.path()).find("not a regular file"), std::string::npos);
}

TEST(TokenFile, EmptyCorpusRoundTrips) {
  TempDir dir;
  TokenFileWriter w(small_metadata(256, false));
  w.write(dir.path() / "empty.tok");
  const TokenFile f = TokenFile::open(dir.path() / "empty.tok");
  EXPECT_EQ(f.token_count(), 0u);
  EXPECT_EQ(f.document_count(), 0u);
  EXPECT_EQ(f.document_offsets().size(), 1u);
}

TEST(TokenFile, MovedFromFileIsReleasedOnce) {
  TempDir dir;
  TokenFile a = TokenFile::open(write_small(dir.path()));
  TokenFile b = std::move(a);
  EXPECT_EQ(b.token(0), 72);
  a = std::move(b);
  EXPECT_EQ(a.token_count(), 7u);
  TokenFile unopened;  // default: empty, every access bounds-checked
  EXPECT_EQ(unopened.token_count(), 0u);
  EXPECT_THROW(unopened.token(0), std::out_of_range);
  EXPECT_THROW(unopened.labels(0), std::out_of_range);
  unopened = std::move(a);
  EXPECT_EQ(unopened.token(0), 72);
}

}  // namespace
}  // namespace strata::data
