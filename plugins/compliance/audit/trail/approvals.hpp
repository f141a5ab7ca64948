// Approvals for gated actions: a person signs, with their Ed25519 key, a statement naming
// the gate, the run and the exact subject (the checkpoint manifest's SHA-256), as a C2SP
// signed note. `strata approve` writes them into RUN_DIR/approvals/; at the gate the audit
// plugin counts the distinct keys of its pinned approvers' keyring whose approvals verify
// for this gate, run and subject. An approval for another checkpoint, run or gate, or by a
// key outside the keyring, counts for nothing (and is reported).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "keys.hpp"

namespace strata::audit {

struct ApprovalSubject {
  std::string gate;     // "release_requested", "checkpoint_publish_requested", ...
  std::string run_id;
  std::string subject;  // lowercase hex SHA-256 of the approved artefact
};

// The note body: "strata-approval/1\ngate <g>\nrun <id>\nsubject <hex>\n".
std::string approval_body(const ApprovalSubject& s);

// Signs and writes DIR/<gate>.<key name>.<key id>.note durably; returns the path.
std::filesystem::path write_approval(const std::filesystem::path& dir, const ApprovalSubject& s, const SignerKey& key);

struct ApprovalTally {
  std::vector<std::string> approvers;  // "<name>+<key id hex>", distinct, sorted
  std::vector<std::string> ignored;    // "<file>: <why>"
};
// Reads every *.note in dir (a missing dir is no approvals).
ApprovalTally tally_approvals(const std::filesystem::path& dir, const ApprovalSubject& s,
                              const std::vector<VerifierKey>& approvers);

}  // namespace strata::audit
