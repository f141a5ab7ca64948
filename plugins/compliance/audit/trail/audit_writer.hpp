// The writing side of an audit trail: appends canonical JSON records to the durable
// segment store, keeps the RFC 9162 Merkle tree over them, and seals it with Ed25519-signed
// tree heads (C2SP tlog-checkpoint notes), copied to the witness directories.
//
// Opening recovers: a torn final record is truncated (and reported), and the recovered
// records must match the newest signed tree head. Records that a signed head covers are
// never dropped or repaired: a log shorter than, or different from, its last head is an
// error, and the trail stays closed until a person looks at it.
//
// Fail-stop: after any I/O error every call throws AuditIoError (log/segment_store.hpp);
// fsync is never retried.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <span>
#include <memory>
#include <string>
#include <vector>

#include "keys.hpp"
#include "merkle.hpp"
#include "segment_store.hpp"
#include "trail_layout.hpp"

namespace strata::audit {

struct WriterOptions {
  std::filesystem::path dir;                     // the trail's root
  std::string origin;                            // the tree heads' first line (a schema-less URL)
  uint64_t tree_head_every = 256;                // seal at least every this many records
  StoreOptions store;                            // rotation, fault injection
  std::vector<std::filesystem::path> witnesses;  // each gets a copy of every tree head
  // Called with each record found when the trail is opened, in order (the plugin rebuilds
  // what it needs to cross-check later requests against the record).
  std::function<void(std::span<const uint8_t>)> on_recovered_record;
};

class AuditWriter {
 public:
  AuditWriter(WriterOptions options, const SignerKey& signer);

  // Appends the canonical JSON bytes of `record` and returns its leaf index. Not durable
  // until commit() or seal().
  uint64_t append(const nlohmann::json& record);
  // Makes every appended record durable (one fsync for the batch).
  void commit();
  // commit(), then signs a tree head over every record if any arrived since the last one.
  void seal();
  // seal() when tree_head_every records have arrived since the last head, else commit().
  void commit_or_seal();

  uint64_t size() const { return tree_.size(); }
  uint64_t sealed_size() const { return sealed_size_; }
  const MerkleTree& tree() const { return tree_; }
  const RecoveryReport& recovery() const { return recovery_; }
  const std::string& origin() const { return options_.origin; }

 private:
  void check_against_last_head();
  void write_tree_head();

  WriterOptions options_;
  TrailLayout layout_;
  const SignerKey& signer_;
  VerifierKey verifier_;
  MerkleTree tree_;
  RecoveryReport recovery_;
  std::unique_ptr<SegmentWriter> store_;
  uint64_t sealed_size_ = 0;
};

// The canonical bytes a record is stored (and hashed) as: sorted keys, no whitespace,
// strict UTF-8.
std::string canonical_record_bytes(const nlohmann::json& record);

}  // namespace strata::audit
