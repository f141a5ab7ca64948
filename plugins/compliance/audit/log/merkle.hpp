// RFC 9162 §2.1 Merkle tree hashing (identical to RFC 6962 §2.1): leaf and node hashes, an
// append-only in-memory tree, inclusion and consistency proofs, and the RFC 9162 §2.1.3.2 /
// §2.1.4.2 verification algorithms with the edge-case policy of transparency-dev/merkle
// (see ../shared/reference/governance.md §2).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strata::audit {

using Hash = std::array<uint8_t, 32>;

Hash sha256(std::span<const uint8_t> data);
Hash empty_tree_hash();                         // SHA-256("")
Hash leaf_hash(std::span<const uint8_t> data);  // SHA-256(0x00 || data)
inline Hash leaf_hash(std::string_view data) {
  return leaf_hash(std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}
Hash node_hash(const Hash& left, const Hash& right);  // SHA-256(0x01 || left || right)

std::string to_hex(const Hash& hash);  // 64 lowercase hex digits
// Exactly 64 hex digits (either case); std::nullopt otherwise.
std::optional<Hash> hash_from_hex(std::string_view hex);

// Append-only tree over leaf hashes. It keeps every complete aligned subtree hash (about
// 2n hashes for n leaves, 64 MB for a million leaves), so append is amortised O(1), and
// root_at and each proof node are O(log n) lookups.
class MerkleTree {
 public:
  void append(const Hash& leaf_hash);
  uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  Hash root() const { return root_at(size()); }
  // Root of the first n leaves; throws std::out_of_range if n > size().
  Hash root_at(uint64_t n) const;
  // Throws std::out_of_range if i >= size().
  const Hash& leaf(uint64_t i) const;
  // RFC 9162 PATH(index, D[tree_size]), leaf side first. Throws std::out_of_range unless
  // index < tree_size <= size().
  std::vector<Hash> inclusion_proof(uint64_t index, uint64_t tree_size) const;
  // RFC 9162 PROOF(old_size, D[new_size]). Throws std::out_of_range unless
  // 0 < old_size <= new_size <= size(); old_size == new_size gives an empty proof.
  std::vector<Hash> consistency_proof(uint64_t old_size, uint64_t new_size) const;

 private:
  Hash subtree(uint64_t begin, uint64_t end) const;  // MTH(D[begin:end])
  void path(uint64_t m, uint64_t begin, uint64_t end, std::vector<Hash>& out) const;
  void subproof(uint64_t m, uint64_t begin, uint64_t end, bool complete, std::vector<Hash>& out) const;

  // levels_[h][i] = hash of the complete subtree over leaves [i * 2^h, (i + 1) * 2^h).
  std::vector<std::vector<Hash>> levels_;
};

// RFC 9162 §2.1.3.2. True, or false with a one-line reason in *why (if non-null).
bool verify_inclusion(uint64_t index, uint64_t tree_size, const Hash& leaf, std::span<const Hash> proof,
                      const Hash& root, std::string* why = nullptr);
// RFC 9162 §2.1.4.2, plus: old_size == 0 fails (a proof from the empty tree is
// meaningless), old_size == new_size needs an empty proof and equal roots, old > new fails.
bool verify_consistency(uint64_t old_size, uint64_t new_size, const Hash& old_root, const Hash& new_root,
                        std::span<const Hash> proof, std::string* why = nullptr);

// The same checks on untrusted byte strings of any length (decoded JSON, a CLI argument):
// a leaf hash or proof element that is not 32 bytes fails, and roots are compared byte for
// byte, as transparency-dev/merkle's verifier does (its probes include equal-size
// consistency checks with identical 12-byte "roots", which must pass).
bool verify_inclusion_bytes(uint64_t index, uint64_t tree_size, std::span<const uint8_t> leaf,
                            std::span<const std::vector<uint8_t>> proof, std::span<const uint8_t> root,
                            std::string* why = nullptr);
bool verify_consistency_bytes(uint64_t old_size, uint64_t new_size, std::span<const uint8_t> old_root,
                              std::span<const uint8_t> new_root, std::span<const std::vector<uint8_t>> proof,
                              std::string* why = nullptr);

}  // namespace strata::audit
