// T5: Ed25519 (RFC 8032 §7.1 vectors through libsodium), C2SP key ids and key formats,
// keyrings and key files.
#include "plugins/compliance/audit/log/keys.hpp"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <fstream>

#include "plugins/compliance/audit/log/encoding.hpp"
#include "test_support.hpp"

namespace strata::audit {
namespace {

namespace fs = std::filesystem;
using test::bytes_of;

std::vector<uint8_t> unhex(std::string_view s) { return hex_decode(s).value(); }

template <size_t N>
std::array<uint8_t, N> arr(std::string_view hex) {
  const auto v = unhex(hex);
  EXPECT_EQ(v.size(), N);
  std::array<uint8_t, N> a{};
  std::copy(v.begin(), v.begin() + std::min(v.size(), N), a.begin());
  return a;
}

struct Rfc8032Vector {
  const char* secret;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032 §7.1, TEST 1-3.
const Rfc8032Vector kVectors[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
};

TEST(Ed25519, Rfc8032Vectors1To3BitExact) {
  int n = 0;
  for (const auto& v : kVectors) {
    SCOPED_TRACE(++n);
    const SignerKey key = signer_key_from_seed("rfc8032", arr<32>(v.secret));
    EXPECT_EQ(hex_encode(key.public_key), v.public_key);
    const auto msg = unhex(v.message);
    const auto sig = sign_detached(key, msg);
    EXPECT_EQ(hex_encode(sig), v.signature);
    const VerifierKey pub = verifier_of(key);
    EXPECT_TRUE(verify_detached(pub, msg, sig));

    // Wrong key.
    const SignerKey other = signer_key_from_seed("rfc8032", arr<32>(kVectors[n % 3].secret));
    EXPECT_FALSE(verify_detached(verifier_of(other), msg, sig));
    // Every 1-bit flip of the message (an empty message gets one byte appended instead).
    if (msg.empty()) {
      const std::vector<uint8_t> longer{0x00};
      EXPECT_FALSE(verify_detached(pub, longer, sig));
    }
    for (size_t bit = 0; bit < msg.size() * 8; ++bit) {
      auto m = msg;
      m[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      EXPECT_FALSE(verify_detached(pub, m, sig)) << "message bit " << bit;
    }
    // Every 1-bit flip of the signature.
    for (size_t bit = 0; bit < 512; ++bit) {
      auto s = sig;
      s[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      EXPECT_FALSE(verify_detached(pub, msg, s)) << "signature bit " << bit;
    }
  }
}

TEST(Ed25519, OneShotIsNotEd25519ph) {
  // The multi-part libsodium API computes Ed25519ph: a different signature (governance.md §3).
  const SignerKey key = signer_key_from_seed("k", arr<32>(kVectors[1].secret));
  const auto msg = unhex(kVectors[1].message);
  uint8_t pk[32], sk[64], ph_sig[64];
  crypto_sign_seed_keypair(pk, sk, key.seed.data());
  crypto_sign_state st;
  crypto_sign_init(&st);
  crypto_sign_update(&st, msg.data(), msg.size());
  crypto_sign_final_create(&st, ph_sig, nullptr, sk);
  EXPECT_NE(hex_encode(std::span(ph_sig, 64)), hex_encode(sign_detached(key, msg)));
  // Deterministic.
  EXPECT_EQ(sign_detached(key, msg), sign_detached(key, msg));
}

TEST(KeyId, KnownAnswerComputedIndependently) {
  const SignerKey key = signer_key_from_seed("example.com/log", arr<32>(kVectors[0].secret));
  // SHA-256(name || 0x0A || 0x01 || pub)[:4], big-endian, computed here with the one-shot API.
  std::string buf = "example.com/log";
  buf += '\n';
  buf += '\x01';
  buf.append(reinterpret_cast<const char*>(key.public_key.data()), 32);
  uint8_t digest[32];
  crypto_hash_sha256(digest, reinterpret_cast<const uint8_t*>(buf.data()), buf.size());
  const uint32_t expected = uint32_t{digest[0]} << 24 | uint32_t{digest[1]} << 16 | uint32_t{digest[2]} << 8 | digest[3];
  EXPECT_EQ(key.key_id, expected);
  EXPECT_EQ(key_id("example.com/log", key.public_key), expected);
  EXPECT_NE(key_id("example.com/log2", key.public_key), expected);
}

// golang.org/x/mod/sumdb/note's documented example key pair: an independent implementation
// of the same key format and key id.
constexpr const char* kGoSigner = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr const char* kGoVerifier = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

TEST(KeyFormat, GoSumdbNoteExampleKeys) {
  const SignerKey s = parse_signer_key(kGoSigner);
  EXPECT_EQ(s.name, "PeterNeumann");
  EXPECT_EQ(s.key_id, 0xc74f20a3u);
  EXPECT_EQ(format_signer_key(s), kGoSigner);
  EXPECT_EQ(format_verifier_key(verifier_of(s)), kGoVerifier);
  const VerifierKey v = parse_verifier_key(kGoVerifier);
  EXPECT_EQ(v.public_key, s.public_key);
  EXPECT_EQ(v.key_id, 0xc74f20a3u);
}

TEST(KeyFormat, GenerateFormatParseRoundTrip) {
  const SignerKey k = generate_signer_key("strata.example/audit");
  const SignerKey back = parse_signer_key(format_signer_key(k));
  EXPECT_EQ(back.name, k.name);
  EXPECT_EQ(back.seed, k.seed);
  EXPECT_EQ(back.public_key, k.public_key);
  EXPECT_EQ(back.key_id, k.key_id);
  const VerifierKey v = parse_verifier_key(format_verifier_key(verifier_of(k)));
  EXPECT_EQ(v.public_key, k.public_key);
  EXPECT_EQ(v.key_id, k.key_id);
  EXPECT_NE(generate_signer_key("x").seed, generate_signer_key("x").seed);
}

void expect_invalid(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no exception, expected one mentioning '" << needle << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(KeyFormat, NamesAreValidated) {
  for (const std::string& bad : std::vector<std::string>{"", "a+b", "a b", "a\tb", "a\nb", std::string("a\xC2\xA0") + "b" /* NBSP */,
                                std::string("a\xE2\x80\x83") + "b" /* EM SPACE */, std::string("\xFF"),
                                std::string("a\x01")})
    EXPECT_THROW(generate_signer_key(bad), std::invalid_argument) << bad;
  EXPECT_NO_THROW(generate_signer_key("r\xC3\xA9sum\xC3\xA9.example/log-1_2"));
}

TEST(KeyFormat, ParseErrorsNameTheProblem) {
  const std::string v = kGoVerifier;
  expect_invalid([&] { parse_signer_key(v); }, "PRIVATE+KEY+");
  expect_invalid([&] { parse_verifier_key(kGoSigner); }, "private");
  expect_invalid([&] { parse_verifier_key("PeterNeumann+c74f20a3"); }, "expected <name>+<key id>+<key>");
  expect_invalid([&] { parse_verifier_key("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"); }, "name");
  expect_invalid([&] { parse_verifier_key("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"); }, "hex");
  expect_invalid([&] { parse_verifier_key("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"); }, "hex");
  expect_invalid([&] { parse_verifier_key("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T"); }, "base64");
  expect_invalid([&] { parse_verifier_key("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TX"); },
                 "does not match");
  expect_invalid([&] { parse_verifier_key("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy"); }, "bytes");
  expect_invalid([&] { parse_verifier_key("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"); },
                 "does not match");
  expect_invalid([&] { parse_verifier_key("PeterNeumannX+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"); },
                 "does not match");
  // Algorithm byte 0x02 instead of 0x01.
  auto raw = base64_decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").value();
  raw[0] = 0x02;
  expect_invalid([&] { parse_verifier_key("PeterNeumann+c74f20a3+" + base64_encode(raw)); }, "algorithm");
  expect_invalid([&] { parse_signer_key("PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"); },
                 "does not match");
  expect_invalid([&] { parse_verifier_key(v + " "); }, "base64");
  // Every single-byte change of a verifier key is rejected.
  int accepted = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    for (int c = 1; c < 256; ++c) {
      std::string m = v;
      m[i] = static_cast<char>(static_cast<uint8_t>(m[i]) ^ c);
      try {
        parse_verifier_key(m);
        ++accepted;
      } catch (const std::invalid_argument&) {
      }
    }
  }
  EXPECT_EQ(accepted, 0);
}

TEST(Keyring, CommentsBlankLinesAndErrorsWithLineNumbers) {
  test::TempDir dir;
  const SignerKey a = generate_signer_key("a.example/log");
  const SignerKey b = generate_signer_key("b.example/approver");
  const fs::path file = dir.path() / "keyring";
  {
    std::ofstream out(file);
    out << "# pinned keys\n\n  " << format_verifier_key(verifier_of(a)) << "  \n   # indented comment\n"
        << format_verifier_key(verifier_of(b)) << "\r\n";
  }
  const auto keys = load_keyring(file);
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].name, "a.example/log");
  EXPECT_EQ(keys[1].public_key, b.public_key);
  {
    std::ofstream out(file);
    out << "# pinned keys\n" << format_verifier_key(verifier_of(a)) << "\nnot-a-key\n";
  }
  try {
    load_keyring(file);
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(file.string() + ":3:"), std::string::npos) << e.what();
  }
  {
    std::ofstream out(file);
    out << format_verifier_key(verifier_of(a)) << "\n" << format_verifier_key(verifier_of(a)) << "\n";
  }
  try {
    load_keyring(file);
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(":2: duplicate"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_keyring(dir.path() / "missing"), std::runtime_error);
}

TEST(KeyFile, WrittenWithMode0600NeverOverwrittenAndPermissionsChecked) {
  test::TempDir dir;
  const fs::path file = dir.path() / "log.key";
  const SignerKey k = generate_signer_key("strata.example/log");
  write_signer_key_file(file, k);
  struct stat st;
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const SignerKey back = read_signer_key_file(file);
  EXPECT_EQ(back.seed, k.seed);
  EXPECT_EQ(back.name, k.name);
  // No temporary files left behind.
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u);

  const SignerKey other = generate_signer_key("strata.example/log");
  try {
    write_signer_key_file(file, other);
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("overwrite"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_signer_key_file(file).seed, k.seed);

  ASSERT_EQ(::chmod(file.c_str(), 0640), 0);
  try {
    read_signer_key_file(file);
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("group or others"), std::string::npos) << msg;
    EXPECT_NE(msg.find("0640"), std::string::npos) << msg;
    EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
  }
  ASSERT_EQ(::chmod(file.c_str(), 0604), 0);
  EXPECT_THROW(read_signer_key_file(file), std::runtime_error);
  ASSERT_EQ(::chmod(file.c_str(), 0400), 0);
  EXPECT_EQ(read_signer_key_file(file).seed, k.seed);

  const fs::path bad = dir.path() / "bad.key";
  {
    std::ofstream out(bad);
    out << "PRIVATE+KEY+x+00000000+AAAA\n";
  }
  ::chmod(bad.c_str(), 0600);
  try {
    read_signer_key_file(bad);
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(bad.string()), std::string::npos) << e.what();
  }
}

TEST(SignerKey, SeedIsZeroedOnDestruction) {
  alignas(SignerKey) unsigned char storage[sizeof(SignerKey)];
  auto* k = new (storage) SignerKey(generate_signer_key("z"));
  const auto* seed = k->seed.data();
  const size_t offset = static_cast<size_t>(reinterpret_cast<const unsigned char*>(seed) - storage);
  bool nonzero = false;
  for (int i = 0; i < 32; ++i) nonzero |= seed[i] != 0;
  EXPECT_TRUE(nonzero);
  k->~SignerKey();
  bool zero = true;
  for (int i = 0; i < 32; ++i) zero &= storage[offset + i] == 0;
  EXPECT_TRUE(zero);
}

}  // namespace
}  // namespace strata::audit
