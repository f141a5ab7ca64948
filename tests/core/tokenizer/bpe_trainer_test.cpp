#include "core/tokenizer/bpe_trainer.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/tokenizer/byte_level_bpe.hpp"
#include "core/tokenizer/gpt2_pretokenizer.hpp"

#ifndef STRATA_SHARED_DATA_DIR
#define STRATA_SHARED_DATA_DIR ""
#endif

namespace strata::tokenizer {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Deterministic pseudo-English: a small Zipf-ish word list with punctuation
// and newlines. Uses raw mt19937 output (fully specified by the standard)
// rather than distributions (implementation-defined) so it is portable.
std::string generated_corpus(size_t bytes) {
    static const char* const kWords[] = {"the", "and", "of", "to", "a", "in", "that", "is",
                                         "was", "he", "for", "it", "with", "as", "his", "on",
                                         "be", "at", "by", "I", "this", "had", "not", "are",
                                         "but", "from", "or", "have", "an", "they", "which",
                                         "one", "you", "were", "her", "all", "she", "there",
                                         "would", "their", "we", "him", "been", "has", "when",
                                         "who", "will", "more", "no", "if", "out", "so", "said",
                                         "what", "up", "its", "about", "into", "than", "them",
                                         "can", "only", "other", "new", "some", "could",
                                         "time", "these", "two", "may", "then", "do", "first",
                                         "any", "my", "now", "such", "like", "our", "over",
                                         "man", "me", "even", "most", "made", "after", "also",
                                         "did", "many", "before", "must", "through", "back",
                                         "years", "where", "much", "your", "way", "well",
                                         "naïve", "café", "日本", "it's", "don't", "42", "1999"};
    constexpr size_t kCount = sizeof kWords / sizeof kWords[0];
    std::mt19937 rng(2024);
    std::string out;
    while (out.size() < bytes) {
        // Squaring a uniform index skews toward the front: frequent words.
        const uint64_t r = rng() % 1000;
        out += kWords[(r * r / 1000) * kCount / 1000];
        const uint32_t p = rng() % 20;
        out += p == 0 ? ".\n" : p == 1 ? ", " : " ";
    }
    return out;
}

class TempDir {
public:
    TempDir() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        path_ = fs::temp_directory_path() /
                ("strata_trainer_test_" + std::to_string(::getpid()) + "_" + info->name());
        fs::remove_all(path_);
    }
    ~TempDir() { fs::remove_all(path_); }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

// The most frequent adjacent byte pair over pre-split pieces, ties to the
// smaller (left, right): what train_bpe must pick first, computed naively.
std::pair<int32_t, int32_t> most_frequent_pair(std::string_view text) {
    std::map<std::pair<int32_t, int32_t>, int64_t> counts;
    Gpt2Pretokenizer pretokenizer;
    for (std::string_view piece : pretokenizer.split(text)) {
        for (size_t i = 0; i + 1 < piece.size(); ++i) {
            ++counts[{static_cast<unsigned char>(piece[i]), static_cast<unsigned char>(piece[i + 1])}];
        }
    }
    std::pair<int32_t, int32_t> best{-1, -1};
    int64_t best_count = 0;
    for (const auto& [pair, count] : counts) {  // map order: ties keep the smaller pair
        if (count > best_count) {
            best = pair;
            best_count = count;
        }
    }
    return best;
}

// Saves, reloads through ByteLevelBpe and checks decode(encode(x)) == x.
void expect_round_trip(const BpeVocab& vocab, const fs::path& dir,
                       const std::vector<std::string>& texts) {
    save_bpe(dir, vocab);
    const ByteLevelBpe bpe = ByteLevelBpe::load(dir);
    EXPECT_EQ(bpe.vocab_size(), static_cast<int32_t>(vocab.tokens.size()));
    EXPECT_EQ(bpe.num_merges(), static_cast<int32_t>(vocab.merges.size()));
    for (const std::string& text : texts) {
        const auto ids = bpe.encode(text);
        EXPECT_EQ(bpe.decode(ids), text);
    }
}

TEST(BpeTrainer, GeneratedCorpusReachesVocabSize) {
    const std::string corpus = generated_corpus(100'000);
    const BpeVocab vocab = train_bpe(corpus, 500);
    ASSERT_EQ(vocab.tokens.size(), 500u);
    EXPECT_GE(vocab.merges.size(), 244u);
    for (int b = 0; b < 256; ++b) EXPECT_EQ(vocab.tokens[b], std::string(1, static_cast<char>(b)));
    for (const auto& [l, r] : vocab.merges) {
        ASSERT_GE(l, 0);
        ASSERT_LT(l, 500);
        ASSERT_GE(r, 0);
        ASSERT_LT(r, 500);
    }
}

TEST(BpeTrainer, FirstMergeIsMostFrequentPair) {
    const std::string corpus = generated_corpus(50'000);
    const BpeVocab vocab = train_bpe(corpus, 300);
    ASSERT_FALSE(vocab.merges.empty());
    EXPECT_EQ(vocab.merges[0], most_frequent_pair(corpus));
}

TEST(BpeTrainer, Deterministic) {
    const std::string corpus = generated_corpus(50'000);
    const BpeVocab a = train_bpe(corpus, 400);
    const BpeVocab b = train_bpe(corpus, 400);
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_EQ(a.merges, b.merges);
    // Only piece counts matter, so the order of the texts does not either.
    const std::string half1 = corpus.substr(0, 25'000), half2 = corpus.substr(25'000);
    const std::string_view ab[] = {half1, half2};
    const std::string_view ba[] = {half2, half1};
    const BpeVocab c = train_bpe(ab, 400);
    const BpeVocab d = train_bpe(ba, 400);
    EXPECT_EQ(c.tokens, d.tokens);
    EXPECT_EQ(c.merges, d.merges);
}

TEST(BpeTrainer, TiesBreakTowardSmallerIds) {
    // (c, d) and (a, b) both occur twice (newlines are pieces of their own);
    // (a, b) has the smaller ids, although "cd" comes first in the text.
    const BpeVocab vocab = train_bpe("cd\nab\ncd\nab", 257);
    ASSERT_EQ(vocab.merges.size(), 1u);
    EXPECT_EQ(vocab.merges[0], (std::pair<int32_t, int32_t>{'a', 'b'}));
}

TEST(BpeTrainer, StopsWhenNothingLeftToMerge) {
    // Pieces "ab" and " ab": merges (a,b), (" ", ab), then nothing pairs up.
    const BpeVocab vocab = train_bpe("ab ab", 1000);
    EXPECT_EQ(vocab.merges.size(), 2u);
    EXPECT_EQ(vocab.tokens.size(), 258u);
    EXPECT_EQ(vocab.tokens[256], "ab");
    EXPECT_EQ(vocab.tokens[257], " ab");
}

TEST(BpeTrainer, RejectsVocabSmallerThanBytes) {
    EXPECT_THROW(train_bpe("abc", 255), std::invalid_argument);
    EXPECT_EQ(train_bpe("abc", 256).merges.size(), 0u);
}

TEST(BpeTrainer, ReportsProgress) {
    std::vector<BpeTrainProgress> seen;
    const BpeVocab vocab =
        train_bpe(generated_corpus(20'000), 300, [&](const BpeTrainProgress& p) { seen.push_back(p); });
    ASSERT_EQ(seen.size(), vocab.merges.size());
    EXPECT_EQ(seen.back().vocab_size, 300);
    for (const auto& p : seen) {
        EXPECT_EQ(p.target_vocab_size, 300);
        EXPECT_GT(p.pair_count, 0);
    }
}

TEST(BpeTrainer, SavedFilesRoundTrip) {
    TempDir tmp;
    const std::string corpus = generated_corpus(100'000);
    const BpeVocab vocab = train_bpe(corpus, 500);
    std::string all_bytes;
    for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
    expect_round_trip(vocab, tmp.path() / "nested" / "dir",
                      {corpus, "unseen wörds ÄÖÜ\t\n", all_bytes, "\xff\xfe broken \xe6\x97"});
}

TEST(BpeTrainer, SavedFilesUseGpt2Format) {
    TempDir tmp;
    const BpeVocab vocab = train_bpe(generated_corpus(20'000), 300);
    save_bpe(tmp.path(), vocab);
    const std::string merges = read_all(tmp.path() / "merges.txt");
    EXPECT_EQ(merges.rfind("#version: 0.2\n", 0), 0u);
    EXPECT_EQ(std::count(merges.begin(), merges.end(), '\n'),
              static_cast<long>(vocab.merges.size()) + 1);
    const auto json = nlohmann::json::parse(read_all(tmp.path() / "vocab.json"));
    ASSERT_TRUE(json.is_object());
    EXPECT_EQ(json.size(), vocab.tokens.size());
    EXPECT_EQ(json.at("\u0120"), 32);  // byte ' ' is written Ġ, id = byte value
    // Only the two target files remain: temporaries were renamed away.
    size_t files = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator(tmp.path())) ++files;
    EXPECT_EQ(files, 2u);
    // Saving again replaces the files in place.
    save_bpe(tmp.path(), vocab);
    EXPECT_EQ(read_all(tmp.path() / "merges.txt"), merges);
}

TEST(BpeTrainer, SaveRejectsInconsistentVocab) {
    TempDir tmp;
    BpeVocab vocab = train_bpe("ab ab", 300);
    BpeVocab bad_merge = vocab;
    bad_merge.merges.emplace_back(999, 0);
    EXPECT_THROW(save_bpe(tmp.path(), bad_merge), std::invalid_argument);
    BpeVocab duplicate = vocab;
    duplicate.tokens.push_back("ab");
    EXPECT_THROW(save_bpe(tmp.path(), duplicate), std::invalid_argument);
    EXPECT_THROW(save_bpe(tmp.path(), BpeVocab{}), std::invalid_argument);
}

TEST(BpeTrainer, TinyShakespeare200KB) {
    const fs::path path = fs::path(STRATA_SHARED_DATA_DIR) / "tinyshakespeare" / "input.txt";
    if (!fs::exists(path)) {
        GTEST_SKIP() << path << " not found (set STRATA_SHARED_DATA_DIR to the shared data directory)";
    }
    const std::string full = read_all(path);
    const std::string corpus = full.substr(0, 200'000);
    const BpeVocab vocab = train_bpe(corpus, 2000);
    ASSERT_EQ(vocab.tokens.size(), 2000u);
    EXPECT_EQ(vocab.merges[0], most_frequent_pair(corpus));

    const BpeVocab again = train_bpe(corpus, 2000);
    EXPECT_EQ(again.merges, vocab.merges);
    EXPECT_EQ(again.tokens, vocab.tokens);

    TempDir tmp;
    // The held-out rest of the file checks that unseen text round-trips too.
    expect_round_trip(vocab, tmp.path(), {corpus, full.substr(200'000)});
    const ByteLevelBpe bpe = ByteLevelBpe::load(tmp.path());
    // 2000 learned tokens should compress English well below 1 token/byte.
    EXPECT_LT(bpe.encode(corpus).size(), corpus.size() / 3);
}

}  // namespace
}  // namespace strata::tokenizer
