// Strict base64, hex, UTF-8 validation and CRC32C.
#include "plugins/compliance/audit/log/encoding.hpp"

#include <gtest/gtest.h>

#include <random>

#include "plugins/compliance/audit/log/crc32c.hpp"
#include "test_support.hpp"

namespace strata::audit {
namespace {

using test::bytes_of;

TEST(Base64, Rfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},         {"f", "Zg=="},     {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, enc] : vectors) {
    EXPECT_EQ(base64_encode(plain), enc);
    const auto dec = base64_decode(enc);
    ASSERT_TRUE(dec.has_value()) << enc;
    EXPECT_EQ(std::string(dec->begin(), dec->end()), plain);
  }
}

TEST(Base64, OnlyTheCanonicalSpellingIsAccepted) {
  for (const char* bad : {"Zg", "Zg=", "Zh==", "Zm9=", "Zm8", "Z===", "====", "Zg==Zg==", "Zm 9v", "Zm9v\n", " Zm9v",
                          "Zm9-", "Zm9_", "Zm=v", "Zg=a"})
    EXPECT_FALSE(base64_decode(bad).has_value()) << bad;
  // Random round trips; every re-spelling by a single character change either fails or
  // decodes to different bytes.
  std::mt19937 rng(3);
  for (int t = 0; t < 200; ++t) {
    std::vector<uint8_t> data(rng() % 40);
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    const std::string enc = base64_encode(data);
    ASSERT_EQ(base64_decode(enc), data);
    for (size_t i = 0; i < enc.size(); ++i) {
      std::string m = enc;
      m[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="[rng() % 65];
      if (m == enc) continue;
      const auto d = base64_decode(m);
      if (d) {
        EXPECT_NE(*d, data) << enc << " -> " << m;
      }
    }
  }
}

TEST(Hex, RoundTripAndRejects) {
  const std::vector<uint8_t> v{0x00, 0xab, 0xff};
  EXPECT_EQ(hex_encode(v), "00abff");
  EXPECT_EQ(hex_decode("00ABff"), v);
  EXPECT_FALSE(hex_decode("0"));
  EXPECT_FALSE(hex_decode("0g"));
}

TEST(Utf8, Validation) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("\xE2\x80\x94 em dash, \xC3\xA9, \xF0\x9F\x98\x80"));
  for (const char* bad : {"\x80", "\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xF8",
                          "\xE2\x80", "\xC3"})
    EXPECT_FALSE(is_valid_utf8(bad)) << bad;
}

TEST(Crc32c, KnownAnswers) {
  EXPECT_EQ(crc32c(bytes_of("123456789")), 0xE3069283u);
  EXPECT_EQ(crc32c({}), 0u);
  // RFC 3720 §B.4.
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xFF), inc(32), dec(32);
  for (int i = 0; i < 32; ++i) {
    inc[i] = static_cast<uint8_t>(i);
    dec[i] = static_cast<uint8_t>(31 - i);
  }
  EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones), 0x62A8AB43u);
  EXPECT_EQ(crc32c(inc), 0x46DD794Eu);
  EXPECT_EQ(crc32c(dec), 0x113FDB5Cu);
}

TEST(Crc32c, SlicedMatchesBitwiseAndExtends) {
  auto bitwise = [](std::span<const uint8_t> d) {
    uint32_t c = 0xFFFFFFFFu;
    for (uint8_t b : d) {
      c ^= b;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
  };
  std::mt19937 rng(9);
  for (int t = 0; t < 300; ++t) {
    std::vector<uint8_t> d(rng() % 300);
    for (auto& b : d) b = static_cast<uint8_t>(rng());
    ASSERT_EQ(crc32c(d), bitwise(d));
    const size_t cut = d.empty() ? 0 : rng() % d.size();
    ASSERT_EQ(crc32c_extend(crc32c(std::span(d).subspan(0, cut)), std::span(d).subspan(cut)), crc32c(d));
  }
}

}  // namespace
}  // namespace strata::audit
