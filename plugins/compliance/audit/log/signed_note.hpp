// C2SP signed notes (c2sp.org/signed-note) with Ed25519 signatures, and tlog checkpoints
// (c2sp.org/tlog-checkpoint), parsed strictly: exactly one byte string is accepted for a
// given (text, signatures) or (origin, size, root, extensions), so any byte mutation of a
// signed tree head is rejected (governance.md §2.8, test T4).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plugins/compliance/audit/log/keys.hpp"
#include "plugins/compliance/audit/log/merkle.hpp"

namespace strata::audit {

struct NoteSignature {
  std::string name;
  uint32_t key_id = 0;
  std::array<uint8_t, 64> sig{};
};

// Most signature lines a note may carry (the spec requires accepting at least 16).
inline constexpr size_t kMaxNoteSignatures = 100;

// body must be non-empty, end with '\n', be valid UTF-8 without control characters other
// than '\n'; at least one signer. Output = body + "\n" + "— <name> <base64(keyid_be4 || sig)>\n"
// per signer, in the order given. Throws std::invalid_argument otherwise.
std::string sign_note(std::string_view body, std::span<const SignerKey* const> signers);

struct OpenedNote {
  std::string body;                        // the signed text, with its final newline
  std::vector<std::string> verified_by;    // names of known keys whose signature verified (no duplicates)
  std::vector<NoteSignature> signatures;   // the verified signatures, in note order
};

// Throws std::invalid_argument with a precise reason if the note is malformed (encoding,
// control characters, missing blank line, bad signature line, non-canonical base64, more
// than kMaxNoteSignatures signatures), if a signature whose name and key id match a known
// key is not a valid Ed25519 signature of the text, or if no known key verified it.
// Signatures from unknown (name, id) pairs are ignored, as the spec requires.
OpenedNote open_note(std::string_view note, std::span<const VerifierKey> known);

// tlog-checkpoint body: "<origin>\n<size>\n<base64 root>\n" followed by extension lines.
struct TreeHead {
  std::string origin;
  uint64_t size = 0;
  Hash root{};
  std::vector<std::string> extensions;  // each a non-empty line, without its '\n'
};

// Throws std::invalid_argument if the origin or an extension line cannot be written
// (empty, contains a newline or control character, origin with white space, bad UTF-8).
std::string format_tree_head(const TreeHead& head);
// Strict: lines end with '\n' and are non-empty; origin without white space; size decimal
// without leading zeros (just "0" for the empty tree) and within uint64; root canonical
// base64 of exactly 32 bytes. Throws std::invalid_argument naming the line.
TreeHead parse_tree_head(std::string_view body);

}  // namespace strata::audit
