// Ed25519 keys (libsodium) in the C2SP signed-note key formats (c2sp.org/signed-note, and
// the text forms of golang.org/x/mod/sumdb/note):
//   signer key:   PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>
//   verifier key: <name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>
// with key id = the first 4 bytes (big-endian) of SHA-256(name || 0x0A || 0x01 || public key).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strata::audit {

struct SignerKey {
  std::string name;
  std::array<uint8_t, 32> seed{};
  std::array<uint8_t, 32> public_key{};
  uint32_t key_id = 0;
  ~SignerKey();  // sodium_memzero(seed)
};

struct VerifierKey {
  std::string name;
  std::array<uint8_t, 32> public_key{};
  uint32_t key_id = 0;
};

// First 4 bytes (big-endian) of SHA-256(name || 0x0A || 0x01 || pub).
uint32_t key_id(std::string_view name, const std::array<uint8_t, 32>& pub);

// Key names (and signer names in notes): non-empty, valid UTF-8, no '+', no Unicode white
// space, no control characters. Returns an empty string if valid, else the reason.
std::string key_name_problem(std::string_view name);

// Throws std::invalid_argument if the name is invalid (see key_name_problem).
SignerKey generate_signer_key(std::string name);
// The key for a given 32-byte seed (deterministic; for tests and imports).
SignerKey signer_key_from_seed(std::string name, const std::array<uint8_t, 32>& seed);

std::string format_signer_key(const SignerKey& key);      // PRIVATE+KEY+<name>+<%08x id>+<base64(0x01||seed)>
std::string format_verifier_key(const VerifierKey& key);  // <name>+<%08x id>+<base64(0x01||pub)>
// Strict parsers: throw std::invalid_argument naming what is wrong (missing PRIVATE+KEY
// prefix, wrong number of fields, bad name, key id not 8 lowercase hex digits, bad
// base64, wrong length, wrong algorithm byte, key id mismatch).
SignerKey parse_signer_key(std::string_view text);
VerifierKey parse_verifier_key(std::string_view text);
VerifierKey verifier_of(const SignerKey& key);

// Plain (one-shot) Ed25519 as in RFC 8032, not Ed25519ph.
std::array<uint8_t, 64> sign_detached(const SignerKey& key, std::span<const uint8_t> msg);
bool verify_detached(const VerifierKey& key, std::span<const uint8_t> msg, const std::array<uint8_t, 64>& sig);

// Keyring file: one verifier key per line; blank lines and lines whose first non-blank
// character is '#' are ignored; surrounding blanks are trimmed. Throws
// std::runtime_error "<file>:<line>: <reason>" on a bad or duplicated key, or if the file
// cannot be read.
std::vector<VerifierKey> load_keyring(const std::filesystem::path& path);
// Parses keyring text; `source` names it in error messages.
std::vector<VerifierKey> parse_keyring(std::string_view text, const std::string& source);

// Writes format_signer_key(key) + "\n" to `path` with mode 0600: temp file + fsync, then
// link() to the final name (so an existing file is never overwritten, atomically), then
// fsync of the directory. Throws std::runtime_error naming the file (e.g. if it exists).
void write_signer_key_file(const std::filesystem::path& path, const SignerKey& key);
// Refuses (std::runtime_error) a file that group or others can read or write, or that is
// not a regular file; throws std::invalid_argument (prefixed with the path) if the key
// text is malformed. One trailing newline is allowed.
SignerKey read_signer_key_file(const std::filesystem::path& path);

namespace detail {
void ensure_sodium();  // sodium_init() once; throws std::runtime_error if it fails
}

}  // namespace strata::audit
