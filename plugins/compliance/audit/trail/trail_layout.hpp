// Where an audit trail keeps its files, relative to its directory (by default
// RUN_DIR/audit). The writer and the verifier share these names.
//
//   segments/segment-NNNNNN.log   the records (log/segment_store.hpp)
//   tree-heads/NNNNNNNNNNNNNNNNNNNN.note   every signed tree head, named by tree size
//   tree-head.latest              a copy of the newest tree head
//   signer.pub                    the verifier key of the key that signs the tree heads
//   signer.key                    only when no signing key was configured: a key made for
//                                 this trail (mode 0600); pin its .pub elsewhere to make
//                                 its signatures mean anything beyond this directory
//
// A witness directory holds <origin with '/' as '_'>/NNNN…N.note copies of the tree heads.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

namespace strata::audit {

struct TrailLayout {
  std::filesystem::path root;

  std::filesystem::path segments() const { return root / "segments"; }
  std::filesystem::path tree_heads() const { return root / "tree-heads"; }
  std::filesystem::path latest_tree_head() const { return root / "tree-head.latest"; }
  std::filesystem::path signer_public_key() const { return root / "signer.pub"; }
  std::filesystem::path generated_signer_key() const { return root / "signer.key"; }
};

inline std::string tree_head_file_name(uint64_t size) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu.note", static_cast<unsigned long long>(size));
  return buf;
}

// The folder of one log's heads inside a witness directory.
inline std::filesystem::path witness_folder(const std::filesystem::path& witness, std::string origin) {
  for (char& c : origin)
    if (c == '/' || c == '\\') c = '_';
  return witness / origin;
}

}  // namespace strata::audit
