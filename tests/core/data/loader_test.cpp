#include "core/data/loader.hpp"
#include "tests/support/paths.hpp"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace strata::data {
namespace {

namespace fs = std::filesystem;

// A fresh temporary folder, removed at the end of the test.
using test::TempDir;

// Token i has id i, so every window shows where it started.
TokenFile positional_file(const fs::path& dir, uint64_t tokens) {
  TokenFileMetadata m;
  m.tokenizer_name = "positions";
  m.tokenizer_vocab_size = 1 << 20;
  TokenFileWriter w(m);
  std::vector<int32_t> ids(tokens);
  std::iota(ids.begin(), ids.end(), 0);
  w.add_document(std::span<const int32_t>(ids).first(tokens / 2));  // two documents: windows cross them
  w.add_document(std::span<const int32_t>(ids).subspan(tokens / 2));
  const fs::path p = dir / ("pos" + std::to_string(tokens) + ".tok");
  w.write(p);
  return TokenFile::open(p);
}

struct Batch {
  std::vector<int32_t> inputs, targets;
  bool operator==(const Batch&) const = default;
};

Batch next_batch(BatchLoader& loader, uint64_t batch_size, uint64_t seq_len) {
  Batch b{std::vector<int32_t>(batch_size * seq_len, -7), std::vector<int32_t>(batch_size * seq_len, -7)};
  loader.next(b.inputs.data(), b.targets.data());
  return b;
}

TEST(BatchLoader, WindowsAreContiguousAndTargetsShiftByOne) {
  TempDir dir;
  const TokenFile f = positional_file(dir.path(), 1000);
  BatchLoader loader(f, 16, 4, 0, 1, 42);
  for (int step = 0; step < 5; ++step) {
    const Batch b = next_batch(loader, 4, 16);
    for (int row = 0; row < 4; ++row) {
      const int32_t start = b.inputs[row * 16];
      EXPECT_EQ(uint64_t(start), loader.sample_start(step * 4 + row));
      for (int t = 0; t < 16; ++t) {
        EXPECT_EQ(b.inputs[row * 16 + t], start + t);
        EXPECT_EQ(b.targets[row * 16 + t], start + t + 1);
      }
    }
  }
}

TEST(BatchLoader, IsDeterministicAndSeedDependent) {
  TempDir dir;
  const TokenFile f = positional_file(dir.path(), 5000);
  BatchLoader a(f, 32, 8, 0, 1, 1), b(f, 32, 8, 0, 1, 1), c(f, 32, 8, 0, 1, 2);
  bool differs = false;
  for (int step = 0; step < 20; ++step) {
    const Batch ba = next_batch(a, 8, 32);
    EXPECT_EQ(ba, next_batch(b, 8, 32));
    differs = differs || !(ba == next_batch(c, 8, 32));
  }
  EXPECT_TRUE(differs);
}

TEST(BatchLoader, EachEpochVisitsEverySlotOnce) {
  TempDir dir;
  const TokenFile f = positional_file(dir.path(), 1003);  // 1002 / 10 = 100 slots, slack 2
  BatchLoader loader(f, 10, 1, 0, 1, 5);
  ASSERT_EQ(loader.samples_per_epoch(), 100u);
  std::set<uint64_t> shifts;
  for (uint64_t epoch = 0; epoch < 8; ++epoch) {
    std::set<uint64_t> starts;
    for (uint64_t i = 0; i < 100; ++i) starts.insert(loader.sample_start(epoch * 100 + i));
    ASSERT_EQ(starts.size(), 100u) << "epoch " << epoch << " repeats a window";
    const uint64_t shift = *starts.begin();
    EXPECT_LE(shift, 2u);
    for (uint64_t s : starts) EXPECT_EQ((s - shift) % 10, 0u);  // a grid of non-overlapping slots
    shifts.insert(shift);
  }
  EXPECT_GT(shifts.size(), 1u);  // the grid moves between epochs
}

TEST(BatchLoader, ResumesExactlyFromPosition) {
  TempDir dir;
  const TokenFile f = positional_file(dir.path(), 3000);
  BatchLoader original(f, 24, 3, 0, 1, 9);
  for (int i = 0; i < 10; ++i) next_batch(original, 3, 24);
  const LoaderPosition saved = original.position();
  EXPECT_EQ(saved.next_sample, 30u);

  BatchLoader resumed(f, 24, 3, 0, 1, 9);
  resumed.seek(saved);
  EXPECT_EQ(resumed.position(), saved);
  for (int i = 0; i < 50; ++i) ASSERT_EQ(next_batch(original, 3, 24), next_batch(resumed, 3, 24)) << "step " << i;
}

// The union over ranks of one step, concatenated in rank order, is the single-process batch
// of batch_size * world_size, for every step, including across epoch boundaries.
TEST(BatchLoader, RankBatchesConcatenateToTheSingleProcessBatch) {
  TempDir dir;
  const TokenFile f = positional_file(dir.path(), 2000);
  constexpr uint64_t kSeq = 16, kGlobal = 8;
  BatchLoader single(f, kSeq, kGlobal, 0, 1, 3);
  std::vector<std::vector<BatchLoader>> worlds;
  for (uint64_t w : {2, 4, 8}) {
    std::vector<BatchLoader> ranks;
    for (uint64_t r = 0; r < w; ++r) ranks.emplace_back(f, kSeq, kGlobal / w, r, w, 3);
    worlds.push_back(std::move(ranks));
  }
  for (int step = 0; step < 40; ++step) {  // 124 samples per epoch: crosses two epochs
    const Batch expected = next_batch(single, kGlobal, kSeq);
    for (auto& ranks : worlds) {
      Batch joined;
      for (auto& rank : ranks) {
        const Batch part = next_batch(rank, kGlobal / ranks.size(), kSeq);
        joined.inputs.insert(joined.inputs.end(), part.inputs.begin(), part.inputs.end());
        joined.targets.insert(joined.targets.end(), part.targets.begin(), part.targets.end());
      }
      ASSERT_EQ(joined, expected) << "world size " << ranks.size() << ", step " << step;
      EXPECT_EQ(ranks[0].position(), single.position());
    }
  }
}

TEST(BatchLoader, ResumesUnderADifferentWorldSize) {
  TempDir dir;
  const TokenFile f = positional_file(dir.path(), 2000);
  BatchLoader single(f, 8, 4, 0, 1, 17);
  for (int i = 0; i < 7; ++i) next_batch(single, 4, 8);
  BatchLoader r0(f, 8, 2, 0, 2, 17), r1(f, 8, 2, 1, 2, 17);
  r0.seek(single.position());
  r1.seek(single.position());
  const Batch expected = next_batch(single, 4, 8);
  Batch joined = next_batch(r0, 2, 8);
  const Batch b1 = next_batch(r1, 2, 8);
  joined.inputs.insert(joined.inputs.end(), b1.inputs.begin(), b1.inputs.end());
  joined.targets.insert(joined.targets.end(), b1.targets.begin(), b1.targets.end());
  EXPECT_EQ(joined, expected);
}

TEST(BatchLoader, WindowsNeverCrossTheEndOfTheTokenArray) {
  TempDir dir;
  for (uint64_t tokens : {2, 3, 17, 64, 65, 66, 1000}) {
    const TokenFile f = positional_file(dir.path(), tokens);
    for (uint64_t seq : {1, 2, 7, 16, 63, 64, 999}) {
      if (tokens <= seq) {
        EXPECT_THROW(BatchLoader(f, seq, 1, 0, 1, 0), std::runtime_error);
        continue;
      }
      for (uint64_t seed : {0, 1, 77}) {
        BatchLoader loader(f, seq, 1, 0, 1, seed);
        const uint64_t n = 5 * loader.samples_per_epoch() + 3;
        for (uint64_t g = 0; g < n; ++g)
          ASSERT_LE(loader.sample_start(g) + seq + 1, tokens) << tokens << " tokens, seq " << seq << ", sample " << g;
        std::vector<int32_t> in(seq), out(seq);
        for (int i = 0; i < 10; ++i) loader.next(in.data(), out.data());  // would throw past the end
      }
    }
  }
}

TEST(BatchLoader, RejectsBadArguments) {
  TempDir dir;
  const TokenFile f = positional_file(dir.path(), 100);
  EXPECT_THROW(BatchLoader(f, 0, 1, 0, 1, 0), std::invalid_argument);
  EXPECT_THROW(BatchLoader(f, 8, 0, 0, 1, 0), std::invalid_argument);
  EXPECT_THROW(BatchLoader(f, 8, 1, 0, 0, 0), std::invalid_argument);
  EXPECT_THROW(BatchLoader(f, 8, 1, 2, 2, 0), std::invalid_argument);
  try {
    BatchLoader(f, 100, 1, 0, 1, 0);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("pos100.tok: holds 100 tokens, too few"), std::string::npos) << e.what();
  }
}

TEST(EvalIterator, CoversFixedNonOverlappingWindowsOnce) {
  TempDir dir;
  const TokenFile f = positional_file(dir.path(), 1000);  // 999 / 10 = 99 windows
  for (uint64_t world : {1, 2, 3}) {
    std::vector<int32_t> starts;
    std::vector<EvalIterator> ranks;
    for (uint64_t r = 0; r < world; ++r) ranks.emplace_back(f, 10, 4, r, world);
    ASSERT_EQ(ranks[0].window_count(), 99u);
    const uint64_t steps = ranks[0].steps();
    for (uint64_t s = 0; s < steps; ++s) {
      for (auto& it : ranks) {
        std::vector<int32_t> in(40, -1), out(40, -1);
        const uint64_t rows = it.next(in.data(), out.data());
        for (uint64_t row = 0; row < rows; ++row) {
          starts.push_back(in[row * 10]);
          for (int t = 0; t < 10; ++t) {
            EXPECT_EQ(in[row * 10 + t], in[row * 10] + t);
            EXPECT_EQ(out[row * 10 + t], in[row * 10] + t + 1);
          }
        }
        for (uint64_t row = rows; row < 4; ++row) EXPECT_EQ(in[row * 10], -1);  // untouched
      }
    }
    std::vector<int32_t> expected(99);
    for (int j = 0; j < 99; ++j) expected[j] = j * 10;
    EXPECT_EQ(starts, expected) << "world size " << world;  // rank order = window order
    for (auto& it : ranks) {
      EXPECT_TRUE(it.done());
      std::vector<int32_t> in(40), out(40);
      EXPECT_EQ(it.next(in.data(), out.data()), 0u);
    }
  }
}

TEST(EvalIterator, ResetRepeatsAndTinyFilesAreEmpty) {
  TempDir dir;
  const TokenFile f = positional_file(dir.path(), 100);
  EvalIterator it(f, 8, 2);
  std::vector<int32_t> a(16), b(16), c(16), d(16);
  it.next(a.data(), b.data());
  it.reset();
  it.next(c.data(), d.data());
  EXPECT_EQ(a, c);
  EXPECT_EQ(b, d);
  EvalIterator too_long(f, 100, 2);
  EXPECT_EQ(too_long.window_count(), 0u);
  EXPECT_TRUE(too_long.done());
}

}  // namespace
}  // namespace strata::data
