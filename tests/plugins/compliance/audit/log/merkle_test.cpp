// T1 (RFC 6962/9162 known answers and the transparency-dev/merkle probes) and T2 (every
// proof for tree sizes 1..256, spot checks to 1024, against a naive recursive reference;
// single-bit mutations rejected).
#include "plugins/compliance/audit/log/merkle.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>

#include "plugins/compliance/audit/log/encoding.hpp"
#include "test_support.hpp"

namespace strata::audit {
namespace {

namespace fs = std::filesystem;
using test::bytes_of;

// testonly/constants.go LeafInputs() and RootHashes() (governance.md §2.5).
const std::vector<std::string> kLeafInputsHex = {
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"};
const std::vector<std::string> kRootsHex = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

MerkleTree reference_tree() {
  MerkleTree t;
  for (const auto& hex : kLeafInputsHex) t.append(leaf_hash(*hex_decode(hex)));
  return t;
}

TEST(MerkleKat, HasherKnownAnswers) {
  EXPECT_EQ(to_hex(empty_tree_hash()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(to_hex(leaf_hash(std::span<const uint8_t>{})),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  EXPECT_EQ(to_hex(leaf_hash(std::string_view("L123456"))),
            "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56");
  // SHA-256(0x01 || "N123" || "N456"): node hashing is the 0x01 prefix then both children.
  const std::string node_input = std::string("\x01", 1) + "N123" + "N456";
  EXPECT_EQ(to_hex(sha256(bytes_of(node_input))), "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb");
  const Hash l = leaf_hash(std::string_view("left"));
  const Hash r = leaf_hash(std::string_view("right"));
  std::vector<uint8_t> buf{0x01};
  buf.insert(buf.end(), l.begin(), l.end());
  buf.insert(buf.end(), r.begin(), r.end());
  EXPECT_EQ(node_hash(l, r), sha256(buf));
  EXPECT_NE(node_hash(l, r), node_hash(r, l));
  EXPECT_NE(empty_tree_hash(), leaf_hash(std::span<const uint8_t>{}));  // empty tree != empty leaf
}

TEST(MerkleKat, ReferenceRootsForSizes0To8) {
  const MerkleTree t = reference_tree();
  ASSERT_EQ(t.size(), 8u);
  for (uint64_t n = 0; n <= 8; ++n) EXPECT_EQ(to_hex(t.root_at(n)), kRootsHex[n]) << "size " << n;
  EXPECT_EQ(t.root(), t.root_at(8));
  // An incrementally built tree agrees at every size.
  MerkleTree inc;
  EXPECT_EQ(to_hex(inc.root()), kRootsHex[0]);
  for (size_t i = 0; i < kLeafInputsHex.size(); ++i) {
    inc.append(leaf_hash(*hex_decode(kLeafInputsHex[i])));
    EXPECT_EQ(to_hex(inc.root()), kRootsHex[i + 1]);
  }
}

TEST(MerkleKat, HexRoundTrip) {
  const Hash h = leaf_hash(std::string_view("x"));
  EXPECT_EQ(hash_from_hex(to_hex(h)), h);
  std::string upper = to_hex(h);
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  EXPECT_EQ(hash_from_hex(upper), h);
  EXPECT_FALSE(hash_from_hex(to_hex(h).substr(1)));
  EXPECT_FALSE(hash_from_hex(to_hex(h) + "0"));
  EXPECT_FALSE(hash_from_hex(std::string(63, '0') + "g"));
}

// --- T1: transparency-dev/merkle probes ---------------------------------------------------

struct Probe {
  fs::path file;
  nlohmann::json j;
};

std::vector<Probe> load_probes(const std::string& kind) {
  const fs::path root = test::shared_data_dir() / "merkle-vectors" / kind;
  std::vector<Probe> out;
  if (!fs::is_directory(root)) return out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file() || e.path().extension() != ".json") continue;
    std::ifstream in(e.path());
    out.push_back({e.path(), nlohmann::json::parse(in)});
  }
  std::sort(out.begin(), out.end(), [](const Probe& a, const Probe& b) { return a.file < b.file; });
  return out;
}

std::vector<uint8_t> b64(const nlohmann::json& v) {
  const auto d = base64_decode(v.get<std::string>());
  EXPECT_TRUE(d.has_value()) << v;
  return d.value_or(std::vector<uint8_t>{});
}

std::vector<std::vector<uint8_t>> b64_list(const nlohmann::json& v) {
  std::vector<std::vector<uint8_t>> out;
  if (v.is_null()) return out;
  for (const auto& e : v) out.push_back(b64(e));
  return out;
}

std::optional<Hash> as_hash(const std::vector<uint8_t>& b) {
  if (b.size() != 32) return std::nullopt;
  Hash h{};
  std::copy(b.begin(), b.end(), h.begin());
  return h;
}

TEST(MerkleProbes, Inclusion98) {
  const auto probes = load_probes("inclusion");
  if (probes.empty()) GTEST_SKIP() << "merkle-vectors not found under " << test::shared_data_dir();
  ASSERT_EQ(probes.size(), 98u);
  const MerkleTree ref = reference_tree();
  int agree = 0, accepted = 0, rejected = 0, cross_checked = 0;
  for (const auto& p : probes) {
    const auto& j = p.j;
    const uint64_t index = j.at("leafIdx").get<uint64_t>();
    const uint64_t size = j.at("treeSize").get<uint64_t>();
    const auto leaf = b64(j.at("leafHash"));
    const auto root = b64(j.at("root"));
    const auto proof = b64_list(j.at("proof"));
    const bool want_err = j.at("wantErr").get<bool>();
    std::string why;
    const bool ok = verify_inclusion_bytes(index, size, leaf, proof, root, &why);
    EXPECT_EQ(ok, !want_err) << p.file << ": " << j.value("desc", "") << " (" << why << ")";
    if (ok == !want_err) ++agree;
    (ok ? accepted : rejected)++;
    if (!ok) {
      EXPECT_FALSE(why.empty()) << p.file;
    }
    // The Hash-typed API gives the same answer wherever every field is 32 bytes.
    const auto l = as_hash(leaf), r = as_hash(root);
    std::vector<Hash> hp;
    bool all32 = l && r;
    for (const auto& e : proof) {
      if (auto h = as_hash(e)) hp.push_back(*h);
      else all32 = false;
    }
    if (all32) {
      EXPECT_EQ(verify_inclusion(index, size, *l, hp, *r), ok) << p.file;
    }
    // Happy paths inside the reference tree: our generated proof is byte-identical.
    if (!want_err && size <= ref.size() && l && *l == ref.leaf(index)) {
      EXPECT_EQ(ref.inclusion_proof(index, size), hp) << p.file;
      EXPECT_EQ(ref.root_at(size), *r) << p.file;
      ++cross_checked;
    }
  }
  std::printf("[ merkle   ] inclusion probes: %zu, agree with wantErr: %d (accepted %d, rejected %d), "
              "proofs regenerated identically: %d\n",
              probes.size(), agree, accepted, rejected, cross_checked);
  EXPECT_EQ(agree, 98);
  EXPECT_GE(cross_checked, 4);
}

TEST(MerkleProbes, Consistency98) {
  const auto probes = load_probes("consistency");
  if (probes.empty()) GTEST_SKIP() << "merkle-vectors not found under " << test::shared_data_dir();
  ASSERT_EQ(probes.size(), 98u);
  const MerkleTree ref = reference_tree();
  int agree = 0, accepted = 0, rejected = 0, cross_checked = 0;
  for (const auto& p : probes) {
    const auto& j = p.j;
    const uint64_t size1 = j.at("size1").get<uint64_t>();
    const uint64_t size2 = j.at("size2").get<uint64_t>();
    const auto root1 = b64(j.at("root1"));
    const auto root2 = b64(j.at("root2"));
    const auto proof = b64_list(j.at("proof"));
    const bool want_err = j.at("wantErr").get<bool>();
    std::string why;
    const bool ok = verify_consistency_bytes(size1, size2, root1, root2, proof, &why);
    EXPECT_EQ(ok, !want_err) << p.file << ": " << j.value("desc", "") << " (" << why << ")";
    if (ok == !want_err) ++agree;
    (ok ? accepted : rejected)++;
    const auto r1 = as_hash(root1), r2 = as_hash(root2);
    std::vector<Hash> hp;
    bool all32 = r1 && r2;
    for (const auto& e : proof) {
      if (auto h = as_hash(e)) hp.push_back(*h);
      else all32 = false;
    }
    if (all32) {
      EXPECT_EQ(verify_consistency(size1, size2, *r1, *r2, hp), ok) << p.file;
    }
    if (!want_err && size1 > 0 && size2 <= ref.size() && r1 && *r1 == ref.root_at(size1)) {
      EXPECT_EQ(ref.consistency_proof(size1, size2), hp) << p.file;
      ++cross_checked;
    }
  }
  std::printf("[ merkle   ] consistency probes: %zu, agree with wantErr: %d (accepted %d, rejected %d), "
              "proofs regenerated identically: %d\n",
              probes.size(), agree, accepted, rejected, cross_checked);
  EXPECT_EQ(agree, 98);
  EXPECT_GE(cross_checked, 4);
}

// --- T2: naive recursive reference (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1) ---------------------

uint64_t k_of(uint64_t n) { return std::bit_floor(n - 1); }

// The RFC text, recursively, over a span of leaf hashes. MTH is memoised by position so that
// checking every proof up to size 256 stays fast; the recursion is otherwise the RFC's.
struct Reference {
  std::span<const Hash> all;
  mutable std::map<std::pair<const Hash*, size_t>, Hash> memo;

  Hash mth(std::span<const Hash> d) const {
    if (d.empty()) return empty_tree_hash();
    if (d.size() == 1) return d[0];
    const auto key = std::make_pair(d.data(), d.size());
    if (const auto it = memo.find(key); it != memo.end()) return it->second;
    const uint64_t k = k_of(d.size());
    const Hash h = node_hash(mth(d.subspan(0, k)), mth(d.subspan(k)));
    memo.emplace(key, h);
    return h;
  }

  // PATH(m, D[n])
  std::vector<Hash> path(uint64_t m, std::span<const Hash> d) const {
    if (d.size() <= 1) return {};
    const uint64_t k = k_of(d.size());
    std::vector<Hash> out;
    if (m < k) {
      out = path(m, d.subspan(0, k));
      out.push_back(mth(d.subspan(k)));
    } else {
      out = path(m - k, d.subspan(k));
      out.push_back(mth(d.subspan(0, k)));
    }
    return out;
  }

  // SUBPROOF(m, D[n], b)
  std::vector<Hash> subproof(uint64_t m, std::span<const Hash> d, bool b) const {
    if (m == d.size()) return b ? std::vector<Hash>{} : std::vector<Hash>{mth(d)};
    const uint64_t k = k_of(d.size());
    std::vector<Hash> out;
    if (m <= k) {
      out = subproof(m, d.subspan(0, k), b);
      out.push_back(mth(d.subspan(k)));
    } else {
      out = subproof(m - k, d.subspan(k), false);
      out.push_back(mth(d.subspan(0, k)));
    }
    return out;
  }
};

// Unmemoised MTH, to check the memoised one.
Hash plain_mth(std::span<const Hash> d) {
  if (d.empty()) return empty_tree_hash();
  if (d.size() == 1) return d[0];
  const uint64_t k = k_of(d.size());
  return node_hash(plain_mth(d.subspan(0, k)), plain_mth(d.subspan(k)));
}

std::vector<Hash> make_leaves(size_t n) {
  std::vector<Hash> leaves;
  for (size_t i = 0; i < n; ++i) leaves.push_back(leaf_hash(std::string_view("leaf " + std::to_string(i))));
  return leaves;
}

void flip_bit(Hash& h, std::mt19937_64& rng) {
  const size_t bit = rng() % 256;
  h[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
}

TEST(MerkleReference, AllProofsUpTo256MatchReferenceAndMutationsFail) {
  const auto leaves = make_leaves(256);
  MerkleTree tree;
  for (const auto& l : leaves) tree.append(l);
  std::mt19937_64 rng(20240501);
  const Reference ref{leaves, {}};
  std::vector<Hash> roots(257);
  for (uint64_t n = 0; n <= 256; ++n) {
    roots[n] = ref.mth(std::span(leaves).subspan(0, n));
    ASSERT_EQ(roots[n], plain_mth(std::span(leaves).subspan(0, n)));
    ASSERT_EQ(tree.root_at(n), roots[n]) << n;
  }
  uint64_t inclusion = 0, consistency = 0, mutations = 0, mutations_rejected = 0;
  for (uint64_t n = 1; n <= 256; ++n) {
    const auto d = std::span(leaves).subspan(0, n);
    for (uint64_t m = 0; m < n; ++m) {
      const auto proof = tree.inclusion_proof(m, n);
      ASSERT_EQ(proof, ref.path(m, d)) << "PATH(" << m << ", " << n << ")";
      std::string why;
      ASSERT_TRUE(verify_inclusion(m, n, leaves[m], proof, roots[n], &why)) << m << "/" << n << ": " << why;
      ++inclusion;
      for (int t = 0; t < 3; ++t) {
        auto bad_proof = proof;
        Hash bad_root = roots[n];
        Hash bad_leaf = leaves[m];
        const int what = proof.empty() ? 1 + t % 2 : t % 3;
        if (what == 0) flip_bit(bad_proof[rng() % bad_proof.size()], rng);
        else if (what == 1) flip_bit(bad_root, rng);
        else flip_bit(bad_leaf, rng);
        ++mutations;
        if (!verify_inclusion(m, n, bad_leaf, bad_proof, bad_root)) ++mutations_rejected;
      }
      // Wrong index or size: rejected unless it is the same position in the same tree.
      if (n > 1) {
        EXPECT_FALSE(verify_inclusion((m + 1) % n, n, leaves[m], proof, roots[n]));
      }
      // (The same proof can fit another tree size of the same shape: the root does not commit
      // to the size, the signed tree head does. Against that size's root it fails.)
      if (n < 256) {
        EXPECT_FALSE(verify_inclusion(m, n + 1, leaves[m], proof, roots[n + 1]));
      }
    }
    for (uint64_t m = 1; m <= n; ++m) {
      const auto proof = tree.consistency_proof(m, n);
      ASSERT_EQ(proof, m == n ? std::vector<Hash>{} : ref.subproof(m, d, true)) << "PROOF(" << m << ", " << n << ")";
      std::string why;
      ASSERT_TRUE(verify_consistency(m, n, roots[m], roots[n], proof, &why)) << m << "->" << n << ": " << why;
      ++consistency;
      for (int t = 0; t < 3; ++t) {
        auto bad_proof = proof;
        Hash r1 = roots[m], r2 = roots[n];
        const int what = proof.empty() ? 1 + t % 2 : t % 3;
        if (what == 0) flip_bit(bad_proof[rng() % bad_proof.size()], rng);
        else if (what == 1) flip_bit(r1, rng);
        else flip_bit(r2, rng);
        ++mutations;
        if (!verify_consistency(m, n, r1, r2, bad_proof)) ++mutations_rejected;
      }
      if (m < n) {
        // Sizes off by one or swapped roots are rejected.
        EXPECT_FALSE(verify_consistency(m, n, roots[n], roots[m], proof));
        if (m > 1) {
          EXPECT_FALSE(verify_consistency(m - 1, n, roots[m - 1], roots[n], proof));
        }
        if (n < 256) {
          EXPECT_FALSE(verify_consistency(m, n + 1, roots[m], roots[n + 1], proof));
        }
      }
    }
  }
  std::printf("[ merkle   ] sizes 1..256: %llu inclusion and %llu consistency proofs equal the reference and verify; "
              "%llu single-bit mutations, %llu rejected\n",
              static_cast<unsigned long long>(inclusion), static_cast<unsigned long long>(consistency),
              static_cast<unsigned long long>(mutations), static_cast<unsigned long long>(mutations_rejected));
  EXPECT_EQ(inclusion, 256u * 257u / 2u);
  EXPECT_EQ(consistency, 256u * 257u / 2u);
  EXPECT_EQ(mutations_rejected, mutations);
}

TEST(MerkleReference, SpotChecksTo1024) {
  const auto leaves = make_leaves(1024);
  MerkleTree tree;
  for (const auto& l : leaves) tree.append(l);
  std::mt19937_64 rng(7);
  const Reference ref{leaves, {}};
  for (int t = 0; t < 300; ++t) {
    const uint64_t n = 257 + rng() % 768;
    const auto d = std::span(leaves).subspan(0, n);
    const Hash root = ref.mth(d);
    ASSERT_EQ(tree.root_at(n), root) << n;
    const uint64_t m = rng() % n;
    const auto ip = tree.inclusion_proof(m, n);
    ASSERT_EQ(ip, ref.path(m, d));
    ASSERT_TRUE(verify_inclusion(m, n, leaves[m], ip, root));
    const uint64_t old = 1 + rng() % n;
    const auto cp = tree.consistency_proof(old, n);
    if (old < n) {
      ASSERT_EQ(cp, ref.subproof(old, d, true));
    }
    ASSERT_TRUE(verify_consistency(old, n, ref.mth(d.subspan(0, old)), root, cp));
  }
  for (uint64_t n : {512u, 513u, 1000u, 1023u, 1024u}) ASSERT_EQ(tree.root_at(n), plain_mth(std::span(leaves).subspan(0, n)));
}

TEST(MerkleTree, BadArgumentsThrow) {
  const MerkleTree t = reference_tree();
  EXPECT_THROW(t.root_at(9), std::out_of_range);
  EXPECT_THROW(t.leaf(8), std::out_of_range);
  EXPECT_THROW(t.inclusion_proof(8, 8), std::out_of_range);
  EXPECT_THROW(t.inclusion_proof(0, 9), std::out_of_range);
  EXPECT_THROW(t.inclusion_proof(0, 0), std::out_of_range);
  EXPECT_THROW(t.consistency_proof(0, 5), std::out_of_range);
  EXPECT_THROW(t.consistency_proof(6, 5), std::out_of_range);
  EXPECT_THROW(t.consistency_proof(1, 9), std::out_of_range);
  EXPECT_TRUE(t.consistency_proof(5, 5).empty());
  EXPECT_TRUE(t.inclusion_proof(0, 1).empty());
}

TEST(MerkleVerify, EdgeCasesGiveReasons) {
  const MerkleTree t = reference_tree();
  std::string why;
  EXPECT_FALSE(verify_inclusion(3, 3, t.leaf(2), t.inclusion_proof(2, 3), t.root_at(3), &why));
  EXPECT_NE(why.find(">= tree size"), std::string::npos) << why;
  EXPECT_FALSE(verify_consistency(0, 3, empty_tree_hash(), t.root_at(3), {}, &why));
  EXPECT_NE(why.find("empty tree"), std::string::npos) << why;
  EXPECT_FALSE(verify_consistency(4, 3, t.root_at(4), t.root_at(3), {}, &why));
  EXPECT_FALSE(verify_consistency(3, 5, t.root_at(3), t.root_at(5), {}, &why));
  EXPECT_NE(why.find("empty consistency proof"), std::string::npos) << why;
  EXPECT_TRUE(verify_consistency(5, 5, t.root_at(5), t.root_at(5), {}));
  EXPECT_FALSE(verify_consistency(5, 5, t.root_at(5), t.root_at(4), {}));
  auto p = t.inclusion_proof(5, 8);
  p.push_back(p.back());
  EXPECT_FALSE(verify_inclusion(5, 8, t.leaf(5), p, t.root_at(8), &why));
  EXPECT_NE(why.find("too many"), std::string::npos) << why;
  p.resize(1);
  EXPECT_FALSE(verify_inclusion(5, 8, t.leaf(5), p, t.root_at(8), &why));
  EXPECT_NE(why.find("too few"), std::string::npos) << why;
}

TEST(MerkleTree, MillionLeaves) {
  const auto start = std::chrono::steady_clock::now();
  MerkleTree t;
  Hash leaf{};
  for (uint32_t i = 0; i < 1'000'000; ++i) {
    leaf[0] = static_cast<uint8_t>(i);
    leaf[1] = static_cast<uint8_t>(i >> 8);
    leaf[2] = static_cast<uint8_t>(i >> 16);
    t.append(leaf);
  }
  const Hash root = t.root();
  std::mt19937_64 rng(1);
  for (int k = 0; k < 1000; ++k) {
    const uint64_t n = 1 + rng() % t.size();
    const uint64_t m = rng() % n;
    ASSERT_TRUE(verify_inclusion(m, n, t.leaf(m), t.inclusion_proof(m, n), t.root_at(n)));
    const uint64_t old = 1 + rng() % n;
    ASSERT_TRUE(verify_consistency(old, n, t.root_at(old), t.root_at(n), t.consistency_proof(old, n)));
  }
  ASSERT_TRUE(verify_consistency(123457, 1'000'000, t.root_at(123457), root, t.consistency_proof(123457, 1'000'000)));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ merkle   ] 1e6 appends + 2000 proofs generated and verified in %.2f s\n", s);
}

}  // namespace
}  // namespace strata::audit
