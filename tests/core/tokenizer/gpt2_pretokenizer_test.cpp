#include "core/tokenizer/gpt2_pretokenizer.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace strata::tokenizer {
namespace {

using Pieces = std::vector<std::string>;

Pieces split(std::string_view text) {
    static const Gpt2Pretokenizer pretokenizer;  // const: compiling once is only a speed-up
    Pieces out;
    for (std::string_view p : pretokenizer.split(text)) out.emplace_back(p);
    return out;
}

// Expected splits below come from the reference pattern run with Python's
// `regex` module, which is what GPT-2's encoder.py uses.

TEST(Gpt2Pretokenizer, Contractions) {
    EXPECT_EQ(split("I'm can't we'll they've she'd you're it's"),
              (Pieces{"I", "'m", " can", "'t", " we", "'ll", " they", "'ve", " she", "'d", " you",
                      "'re", " it", "'s"}));
}

TEST(Gpt2Pretokenizer, ContractionsAreCaseSensitive) {
    EXPECT_EQ(split("IT'S 'S don't"), (Pieces{"IT", "'", "S", " '", "S", " don", "'t"}));
}

TEST(Gpt2Pretokenizer, Numbers) {
    EXPECT_EQ(split("numbers 12345 3.14159 1,000,000 2026-11-25"),
              (Pieces{"numbers", " 12345", " 3", ".", "14159", " 1", ",", "000", ",", "000",
                      " 2026", "-", "11", "-", "25"}));
    // \p{N} covers more than ASCII digits; letters and numbers never share a piece.
    EXPECT_EQ(split("\u216B\u00BD\u0663 42abc"), (Pieces{"\u216B\u00BD\u0663", " 42", "abc"}));
}

TEST(Gpt2Pretokenizer, UnicodeLetters) {
    EXPECT_EQ(split("héllo wörld 日本"), (Pieces{"héllo", " wörld", " 日本"}));
    EXPECT_EQ(split("😀👍 ok"), (Pieces{"😀👍", " ok"}));
}

TEST(Gpt2Pretokenizer, Punctuation) {
    EXPECT_EQ(split("hello!!! ...world??"), (Pieces{"hello", "!!!", " ...", "world", "??"}));
    EXPECT_EQ(split("''quoted''"), (Pieces{"''", "quoted", "''"}));
}

TEST(Gpt2Pretokenizer, WhitespaceRuns) {
    // \s+(?!\S) leaves the last space of a run to prefix the next word.
    EXPECT_EQ(split("a   b"), (Pieces{"a", "  ", " b"}));
    EXPECT_EQ(split("  lead"), (Pieces{" ", " lead"}));
    EXPECT_EQ(split("trailing   "), (Pieces{"trailing", "   "}));
    EXPECT_EQ(split("tabs\tand\nnew\n\n\nthree"),
              (Pieces{"tabs", "\t", "and", "\n", "new", "\n\n", "\n", "three"}));
    EXPECT_EQ(split("   \n   \n"), (Pieces{"   \n   \n"}));
    EXPECT_EQ(split("a\r\nb"), (Pieces{"a", "\r", "\n", "b"}));
}

TEST(Gpt2Pretokenizer, UnicodeWhitespace) {
    EXPECT_EQ(split("x\u00A0y\u2003z"), (Pieces{"x", "\u00A0", "y", "\u2003", "z"}));
    // U+0085 (NEL) is whitespace for the reference but not for PCRE2's \s;
    // with PCRE2's \s this would come out as {"a", " \u0085", "b"}.
    EXPECT_EQ(split("a \u0085b"), (Pieces{"a", " ", "\u0085", "b"}));
}

TEST(Gpt2Pretokenizer, EmptyInput) { EXPECT_TRUE(split("").empty()); }

TEST(Gpt2Pretokenizer, InvalidUtf8BytesBecomeTheirOwnPieces) {
    EXPECT_EQ(split("ab\xff" "cd"), (Pieces{"ab", "\xff", "cd"}));
    EXPECT_EQ(split("h\xc3\xa9\xffllo"), (Pieces{"h\xc3\xa9", "\xff", "llo"}));
    // Truncated sequence, overlong encoding, UTF-16 surrogate, > U+10FFFF.
    EXPECT_EQ(split("x\xe6\x97"), (Pieces{"x", "\xe6", "\x97"}));
    EXPECT_EQ(split("\xc0\xaf"), (Pieces{"\xc0", "\xaf"}));
    EXPECT_EQ(split("\xed\xa0\x80"), (Pieces{"\xed", "\xa0", "\x80"}));
    EXPECT_EQ(split("\xf4\x90\x80\x80"), (Pieces{"\xf4", "\x90", "\x80", "\x80"}));
    // A valid run's end behaves like end of text for the whitespace rule.
    EXPECT_EQ(split("a  \xff" "b"), (Pieces{"a", "  ", "\xff", "b"}));
}

TEST(Gpt2Pretokenizer, PiecesCoverRandomBytesExactly) {
    std::mt19937 rng(1234);
    const Gpt2Pretokenizer pretokenizer;
    for (int round = 0; round < 200; ++round) {
        std::string text(static_cast<size_t>(rng() % 300), '\0');
        for (char& c : text) {
            // Mix ASCII (so words and spaces occur) with arbitrary bytes.
            c = static_cast<char>(rng() % 3 == 0 ? rng() % 256 : " aZ9'.\n"[rng() % 7]);
        }
        std::string joined;
        for (std::string_view p : pretokenizer.split(text)) {
            ASSERT_FALSE(p.empty());
            joined += p;
        }
        ASSERT_EQ(joined, text);
    }
}

TEST(Gpt2Pretokenizer, LongRunsDoNotBlowUp) {
    // Long single-class runs stress PCRE2's backtracking (and JIT stack) for
    // \s+(?!\S); each must come back as one piece.
    EXPECT_EQ(split(std::string(1 << 20, ' ')).size(), 1u);
    EXPECT_EQ(split(std::string(1 << 20, 'a')).size(), 1u);
    EXPECT_EQ(split(std::string(1 << 20, ' ') + "x"), (Pieces{std::string((1 << 20) - 1, ' '), " x"}));
}

TEST(Gpt2Pretokenizer, AppendsToExistingVector) {
    const Gpt2Pretokenizer pretokenizer;
    std::vector<std::string_view> out{"keep"};
    pretokenizer.split("a b", out);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0], "keep");
    EXPECT_EQ(out[2], " b");
}

TEST(Gpt2Pretokenizer, MovedObjectStillWorks) {
    Gpt2Pretokenizer a;
    Gpt2Pretokenizer b(std::move(a));
    EXPECT_EQ(b.split("x y").size(), 2u);
    RecordProperty("jit", b.uses_jit() ? "yes" : "no");
}

}  // namespace
}  // namespace strata::tokenizer
