#include "core/tokenizer/byte_level_bpe.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef STRATA_SHARED_DATA_DIR
#define STRATA_SHARED_DATA_DIR ""
#endif

namespace strata::tokenizer {
namespace {

namespace fs = std::filesystem;

const fs::path kGpt2Dir = fs::path(STRATA_SHARED_DATA_DIR) / "gpt2-bpe";

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// ------------------------------------------------------------ real GPT-2 --

class Gpt2Bpe : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (fs::exists(kGpt2Dir / "vocab.json") && fs::exists(kGpt2Dir / "merges.txt")) {
            bpe_ = std::make_unique<ByteLevelBpe>(ByteLevelBpe::load(kGpt2Dir));
        }
    }
    static void TearDownTestSuite() { bpe_.reset(); }
    void SetUp() override {
        if (!bpe_) {
            GTEST_SKIP() << "GPT-2 vocab.json/merges.txt not found in " << kGpt2Dir
                         << " (set STRATA_SHARED_DATA_DIR to the shared data directory)";
        }
    }
    static std::unique_ptr<ByteLevelBpe> bpe_;
};
std::unique_ptr<ByteLevelBpe> Gpt2Bpe::bpe_;

TEST_F(Gpt2Bpe, Sizes) {
    EXPECT_EQ(bpe_->vocab_size(), 50257);
    EXPECT_EQ(bpe_->num_merges(), 50000);
}

TEST_F(Gpt2Bpe, KnownAnswers) {
    EXPECT_EQ(bpe_->encode("Hello world"), (std::vector<int32_t>{15496, 995}));
    EXPECT_EQ(bpe_->encode("Hello, world!"), (std::vector<int32_t>{15496, 11, 995, 0}));
    EXPECT_TRUE(bpe_->encode("").empty());
}

TEST_F(Gpt2Bpe, MatchesEveryGoldenLine) {
    const fs::path golden = kGpt2Dir / "golden.jsonl";
    if (!fs::exists(golden)) GTEST_SKIP() << golden << " not found";
    std::ifstream in(golden);
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        const auto j = nlohmann::json::parse(line);
        const auto text = j.at("text").get<std::string>();
        const auto want = j.at("ids").get<std::vector<int32_t>>();
        SCOPED_TRACE("golden.jsonl line " + std::to_string(line_no) + ": " + j.at("text").dump());
        const auto got = bpe_->encode(text);
        EXPECT_EQ(got, want);
        EXPECT_EQ(bpe_->decode(got), text);
    }
    EXPECT_GE(line_no, 100) << "golden.jsonl looks truncated";
}

TEST_F(Gpt2Bpe, RoundTripsArbitraryBytes) {
    std::mt19937 rng(42);
    for (int round = 0; round < 300; ++round) {
        std::string text(static_cast<size_t>(rng() % 200), '\0');
        for (char& c : text) c = static_cast<char>(rng() % 4 == 0 ? rng() % 256 : "ab e\n'"[rng() % 6]);
        const auto ids = bpe_->encode(text);
        ASSERT_EQ(bpe_->decode(ids), text) << "round " << round;
    }
}

TEST_F(Gpt2Bpe, InvalidUtf8EncodesByteByByte) {
    // Each invalid byte is its own piece, hence its own single-byte token.
    const auto ids = bpe_->encode("\xff\xfe");
    ASSERT_EQ(ids.size(), 2u);
    EXPECT_EQ(bpe_->decode(ids), "\xff\xfe");
    EXPECT_EQ(bpe_->token_bytes(ids[0]), "\xff");
}

TEST_F(Gpt2Bpe, RoundTripsTinyShakespeare) {
    const fs::path path = fs::path(STRATA_SHARED_DATA_DIR) / "tinyshakespeare" / "input.txt";
    if (!fs::exists(path)) GTEST_SKIP() << path << " not found";
    const std::string text = read_all(path);
    const auto ids = bpe_->encode(text);
    EXPECT_LT(ids.size(), text.size() / 3);  // GPT-2 gets ~3.3 bytes per token here
    EXPECT_EQ(bpe_->decode(ids), text);
}

TEST_F(Gpt2Bpe, LongPieceWithoutSpaces) {
    // One megabyte-long piece exercises the heap path; a quadratic merge loop
    // would not finish in reasonable time.
    std::mt19937 rng(7);
    std::string text(1 << 20, 'a');
    for (char& c : text) c = static_cast<char>('a' + rng() % 26);
    const auto ids = bpe_->encode(text);
    EXPECT_EQ(bpe_->decode(ids), text);
}

TEST_F(Gpt2Bpe, DecodeRejectsUnknownIds) {
    const std::vector<int32_t> too_big{50257};
    const std::vector<int32_t> negative{-1};
    EXPECT_THROW(bpe_->decode(too_big), std::out_of_range);
    EXPECT_THROW(bpe_->decode(negative), std::out_of_range);
}

TEST_F(Gpt2Bpe, LoadTokenizerFromDirectory) {
    auto tok = load_tokenizer(kGpt2Dir);
    ASSERT_NE(tok, nullptr);
    EXPECT_EQ(tok->vocab_size(), 50257);
    EXPECT_EQ(tok->encode("Hello world"), (std::vector<int32_t>{15496, 995}));
}

// -------------------------------------------------------- byte map basics --

TEST(BytesToUnicode, MatchesGpt2Table) {
    const auto& m = bytes_to_unicode();
    EXPECT_EQ(m['!'], U'!');
    EXPECT_EQ(m[' '], U'\u0120');  // Ġ
    EXPECT_EQ(m['\n'], U'\u010A');  // Ċ
    EXPECT_EQ(m[0], U'\u0100');
    EXPECT_EQ(m[0xAD], U'\u0143');  // the last unprintable byte
    std::vector<bool> seen(0x144, false);
    for (char32_t cp : m) {
        ASSERT_LT(cp, 0x144u);
        EXPECT_FALSE(seen[cp]) << "code point used twice";
        seen[cp] = true;
    }
}

TEST(BytesToUnicode, EncodeDecodeAreInverse) {
    std::string all;
    for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
    std::string back;
    ASSERT_TRUE(byte_level_decode(byte_level_encode(all), back));
    EXPECT_EQ(back, all);
    EXPECT_EQ(byte_level_encode(" the"), "\u0120the");
    EXPECT_FALSE(byte_level_decode("\u4e2d", back));  // not a byte-level character
}

// ------------------------------------------------- small hand-made models --

// vocab.json text: the 256 byte tokens (id = byte value) plus `extra`.
std::string make_vocab(const std::vector<std::string>& extra) {
    nlohmann::json v = nlohmann::json::object();
    for (int b = 0; b < 256; ++b) v[byte_level_encode(std::string(1, static_cast<char>(b)))] = b;
    for (size_t i = 0; i < extra.size(); ++i) v[byte_level_encode(extra[i])] = 256 + i;
    return v.dump();
}

TEST(ByteLevelBpeModel, MergesApplyInRankOrder) {
    const std::string vocab = make_vocab({"ab", "bc"});
    auto ab_first = ByteLevelBpe::parse(vocab, "#version: 0.2\na b\nb c\n");
    auto bc_first = ByteLevelBpe::parse(vocab, "#version: 0.2\nb c\na b\n");
    EXPECT_EQ(ab_first.encode("abc"), (std::vector<int32_t>{256, 'c'}));
    EXPECT_EQ(bc_first.encode("abc"), (std::vector<int32_t>{'a', 257}));
    // Same rules on a piece long enough for the heap path (> 32 bytes).
    std::string long_piece;
    std::vector<int32_t> want_ab, want_bc;
    for (int i = 0; i < 20; ++i) {
        long_piece += "abc";
        want_ab.insert(want_ab.end(), {256, 'c'});
        want_bc.insert(want_bc.end(), {'a', 257});
    }
    EXPECT_EQ(ab_first.encode(long_piece), want_ab);
    EXPECT_EQ(bc_first.encode(long_piece), want_bc);
}

TEST(ByteLevelBpeModel, ShortAndLongPiecesAgree) {
    // a+a, aa+aa, aaaa+aaaa: a run of n 'a's becomes 8s, then a 4, 2, 1.
    const std::string vocab = make_vocab({"aa", "aaaa", "aaaaaaaa"});
    auto bpe = ByteLevelBpe::parse(vocab, "a a\naa aa\naaaa aaaa\n");
    for (int n = 1; n <= 80; ++n) {
        std::vector<int32_t> want(static_cast<size_t>(n / 8), 258);
        if (n % 8 >= 4) want.push_back(257);
        if (n % 4 >= 2) want.push_back(256);
        if (n % 2 == 1) want.push_back('a');
        EXPECT_EQ(bpe.encode(std::string(static_cast<size_t>(n), 'a')), want) << "n=" << n;
    }
}

TEST(ByteLevelBpeModel, AcceptsCrlfAndNoHeader) {
    auto bpe = ByteLevelBpe::parse(make_vocab({"ab"}), "a b\r\n");
    EXPECT_EQ(bpe.encode("ab"), (std::vector<int32_t>{256}));
}

// ------------------------------------------------------- malformed inputs --

class MalformedFiles : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() /
               ("strata_bpe_test_" + std::to_string(::getpid()) + "_" + info->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // Loads vocab/merges written to files and returns the error message.
    std::string load_error(const std::string& vocab, const std::string& merges) {
        std::ofstream(dir_ / "vocab.json", std::ios::binary) << vocab;
        std::ofstream(dir_ / "merges.txt", std::ios::binary) << merges;
        try {
            ByteLevelBpe::load(dir_);
        } catch (const std::runtime_error& e) {
            return e.what();
        }
        ADD_FAILURE() << "loading did not throw";
        return "";
    }
    std::string vocab_path() const { return (dir_ / "vocab.json").string(); }
    std::string merges_path() const { return (dir_ / "merges.txt").string(); }

    fs::path dir_;
};

#define EXPECT_HAS(haystack, needle) \
    EXPECT_NE((haystack).find(needle), std::string::npos) << "message: " << (haystack)

TEST_F(MalformedFiles, MergesLineWithoutTwoTokens) {
    const std::string err = load_error(make_vocab({"ab"}), "#version: 0.2\na b\nab\n");
    EXPECT_HAS(err, merges_path() + " line 3");
    EXPECT_HAS(err, "expected two tokens");
    const std::string err3 = load_error(make_vocab({"ab"}), "#version: 0.2\na b c\n");
    EXPECT_HAS(err3, "line 2");
}

TEST_F(MalformedFiles, MergesTokenNotInVocab) {
    const std::string err = load_error(make_vocab({"ab"}), "#version: 0.2\na b\nab c\n");
    EXPECT_HAS(err, merges_path() + " line 3");
    EXPECT_HAS(err, "\"abc\"");
    EXPECT_HAS(err, "not in");
}

TEST_F(MalformedFiles, DuplicateMerge) {
    const std::string err = load_error(make_vocab({"ab"}), "a b\n\na b\n");
    EXPECT_HAS(err, "line 3");
    EXPECT_HAS(err, "duplicate merge");
    EXPECT_HAS(err, "first on line 1");
}

TEST_F(MalformedFiles, VocabNotJson) {
    const std::string err = load_error("{\"a\": 0,\n \"b\": }", "");
    EXPECT_HAS(err, vocab_path());
    EXPECT_HAS(err, "line 2");
}

TEST_F(MalformedFiles, VocabIdNotAnInteger) {
    const std::string err = load_error("{\"a\": 0,\n\"b\": 1,\n\"c\": \"two\"}", "");
    EXPECT_HAS(err, vocab_path() + " line 3");
    EXPECT_HAS(err, "\"c\"");
    const std::string neg = load_error("{\"a\": 0,\n\"b\": -4\n}", "");
    EXPECT_HAS(neg, "line 2");
    EXPECT_HAS(neg, "-4");
    const std::string frac = load_error("{\"a\": 1.5}", "");
    EXPECT_HAS(frac, "1.5");
}

TEST_F(MalformedFiles, VocabNotAnObject) {
    EXPECT_HAS(load_error("[1, 2]", ""), "expected a JSON object");
    EXPECT_HAS(load_error("{\"a\": {\"b\": 1}}", ""), "got an object");
}

TEST_F(MalformedFiles, VocabDuplicates) {
    const std::string same_id = load_error("{\"a\": 0,\n\"b\": 0}", "");
    EXPECT_HAS(same_id, vocab_path() + " line 2");
    EXPECT_HAS(same_id, "already used by \"a\" (line 1)");
    const std::string err = load_error("{\"a\": 0,\n\"a\": 1}", "");
    EXPECT_HAS(err, "line 2");
    EXPECT_HAS(err, "appears twice");
}

TEST_F(MalformedFiles, VocabMissingByteToken) {
    nlohmann::json v = nlohmann::json::parse(make_vocab({}));
    v.erase("\u0120");  // the token for ' '
    const std::string err = load_error(v.dump(), "");
    EXPECT_HAS(err, "no token for byte 32");
}

TEST_F(MalformedFiles, MissingFile) {
    try {
        ByteLevelBpe::load(dir_ / "nope");
        FAIL() << "expected std::runtime_error";
    } catch (const std::runtime_error& e) {
        EXPECT_HAS(std::string(e.what()), (dir_ / "nope" / "vocab.json").string());
    }
}

}  // namespace
}  // namespace strata::tokenizer
