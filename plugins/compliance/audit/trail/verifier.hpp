// `strata audit verify`: everything a third party can check about an audit trail, with the
// exact place of each failure.
//
//  1. Every segment parses (header, lengths, CRC32C, numbering, first-record indices); a
//     torn final record is reported, and is a failure when a signed head covers it.
//  2. Every record is canonical JSON in the form the writer produces, its payload digest
//     matches its payload, and each session's sequence numbers run on without gaps.
//  3. Every signed tree head verifies against the pinned keys, names the trail's origin,
//     covers no more records than exist, and its root equals the root recomputed from the
//     records; successive heads are consistent (RFC 9162 consistency proofs); the latest
//     copy equals the newest head.
//  4. Against a witness directory: every head the witness holds matches the local log (a
//     rewritten or rolled-back log cannot match the heads it gave away).
//  5. Against a state file the verifier keeps: the log has not shrunk below, and still
//     contains, the last tree head this verifier accepted (rollback detection); on success
//     the state advances to the newest head.
// Records after the newest head are reported as the unsealed tail.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "keys.hpp"
#include "merkle.hpp"
#include "segment_store.hpp"

namespace strata::audit {

struct VerifyOptions {
  std::filesystem::path dir;                   // the trail's root (RUN_DIR/audit)
  std::vector<VerifierKey> keys;               // pinned keys; empty: the trail's own signer.pub (a warning)
  std::optional<std::filesystem::path> witness;
  std::optional<std::filesystem::path> state;  // the verifier's memory of accepted heads
  bool update_state = true;
};

struct VerifyReport {
  bool ok() const { return failures.empty(); }
  std::vector<std::string> failures;  // each names the file and record/offset
  std::vector<std::string> warnings;
  std::string origin;
  uint64_t records = 0;
  uint64_t sealed = 0;     // records covered by the newest verified head
  uint64_t tree_heads = 0;
  uint64_t witness_heads = 0;
  Hash root{};             // of all records
  nlohmann::json to_json() const;
};

VerifyReport verify_trail(const VerifyOptions& options);

// The records of a trail, in order, parsed (for show/prove/lineage). Throws on a store
// that does not scan; does not check signatures (use verify_trail for that).
struct TrailRecord {
  uint64_t index;
  std::string segment;
  uint64_t offset;
  std::string bytes;      // the exact leaf data
  nlohmann::json record;  // parsed; null if the bytes are not JSON
};
std::vector<TrailRecord> read_trail(const std::filesystem::path& dir);

}  // namespace strata::audit
