// C2SP signed notes and tlog checkpoints; T4 (every byte of a signed tree head mutated to
// every other value: 0 accepted) and the signature rules of T5.
#include "plugins/compliance/audit/log/signed_note.hpp"

#include <gtest/gtest.h>

#include <cstdio>

#include "plugins/compliance/audit/log/encoding.hpp"
#include "test_support.hpp"

namespace strata::audit {
namespace {

const char* kGoSigner = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const char* kGoText =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
const char* kGoNote =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\xE2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

void expect_rejected(std::string_view note, std::span<const VerifierKey> keys, const std::string& needle) {
  try {
    open_note(note, keys);
    ADD_FAILURE() << "accepted; expected a rejection mentioning '" << needle << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(SignedNote, ReproducesTheGoSumdbNoteExampleByteForByte) {
  const SignerKey key = parse_signer_key(kGoSigner);
  const SignerKey* signers[] = {&key};
  EXPECT_EQ(sign_note(kGoText, signers), kGoNote);
  const VerifierKey known[] = {verifier_of(key)};
  const OpenedNote opened = open_note(kGoNote, known);
  EXPECT_EQ(opened.body, kGoText);
  ASSERT_EQ(opened.verified_by, std::vector<std::string>{"PeterNeumann"});
  ASSERT_EQ(opened.signatures.size(), 1u);
  EXPECT_EQ(opened.signatures[0].key_id, 0xc74f20a3u);
}

TEST(SignedNote, UnknownKeysAreIgnoredKnownBadSignaturesRejected) {
  const SignerKey log = generate_signer_key("log.example/a");
  const SignerKey witness = generate_signer_key("witness.example/w");
  const SignerKey* both[] = {&log, &witness};
  const std::string body = "log.example/a\n5\n" + base64_encode(leaf_hash(std::string_view("x"))) + "\n";
  const std::string note = sign_note(body, both);

  // Only the log key known: the witness signature is ignored.
  const VerifierKey only_log[] = {verifier_of(log)};
  auto opened = open_note(note, only_log);
  EXPECT_EQ(opened.verified_by, std::vector<std::string>{"log.example/a"});
  // Both known: both verified, in order.
  const VerifierKey both_known[] = {verifier_of(log), verifier_of(witness)};
  opened = open_note(note, both_known);
  EXPECT_EQ(opened.verified_by, (std::vector<std::string>{"log.example/a", "witness.example/w"}));
  // No known key at all.
  const SignerKey stranger = generate_signer_key("log.example/a");  // same name, other key id
  const VerifierKey strangers[] = {verifier_of(stranger)};
  expect_rejected(note, strangers, "not signed by any known key");
  expect_rejected(note, {}, "not signed by any known key");

  // A known key (same name and id) whose signature does not verify: the whole note is rejected,
  // even though the other known key's signature is fine.
  VerifierKey impostor = verifier_of(witness);
  impostor.public_key = stranger.public_key;  // name + id match the signature line, key differs
  const VerifierKey with_impostor[] = {verifier_of(log), impostor};
  expect_rejected(note, with_impostor, "does not verify");

  // Body changed after signing.
  std::string altered = note;
  altered[body.find('5')] = '6';
  expect_rejected(altered, only_log, "does not verify");

  // A signature line of a known key with a wrong length.
  std::string short_sig = body + "\n\xE2\x80\x94 log.example/a " +
                          base64_encode(std::vector<uint8_t>{static_cast<uint8_t>(log.key_id >> 24),
                                                             static_cast<uint8_t>(log.key_id >> 16),
                                                             static_cast<uint8_t>(log.key_id >> 8),
                                                             static_cast<uint8_t>(log.key_id), 1, 2, 3}) +
                          "\n";
  expect_rejected(short_sig, only_log, "not a 64-byte");
}

TEST(SignedNote, MalformedNotesAreRejectedWithReasons) {
  const SignerKey key = generate_signer_key("k.example");
  const VerifierKey known[] = {verifier_of(key)};
  const SignerKey* signers[] = {&key};
  const std::string good = sign_note("hello\n", signers);
  ASSERT_NO_THROW(open_note(good, known));
  expect_rejected(good.substr(0, good.size() - 1), known, "newline");
  expect_rejected("hello\n\xE2\x80\x94 k.example AAAA\n", known, "blank line");
  expect_rejected("hello\n\n", known, "no signature lines");
  expect_rejected(good + "\n", known, "no signature lines");
  expect_rejected("hel\x01lo\n" + good.substr(6), known, "control character");
  expect_rejected("hel\xFFlo\n" + good.substr(6), known, "UTF-8");
  std::string dash = good;
  dash.replace(dash.find("\xE2\x80\x94"), 3, "-");
  expect_rejected(dash, known, "em dash");
  std::string extra_space = good;
  extra_space.insert(extra_space.rfind(' '), " ");
  expect_rejected(extra_space, known, "");
  std::string trailing = good;
  trailing.insert(trailing.size() - 1, " ");
  expect_rejected(trailing, known, "");
  // Too many signature lines.
  std::string many = "hello\n\n";
  const std::string line = good.substr(good.find("\n\n") + 2);
  for (size_t i = 0; i <= kMaxNoteSignatures; ++i) many += line;
  expect_rejected(many, known, "more than");
  // 16 signatures must be accepted.
  std::string sixteen = "hello\n\n";
  for (int i = 0; i < 16; ++i) sixteen += line;
  EXPECT_NO_THROW(open_note(sixteen, known));

  // Signing refuses what it could not open again.
  EXPECT_THROW(sign_note("no newline", signers), std::invalid_argument);
  EXPECT_THROW(sign_note("tab\there\n", signers), std::invalid_argument);
  EXPECT_THROW(sign_note("x\n", std::span<const SignerKey* const>{}), std::invalid_argument);
  // Text may contain empty lines (the last blank line separates the signatures).
  const std::string with_blank = sign_note("a\n\nb\n", signers);
  EXPECT_EQ(open_note(with_blank, known).body, "a\n\nb\n");
}

TEST(TreeHead, FormatAndStrictParse) {
  TreeHead h{"strata.example/run-1", 1234, leaf_hash(std::string_view("r")), {"ext one", "ext-two"}};
  const std::string body = format_tree_head(h);
  EXPECT_EQ(body, "strata.example/run-1\n1234\n" + base64_encode(h.root) + "\next one\next-two\n");
  const TreeHead back = parse_tree_head(body);
  EXPECT_EQ(back.origin, h.origin);
  EXPECT_EQ(back.size, h.size);
  EXPECT_EQ(back.root, h.root);
  EXPECT_EQ(back.extensions, h.extensions);

  const std::string root = base64_encode(h.root);
  EXPECT_EQ(parse_tree_head("o\n0\n" + root + "\n").size, 0u);
  EXPECT_EQ(parse_tree_head("o\n18446744073709551615\n" + root + "\n").size, UINT64_MAX);
  for (const std::string& bad : std::vector<std::string>{
           "o\n01\n" + root + "\n",                      // leading zero
           "o\n+1\n" + root + "\n",                      // sign
           "o\n 1\n" + root + "\n",                      // space
           "o\n1 \n" + root + "\n",                      // trailing space
           "o\n18446744073709551616\n" + root + "\n",    // overflow
           "o\n\n" + root + "\n",                        // empty size
           "o\n1\n" + root,                              // no final newline
           "o\n1\n" + root + "\n\n",                     // empty extension line
           "o\n1\n",                                     // too few lines
           "o x\n1\n" + root + "\n",                     // space in origin
           "\n1\n" + root + "\n",                        // empty origin
           "o\n1\n" + root.substr(0, 43) + "\n",         // not base64
           "o\n1\n" + base64_encode(std::vector<uint8_t>(31, 7)) + "\n",  // 31 bytes
           "o\n1\n" + root + " \n",                      // trailing space after root
           "o\r\n1\n" + root + "\n",                     // CR
       }) {
    EXPECT_THROW(parse_tree_head(bad), std::invalid_argument) << bad;
  }
  EXPECT_THROW(format_tree_head(TreeHead{"", 1, h.root, {}}), std::invalid_argument);
  EXPECT_THROW(format_tree_head(TreeHead{"a b", 1, h.root, {}}), std::invalid_argument);
  EXPECT_THROW(format_tree_head(TreeHead{"o", 1, h.root, {""}}), std::invalid_argument);
  EXPECT_THROW(format_tree_head(TreeHead{"o", 1, h.root, {"a\nb"}}), std::invalid_argument);
}

// T4: every byte of a signed tree head, changed to each of the 255 other values, is rejected.
TEST(TreeHead, ExhaustiveSingleByteMutationsOfASignedCheckpointAreAllRejected) {
  const SignerKey log = generate_signer_key("strata.example/log");
  const SignerKey* signers[] = {&log};
  const VerifierKey known[] = {verifier_of(log)};
  const TreeHead head{"strata.example/log", 1234567, leaf_hash(std::string_view("root")), {}};
  const std::string note = sign_note(format_tree_head(head), signers);
  {
    const TreeHead t = parse_tree_head(open_note(note, known).body);
    ASSERT_EQ(t.size, head.size);
    ASSERT_EQ(t.root, head.root);
  }
  uint64_t mutations = 0, accepted = 0, same_meaning = 0;
  for (size_t i = 0; i < note.size(); ++i) {
    for (int v = 0; v < 256; ++v) {
      if (static_cast<uint8_t>(note[i]) == v) continue;
      std::string m = note;
      m[i] = static_cast<char>(v);
      ++mutations;
      try {
        const TreeHead t = parse_tree_head(open_note(m, known).body);
        ++accepted;
        if (t.origin == head.origin && t.size == head.size && t.root == head.root) ++same_meaning;
        ADD_FAILURE() << "accepted mutation: byte " << i << " -> " << v;
      } catch (const std::invalid_argument&) {
      }
    }
  }
  std::printf("[ note     ] signed tree head of %zu bytes: %llu single-byte mutations, %llu accepted "
              "(%llu with the same meaning)\n",
              note.size(), static_cast<unsigned long long>(mutations), static_cast<unsigned long long>(accepted),
              static_cast<unsigned long long>(same_meaning));
  EXPECT_EQ(mutations, note.size() * 255);
  EXPECT_EQ(accepted, 0u);
}

}  // namespace
}  // namespace strata::audit
