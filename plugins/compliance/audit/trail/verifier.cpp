#include "verifier.hpp"

#include <algorithm>
#include <map>

#include "audit_writer.hpp"
#include "durable_file.hpp"
#include "signed_note.hpp"
#include "trail_layout.hpp"

namespace strata::audit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string sha256_hex(std::string_view s) {
  return to_hex(sha256(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size())));
}

// A stored record with its bytes parsed (null when they are not JSON).
TrailRecord to_trail_record(const StoredRecord& r) {
  TrailRecord t{r.index, r.segment, r.offset, std::string(r.payload.begin(), r.payload.end()), nullptr};
  t.record = json::parse(t.bytes, nullptr, false);
  if (t.record.is_discarded()) t.record = nullptr;
  return t;
}

struct VerifiedHead {
  fs::path file;
  TreeHead head;
};

// Opens and parses one note; appends a failure and returns nullopt when it does not verify.
std::optional<TreeHead> open_head(const fs::path& file, std::span<const VerifierKey> keys, VerifyReport& report) {
  try {
    const OpenedNote opened = open_note(read_whole_file(file), keys);
    return parse_tree_head(opened.body);
  } catch (const std::exception& e) {
    report.failures.push_back(file.string() + ": " + e.what());
    return std::nullopt;
  }
}

std::vector<fs::path> notes_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".note") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

void check_records(const std::vector<TrailRecord>& records, VerifyReport& report) {
  // Sequence numbers restart at 0 in each session (a run, a later `strata release`); a
  // session starts with a "log_opened" record.
  std::map<int64_t, uint64_t> next_seq;  // rank -> expected sequence
  for (const auto& r : records) {
    const std::string where = r.segment + " offset " + std::to_string(r.offset) + " (record " + std::to_string(r.index) + ")";
    if (r.record.is_null() || !r.record.is_object()) {
      report.failures.push_back(where + ": not a JSON object");
      continue;
    }
    std::string canonical;
    try {
      canonical = canonical_record_bytes(r.record);
    } catch (const std::exception& e) {
      report.failures.push_back(where + ": " + e.what());
      continue;
    }
    if (canonical != r.bytes) report.failures.push_back(where + ": not in canonical form");
    if (r.record.contains("kind") && !r.record["kind"].is_string()) {
      report.failures.push_back(where + ": \"kind\" is not a string");
      continue;
    }
    const std::string kind = r.record.value("kind", "");
    if (kind == "log_opened") {
      next_seq.clear();
      continue;
    }
    if (kind != "event") continue;
    const auto& rec = r.record;
    const bool typed = rec.contains("payload") && rec.contains("payload_sha256") && rec["payload_sha256"].is_string() &&
                       rec.contains("rank") && rec["rank"].is_number_integer() && rec.contains("seq") &&
                       rec["seq"].is_number_unsigned();
    if (!typed) {
      report.failures.push_back(where + ": an event record needs payload, payload_sha256 (string), rank and seq (integers)");
      continue;
    }
    if (rec["payload_sha256"].get<std::string>() != sha256_hex(canonical_record_bytes(rec["payload"])))
      report.failures.push_back(where + ": payload does not match its payload_sha256");
    const int64_t rank = rec["rank"].get<int64_t>();
    const uint64_t seq = rec["seq"].get<uint64_t>();
    const auto it = next_seq.find(rank);
    const uint64_t expected = it == next_seq.end() ? 0 : it->second;
    if (seq != expected)
      report.failures.push_back(where + ": rank " + std::to_string(rank) + " sequence " + std::to_string(seq) +
                                ", expected " + std::to_string(expected) + " (a record is missing, repeated or reordered)");
    next_seq[rank] = seq + 1;
  }
}

void check_witness(const fs::path& witness, const MerkleTree& tree, std::span<const VerifierKey> keys,
                   VerifyReport& report) {
  const fs::path folder = witness_folder(witness, report.origin);
  const auto files = notes_in(folder);
  if (files.empty()) {
    report.failures.push_back(folder.string() + ": the witness holds no tree head of origin " + report.origin);
    return;
  }
  uint64_t largest = 0;
  for (const auto& file : files) {
    const auto head = open_head(file, keys, report);
    if (!head) continue;
    ++report.witness_heads;
    largest = std::max(largest, head->size);
    if (head->origin != report.origin) {
      report.failures.push_back(file.string() + ": origin \"" + head->origin + "\" is not the trail's");
    } else if (head->size > tree.size()) {
      report.failures.push_back(file.string() + ": the witness saw " + std::to_string(head->size) +
                                " records, the local log has only " + std::to_string(tree.size()) +
                                " (rolled back or truncated)");
    } else if (tree.root_at(head->size) != head->root) {
      report.failures.push_back(file.string() + ": the local log's first " + std::to_string(head->size) +
                                " records differ from what the witness was shown (history rewritten)");
    }
  }
  if (largest < report.sealed)
    report.warnings.push_back(folder.string() + ": the witness's newest head covers " + std::to_string(largest) +
                              " records, the local one " + std::to_string(report.sealed) + " (a copy is missing)");
}

void check_state(const fs::path& state_file, const fs::path& dir, const MerkleTree& tree, bool update,
                 VerifyReport& report) {
  json state = json::object();
  if (fs::exists(state_file)) {
    try {
      state = json::parse(read_whole_file(state_file));
    } catch (const std::exception& e) {
      report.failures.push_back(state_file.string() + ": unreadable verifier state: " + e.what());
      return;
    }
  }
  // The state also remembers which trail had which origin: a trail re-signed under a new
  // origin must not escape the comparison with what this verifier accepted before.
  const std::string trail = fs::weakly_canonical(dir).string();
  if (state.contains("trails") && state["trails"].contains(trail) && state["trails"][trail] != report.origin) {
    report.failures.push_back("the trail " + trail + " was accepted under origin " + state["trails"][trail].dump() +
                              " and now names " + report.origin + " (" + state_file.string() + ")");
    return;
  }
  if (state.contains(report.origin)) {
    const auto& seen = state[report.origin];
    const uint64_t size = seen.value("size", uint64_t{0});
    const auto root = hash_from_hex(seen.value("root", ""));
    if (!root) {
      report.failures.push_back(state_file.string() + ": bad root for origin " + report.origin);
      return;
    }
    if (size > report.sealed) {
      report.failures.push_back("rollback: this verifier accepted a tree head of " + std::to_string(size) +
                                " records (" + state_file.string() + "), the trail's newest head covers " +
                                std::to_string(report.sealed));
      return;
    }
    // The newest head is consistent with the remembered one: prove it the RFC 9162 way.
    const auto proof = size == 0 ? std::vector<Hash>{} : tree.consistency_proof(size, report.sealed);
    std::string why;
    if (size > 0 && !verify_consistency(size, report.sealed, *root, tree.root_at(report.sealed), proof, &why)) {
      report.failures.push_back("the trail is not an extension of the tree head this verifier accepted at size " +
                                std::to_string(size) + " (" + state_file.string() + "): " + why);
      return;
    }
  }
  if (update && report.ok() && report.sealed > 0) {
    state[report.origin] = {{"size", report.sealed}, {"root", to_hex(tree.root_at(report.sealed))}};
    state["trails"][trail] = report.origin;
    replace_file_durably(state_file, state.dump(2) + "\n");
  }
}

}  // namespace

json VerifyReport::to_json() const {
  return {{"ok", ok()},          {"origin", origin},         {"records", records},
          {"sealed", sealed},    {"unsealed", records - std::min(records, sealed)},
          {"tree_heads", tree_heads}, {"witness_heads", witness_heads}, {"root", to_hex(root)},
          {"failures", failures}, {"warnings", warnings}};
}

std::vector<TrailRecord> read_trail(const fs::path& dir) {
  const StoreScan scan = scan_store(TrailLayout{dir}.segments());
  std::vector<TrailRecord> out;
  out.reserve(scan.records.size());
  for (const auto& r : scan.records) out.push_back(to_trail_record(r));
  return out;
}

VerifyReport verify_trail(const VerifyOptions& options) {
  VerifyReport report;
  const TrailLayout layout{options.dir};
  if (!fs::is_directory(layout.segments())) {
    report.failures.push_back(layout.segments().string() + ": no audit log here");
    return report;
  }
  std::vector<VerifierKey> keys = options.keys;
  if (keys.empty()) {
    try {
      keys = parse_keyring(read_whole_file(layout.signer_public_key()), layout.signer_public_key().string());
      report.warnings.push_back("no pinned keyring given: signatures were checked against the trail's own " +
                                layout.signer_public_key().string() +
                                ", which proves internal consistency only (pin the key with --keyring)");
    } catch (const std::exception& e) {
      report.failures.push_back(std::string("no keys to check signatures with: ") + e.what());
      return report;
    }
  }

  StoreScan scan;
  try {
    scan = scan_store(layout.segments());
  } catch (const std::exception& e) {
    report.failures.push_back(e.what());
    return report;
  }
  std::vector<TrailRecord> records;
  records.reserve(scan.records.size());
  MerkleTree tree;
  for (const auto& r : scan.records) {
    tree.append(leaf_hash(r.payload));
    records.push_back(to_trail_record(r));
  }
  report.records = tree.size();
  report.root = tree.root();
  check_records(records, report);

  // Signed tree heads, smallest first.
  std::vector<VerifiedHead> heads;
  for (const auto& file : notes_in(layout.tree_heads())) {
    const auto head = open_head(file, keys, report);
    if (!head) continue;
    ++report.tree_heads;
    if (report.origin.empty()) report.origin = head->origin;
    if (head->origin != report.origin) {
      report.failures.push_back(file.string() + ": origin \"" + head->origin + "\" differs from \"" + report.origin + "\"");
      continue;
    }
    if (file.filename() != tree_head_file_name(head->size))
      report.failures.push_back(file.string() + ": names a tree of " + std::to_string(head->size) + " records");
    if (head->size > tree.size()) {
      report.failures.push_back(file.string() + ": covers " + std::to_string(head->size) + " records, the log holds " +
                                std::to_string(tree.size()) + " (records were deleted or truncated)");
      continue;
    }
    if (tree.root_at(head->size) != head->root) {
      report.failures.push_back(file.string() + ": root does not match records 0.." + std::to_string(head->size - 1) +
                                " (a record was altered, inserted, removed or reordered)");
      continue;
    }
    heads.push_back({file, *head});
  }
  for (size_t i = 1; i < heads.size(); ++i) {
    const auto& a = heads[i - 1].head;
    const auto& b = heads[i].head;
    std::string why;
    const auto proof = tree.consistency_proof(a.size, b.size);
    if (a.size > 0 && !verify_consistency(a.size, b.size, a.root, b.root, proof, &why))
      report.failures.push_back(heads[i].file.string() + ": not consistent with " + heads[i - 1].file.string() + ": " + why);
  }
  if (report.tree_heads == 0 && report.records > 0)
    report.failures.push_back(layout.tree_heads().string() + ": no signed tree head covers the log");
  if (!heads.empty()) report.sealed = heads.back().head.size;

  // The latest copy must be the newest head, byte for byte.
  if (!heads.empty()) {
    if (!fs::exists(layout.latest_tree_head()))
      report.failures.push_back(layout.latest_tree_head().string() + ": missing");
    else if (read_whole_file(layout.latest_tree_head()) != read_whole_file(heads.back().file))
      report.failures.push_back(layout.latest_tree_head().string() + ": differs from the newest tree head " +
                                heads.back().file.string());
  }
  if (!scan.torn_tail.empty()) {
    if (report.sealed >= report.records && report.sealed > 0 && report.tree_heads > 0)
      report.warnings.push_back("torn final record at " + scan.torn_tail +
                                " (an interrupted append; it was never acknowledged)");
    else
      report.warnings.push_back("torn final record at " + scan.torn_tail);
  }
  if (report.records > report.sealed)
    report.warnings.push_back("unsealed tail: records " + std::to_string(report.sealed) + ".." +
                              std::to_string(report.records - 1) + " are not covered by a signed tree head yet");

  if (options.witness) check_witness(*options.witness, tree, keys, report);
  if (options.state && !report.origin.empty())
    check_state(*options.state, options.dir, tree, options.update_state, report);
  return report;
}

}  // namespace strata::audit
