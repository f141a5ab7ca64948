#include "plugins/compliance/audit/log/merkle.hpp"

#include <sodium.h>

#include <algorithm>
#include <bit>
#include <stdexcept>

#include "plugins/compliance/audit/log/encoding.hpp"

namespace strata::audit {
namespace {

// Builds the reason only when the caller asked for one (verification of many candidate
// proofs should not pay for formatting).
#define STRATA_REJECT(why, reason) \
  do {                             \
    if (why) *(why) = (reason);    \
    return false;                  \
  } while (0)

// Largest power of two strictly less than n (n >= 2).
uint64_t split_point(uint64_t n) { return std::bit_floor(n - 1); }

std::string short_hex(const Hash& h) { return to_hex(h).substr(0, 16) + "..."; }

}  // namespace

Hash sha256(std::span<const uint8_t> data) {
  Hash out{};
  crypto_hash_sha256(out.data(), data.data(), data.size());
  return out;
}

Hash empty_tree_hash() { return sha256({}); }

Hash leaf_hash(std::span<const uint8_t> data) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  const uint8_t prefix = 0x00;
  crypto_hash_sha256_update(&st, &prefix, 1);
  crypto_hash_sha256_update(&st, data.data(), data.size());
  Hash out{};
  crypto_hash_sha256_final(&st, out.data());
  return out;
}

Hash node_hash(const Hash& left, const Hash& right) {
  uint8_t buf[65];
  buf[0] = 0x01;
  std::copy(left.begin(), left.end(), buf + 1);
  std::copy(right.begin(), right.end(), buf + 33);
  Hash out{};
  crypto_hash_sha256(out.data(), buf, sizeof buf);
  return out;
}

std::string to_hex(const Hash& hash) { return hex_encode(hash); }

std::optional<Hash> hash_from_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  const auto bytes = hex_decode(hex);
  if (!bytes) return std::nullopt;
  Hash out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

// --- MerkleTree ---------------------------------------------------------------------------

void MerkleTree::append(const Hash& leaf) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(leaf);
  // Close every complete subtree that this leaf finishes.
  for (size_t h = 0; levels_[h].size() % 2 == 0; ++h) {
    if (levels_.size() == h + 1) levels_.emplace_back();
    const auto& lv = levels_[h];
    const Hash parent = node_hash(lv[lv.size() - 2], lv[lv.size() - 1]);
    levels_[h + 1].push_back(parent);
  }
}

const Hash& MerkleTree::leaf(uint64_t i) const {
  if (i >= size()) throw std::out_of_range("leaf index " + std::to_string(i) + " >= tree size " + std::to_string(size()));
  return levels_[0][i];
}

Hash MerkleTree::subtree(uint64_t begin, uint64_t end) const {
  const uint64_t n = end - begin;
  if (n == 0) return empty_tree_hash();
  if (std::has_single_bit(n)) {
    // Every range reached from root_at / path / subproof starts at a multiple of its
    // power-of-two size, so the complete subtree is cached.
    const int h = std::countr_zero(n);
    return levels_[static_cast<size_t>(h)][begin >> h];
  }
  const uint64_t k = split_point(n);
  return node_hash(subtree(begin, begin + k), subtree(begin + k, end));
}

Hash MerkleTree::root_at(uint64_t n) const {
  if (n > size()) throw std::out_of_range("tree size " + std::to_string(n) + " > " + std::to_string(size()) + " leaves");
  return subtree(0, n);
}

void MerkleTree::path(uint64_t m, uint64_t begin, uint64_t end, std::vector<Hash>& out) const {
  const uint64_t n = end - begin;
  if (n <= 1) return;
  const uint64_t k = split_point(n);
  if (m < k) {
    path(m, begin, begin + k, out);
    out.push_back(subtree(begin + k, end));
  } else {
    path(m - k, begin + k, end, out);
    out.push_back(subtree(begin, begin + k));
  }
}

std::vector<Hash> MerkleTree::inclusion_proof(uint64_t index, uint64_t tree_size) const {
  if (tree_size > size())
    throw std::out_of_range("inclusion proof: tree size " + std::to_string(tree_size) + " > " + std::to_string(size()) + " leaves");
  if (index >= tree_size)
    throw std::out_of_range("inclusion proof: index " + std::to_string(index) + " >= tree size " + std::to_string(tree_size));
  std::vector<Hash> out;
  path(index, 0, tree_size, out);
  return out;
}

void MerkleTree::subproof(uint64_t m, uint64_t begin, uint64_t end, bool complete, std::vector<Hash>& out) const {
  const uint64_t n = end - begin;
  if (m == n) {
    if (!complete) out.push_back(subtree(begin, end));
    return;
  }
  const uint64_t k = split_point(n);
  if (m <= k) {
    subproof(m, begin, begin + k, complete, out);
    out.push_back(subtree(begin + k, end));
  } else {
    subproof(m - k, begin + k, end, false, out);
    out.push_back(subtree(begin, begin + k));
  }
}

std::vector<Hash> MerkleTree::consistency_proof(uint64_t old_size, uint64_t new_size) const {
  if (new_size > size())
    throw std::out_of_range("consistency proof: new size " + std::to_string(new_size) + " > " + std::to_string(size()) + " leaves");
  if (old_size == 0 || old_size > new_size)
    throw std::out_of_range("consistency proof: need 0 < old size <= new size, got " + std::to_string(old_size) + " and " +
                            std::to_string(new_size));
  std::vector<Hash> out;
  if (old_size < new_size) subproof(old_size, 0, new_size, true, out);
  return out;
}

// --- verification ---------------------------------------------------------------------------

bool verify_inclusion(uint64_t index, uint64_t tree_size, const Hash& leaf, std::span<const Hash> proof,
                      const Hash& root, std::string* why) {
  if (index >= tree_size)
    STRATA_REJECT(why, "leaf index " + std::to_string(index) + " >= tree size " + std::to_string(tree_size));
  uint64_t fn = index;
  uint64_t sn = tree_size - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0)
      STRATA_REJECT(why, "inclusion proof has " + std::to_string(proof.size()) + " hashes, too many for index " +
                           std::to_string(index) + " in a tree of size " + std::to_string(tree_size));
    if ((fn & 1) || fn == sn) {
      r = node_hash(p, r);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0)
    STRATA_REJECT(why, "inclusion proof has " + std::to_string(proof.size()) + " hashes, too few for index " +
                         std::to_string(index) + " in a tree of size " + std::to_string(tree_size));
  if (r != root)
    STRATA_REJECT(why, "inclusion proof gives root " + short_hex(r) + ", expected " + short_hex(root));
  return true;
}

bool verify_consistency(uint64_t old_size, uint64_t new_size, const Hash& old_root, const Hash& new_root,
                        std::span<const Hash> proof, std::string* why) {
  if (new_size < old_size)
    STRATA_REJECT(why, "new tree size " + std::to_string(new_size) + " < old tree size " + std::to_string(old_size));
  if (old_size == 0) STRATA_REJECT(why, "a consistency proof from the empty tree is meaningless");
  if (old_size == new_size) {
    if (!proof.empty()) STRATA_REJECT(why, "equal tree sizes need an empty consistency proof");
    if (old_root != new_root) STRATA_REJECT(why, "equal tree sizes but different roots");
    return true;
  }
  if (proof.empty()) STRATA_REJECT(why, "empty consistency proof for different tree sizes");

  std::vector<Hash> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(old_size)) path.push_back(old_root);
  path.insert(path.end(), proof.begin(), proof.end());

  uint64_t fn = old_size - 1;
  uint64_t sn = new_size - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0];
  Hash sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0)
      STRATA_REJECT(why, "consistency proof has " + std::to_string(proof.size()) + " hashes, too many for sizes " +
                           std::to_string(old_size) + " -> " + std::to_string(new_size));
    if ((fn & 1) || fn == sn) {
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0)
    STRATA_REJECT(why, "consistency proof has " + std::to_string(proof.size()) + " hashes, too few for sizes " +
                         std::to_string(old_size) + " -> " + std::to_string(new_size));
  if (fr != old_root)
    STRATA_REJECT(why, "consistency proof gives old root " + short_hex(fr) + ", expected " + short_hex(old_root));
  if (sr != new_root)
    STRATA_REJECT(why, "consistency proof gives new root " + short_hex(sr) + ", expected " + short_hex(new_root));
  return true;
}

namespace {

std::optional<Hash> as_hash(std::span<const uint8_t> bytes) {
  if (bytes.size() != 32) return std::nullopt;
  Hash h{};
  std::copy(bytes.begin(), bytes.end(), h.begin());
  return h;
}

bool proof_as_hashes(std::span<const std::vector<uint8_t>> proof, std::vector<Hash>& out, std::string* why) {
  out.clear();
  for (size_t i = 0; i < proof.size(); ++i) {
    const auto h = as_hash(proof[i]);
    if (!h) STRATA_REJECT(why, "proof hash " + std::to_string(i) + " is " + std::to_string(proof[i].size()) + " bytes, not 32");
    out.push_back(*h);
  }
  return true;
}

}  // namespace

bool verify_inclusion_bytes(uint64_t index, uint64_t tree_size, std::span<const uint8_t> leaf,
                            std::span<const std::vector<uint8_t>> proof, std::span<const uint8_t> root,
                            std::string* why) {
  if (index >= tree_size)
    STRATA_REJECT(why, "leaf index " + std::to_string(index) + " >= tree size " + std::to_string(tree_size));
  const auto l = as_hash(leaf);
  if (!l) STRATA_REJECT(why, "leaf hash is " + std::to_string(leaf.size()) + " bytes, not 32");
  const auto r = as_hash(root);
  if (!r) STRATA_REJECT(why, "root is " + std::to_string(root.size()) + " bytes, not 32");
  std::vector<Hash> p;
  if (!proof_as_hashes(proof, p, why)) return false;
  return verify_inclusion(index, tree_size, *l, p, *r, why);
}

bool verify_consistency_bytes(uint64_t old_size, uint64_t new_size, std::span<const uint8_t> old_root,
                              std::span<const uint8_t> new_root, std::span<const std::vector<uint8_t>> proof,
                              std::string* why) {
  if (new_size < old_size)
    STRATA_REJECT(why, "new tree size " + std::to_string(new_size) + " < old tree size " + std::to_string(old_size));
  if (old_size == 0) STRATA_REJECT(why, "a consistency proof from the empty tree is meaningless");
  if (old_size == new_size) {
    if (!proof.empty()) STRATA_REJECT(why, "equal tree sizes need an empty consistency proof");
    if (!std::equal(old_root.begin(), old_root.end(), new_root.begin(), new_root.end()))
      STRATA_REJECT(why, "equal tree sizes but different roots");
    return true;
  }
  const auto r1 = as_hash(old_root);
  if (!r1) STRATA_REJECT(why, "old root is " + std::to_string(old_root.size()) + " bytes, not 32");
  const auto r2 = as_hash(new_root);
  if (!r2) STRATA_REJECT(why, "new root is " + std::to_string(new_root.size()) + " bytes, not 32");
  std::vector<Hash> p;
  if (!proof_as_hashes(proof, p, why)) return false;
  return verify_consistency(old_size, new_size, *r1, *r2, p, why);
}

}  // namespace strata::audit
