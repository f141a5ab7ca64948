#include "core/tokenizer/byte_tokenizer.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace strata::tokenizer {
namespace {

TEST(ByteTokenizer, EachByteIsItsOwnId) {
    ByteTokenizer tok;
    const std::string text("A\0\x7f\x80\xff", 5);
    EXPECT_EQ(tok.encode(text), (std::vector<int32_t>{65, 0, 127, 128, 255}));
}

TEST(ByteTokenizer, RoundTripsEveryByteValue) {
    ByteTokenizer tok;
    std::string all;
    for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
    const auto ids = tok.encode(all);
    ASSERT_EQ(ids.size(), 256u);
    for (int b = 0; b < 256; ++b) EXPECT_EQ(ids[b], b);
    EXPECT_EQ(tok.decode(ids), all);
}

TEST(ByteTokenizer, EmptyInput) {
    ByteTokenizer tok;
    EXPECT_TRUE(tok.encode("").empty());
    EXPECT_EQ(tok.decode({}), "");
}

TEST(ByteTokenizer, DecodeRejectsIdsOutsideVocab) {
    ByteTokenizer tok;
    const std::vector<int32_t> too_big{1, 256};
    const std::vector<int32_t> negative{-1};
    EXPECT_THROW(tok.decode(too_big), std::out_of_range);
    EXPECT_THROW(tok.decode(negative), std::out_of_range);
}

TEST(ByteTokenizer, Metadata) {
    ByteTokenizer tok;
    EXPECT_EQ(tok.vocab_size(), 256);
    EXPECT_EQ(tok.name(), "byte");
}

TEST(LoadTokenizer, ByteSpec) {
    auto tok = load_tokenizer("byte");
    ASSERT_NE(tok, nullptr);
    EXPECT_EQ(tok->name(), "byte");
    EXPECT_EQ(tok->vocab_size(), 256);
    EXPECT_EQ(tok->decode(tok->encode("hi")), "hi");
}

TEST(LoadTokenizer, UnknownSpecThrows) {
    try {
        load_tokenizer("/nonexistent/strata-tokenizer");
        FAIL() << "expected std::runtime_error";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/strata-tokenizer"), std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace strata::tokenizer
