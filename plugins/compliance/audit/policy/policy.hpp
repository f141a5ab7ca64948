#pragma once

// The governance tier's policy engine: a small, strict, declarative JSON policy that
// decides the gated lifecycle events (dataset_opened, checkpoint_publish_requested,
// release_requested). Default deny; a matching forbid overrides every permit; evaluation
// is total (a missing field or a type mismatch makes a condition false, never an error)
// and deterministic, so a decision can be replayed from (policy, input) and their
// SHA-256 digests. Grammar and semantics: docs/policy.md.

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace strata::audit {

inline constexpr const char* kPolicyEvaluatorVersion = "strata-policy/1";
// The only value of a policy's "strata_policy" key that this evaluator reads.
inline constexpr int kPolicyFormatVersion = 1;
// The gated events, in lifecycle order.
inline constexpr std::array<std::string_view, 3> kPolicyGates = {
    "dataset_opened", "checkpoint_publish_requested", "release_requested"};
// The top-level keys a condition's path may start with (the input document's keys).
inline constexpr std::array<std::string_view, 5> kPolicyInputRoots = {"gate", "event", "metrics", "run",
                                                                      "approvals"};

// A policy that cannot be read or is not valid. The message names the file (or source
// name) and the JSON Pointer of the offending element:
//   policy.json: /rules/1/when/0/op: unknown operator "=<" (did you mean "<="?)
class PolicyError : public std::runtime_error {
  using runtime_error::runtime_error;
};

struct PolicyDecision {
  bool allow = false;
  std::string gate;
  std::vector<std::string> matched_rules;  // ids, in policy order
  std::vector<std::string> reasons;
  std::string policy_id, policy_version, policy_sha256, input_sha256;
  // The decision-log record fields (governance.md §4.3): gate, result ("allow"/"deny"),
  // matched_rules, reasons, policy_id, policy_version, policy_sha256, input_sha256,
  // evaluator_version.
  nlohmann::json to_json() const;
};

// True when `gate` is one of kPolicyGates.
bool is_policy_gate(std::string_view gate);

// Lowercase hex SHA-256 of `doc`'s canonical JSON: sorted keys, no whitespace, strict
// UTF-8 (doc.dump(-1, ' ', false, error_handler_t::strict)). Throws nlohmann's
// type_error on a string that is not valid UTF-8.
std::string canonical_json_sha256(const nlohmann::json& doc);

class Policy {
 public:
  // Validates `doc` against the grammar; `source_name` prefixes every error message.
  static Policy parse(const nlohmann::json& doc, const std::string& source_name);
  // Reads and parses `file`: a missing or unreadable file, invalid JSON (the message has
  // the line and column), a duplicate object key, or an invalid policy all throw
  // PolicyError. Never falls back to an allow.
  static Policy load(const std::filesystem::path& file);

  // Decides `gate` for `input` = {"gate": ..., "event": {...payload}, "metrics": {...},
  // "run": {...}, "approvals": [key ids already verified by the caller]} (only what
  // exists). Never throws for any input: an unknown gate, an input that is not an object,
  // an input whose "gate" differs from `gate`, or an input that is not valid UTF-8 is a
  // deny with a reason.
  PolicyDecision evaluate(const std::string& gate, const nlohmann::json& input) const;

  const std::string& id() const;
  const std::string& version() const;
  // Lowercase hex SHA-256 of the policy document's canonical JSON.
  const std::string& sha256() const;
  const nlohmann::json& document() const;
  const std::string& source_name() const;
  // Whether any rule (permit or forbid) names this gate.
  bool governs(const std::string& gate) const;
  // The ids of the rules, in policy order.
  std::vector<std::string> rule_ids() const;

  struct Impl;

 private:
  explicit Policy(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;  // immutable, so copies share it
};

}  // namespace strata::audit
