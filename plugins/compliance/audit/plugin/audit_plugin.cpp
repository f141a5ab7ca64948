// Compliance plugin `audit`: the tamper-evident audit trail and the policy enforcement
// point. Every lifecycle event becomes a canonical JSON record and a leaf of an RFC 9162
// Merkle tree, stored durably (each record is fsynced before on_event returns, so what the
// host was told is recorded is recorded); signed tree heads seal the tree at lifecycle
// boundaries and every `tree_head_every` records, and are copied to the witness. Gated
// events are decided by the declarative policy (denied by default), counting approvals
// signed by the pinned approvers; each decision is itself a record.
#include <strata/sdk.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>

#include "approvals.hpp"
#include "audit_writer.hpp"
#include "plugins/compliance/audit/policy/policy.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
namespace audit = strata::audit;

constexpr int kRecordVersion = 1;

int64_t utc_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class AuditPlugin final : public strata::sdk::CompliancePlugin {
 public:
  static constexpr const char* kName = "audit";
  static constexpr const char* kVersion = "0.1.0";
  static constexpr const char* kDescription =
      "tamper-evident audit trail (RFC 9162 Merkle tree, Ed25519-signed tree heads, witness copies) and policy gates";
  static constexpr const char* kOptionsSchema = R"json({
    "type": "object",
    "properties": {
      "dir": {"type": "string", "minLength": 1, "default": "audit",
              "description": "the trail's directory, relative to the run directory (or absolute)"},
      "signing_key": {"type": "string", "default": "",
                      "description": "Ed25519 signer key file (strata keys generate); empty: make one for this trail"},
      "origin": {"type": "string", "default": "",
                 "description": "first line of the tree heads; empty: strata.local/audit/<run id>"},
      "tree_head_every": {"type": "integer", "minimum": 1, "default": 256,
                          "description": "seal with a signed tree head at least every this many records"},
      "rotate_mb": {"type": "number", "exclusiveMinimum": 0, "default": 64,
                    "description": "start a new segment file beyond this size"},
      "witness": {"type": "string", "default": "",
                  "description": "directory that receives a copy of every tree head (another disk or host)"},
      "policy": {"type": "string", "default": "",
                 "description": "policy file deciding the gates; empty: record only and allow"},
      "approvers": {"type": "string", "default": "",
                    "description": "keyring of the keys whose approvals the policy counts"},
      "approvals_dir": {"type": "string", "default": "approvals",
                        "description": "where `strata approve` puts approvals, relative to the run directory"}
    },
    "additionalProperties": false
  })json";

  explicit AuditPlugin(strata::sdk::Host host) : CompliancePlugin(host) {
    options_ = host.options();
    if (!options_.at("policy").get<std::string>().empty())
      policy_.emplace(audit::Policy::load(options_.at("policy").get<std::string>()));
    if (!options_.at("approvers").get<std::string>().empty())
      approvers_ = audit::load_keyring(options_.at("approvers").get<std::string>());
    run_dir_ = host.run_dir();
    if (run_dir_.empty()) return;  // inspected outside a run: nothing to open
    const fs::path dir = options_.at("dir").get<std::string>();
    trail_dir_ = dir.is_absolute() ? dir : run_dir_ / dir;
    fs::create_directories(trail_dir_);
    const std::string key_file = options_.at("signing_key");
    if (!key_file.empty()) {
      signer_ = std::make_unique<audit::SignerKey>(audit::read_signer_key_file(key_file));
    } else {
      const fs::path generated = audit::TrailLayout{trail_dir_}.generated_signer_key();
      if (fs::exists(generated)) {
        signer_ = std::make_unique<audit::SignerKey>(audit::read_signer_key_file(generated));
      } else {
        signer_ = std::make_unique<audit::SignerKey>(audit::generate_signer_key("strata-trail"));
        audit::write_signer_key_file(generated, *signer_);
        host.warn("audit: no signing_key configured; made " + generated.string() +
                  " for this trail. Pin its public key (signer.pub) elsewhere, or configure a key of your own, "
                  "for the signatures to prove anything to a third party");
      }
    }
  }

  uint64_t subscriptions() const override { return STRATA_EVENT_ALL; }

  void on_event(const strata::sdk::Event& event, strata::sdk::Decision* decision) override {
    if (run_dir_.empty()) return;
    if (!writer_) open_trail(std::string(event.run_id));
    const json payload = json::parse(event.payload_json);
    const json record = {{"v", kRecordVersion},
                         {"kind", "event"},
                         {"run_id", std::string(event.run_id)},
                         {"rank", event.rank},
                         {"seq", event.sequence},
                         {"utc_ns", event.utc_ns},
                         {"event", std::string(event.name)},
                         {"step", event.step},
                         {"gate", event.is_gate},
                         {"payload_sha256", std::string(event.payload_sha256)},
                         {"payload", payload}};
    const uint64_t index = writer_->append(record);
    remember(record);
    if (event.is_gate && decision != nullptr) decide(event, payload, index, *decision);
    // Lifecycle boundaries and gates are sealed at once; other records wait for the batch.
    const std::string_view name = event.name;
    if (event.is_gate || name == "run_start" || name == "checkpoint_saved" || name == "run_end")
      writer_->seal();
    else
      writer_->commit_or_seal();
  }

  void flush() override {
    if (writer_) writer_->seal();
  }

 private:
  void open_trail(const std::string& run_id) {
    std::string origin = options_.at("origin");
    if (origin.empty()) {
      origin = "strata.local/audit/";
      for (char c : run_id) origin += (c == ' ' || c == '+' || static_cast<unsigned char>(c) < 0x20) ? '_' : c;
    }
    audit::WriterOptions w;
    w.dir = trail_dir_;
    w.origin = origin;
    w.tree_head_every = options_.at("tree_head_every").get<uint64_t>();
    w.store.rotate_bytes = static_cast<uint64_t>(options_.at("rotate_mb").get<double>() * 1024 * 1024);
    if (!options_.at("witness").get<std::string>().empty()) w.witnesses.push_back(options_.at("witness").get<std::string>());
    w.on_recovered_record = [this](std::span<const uint8_t> bytes) {
      const json r = json::parse(bytes.begin(), bytes.end(), nullptr, false);
      if (!r.is_discarded()) remember(r);
    };
    writer_ = std::make_unique<audit::AuditWriter>(w, *signer_);
    // Each session (the run, a later `strata release`) starts with what it found: a torn
    // tail that recovery cut off is on the record, not silently gone.
    const auto& rec = writer_->recovery();
    json opened = {{"v", kRecordVersion}, {"kind", "log_opened"}, {"run_id", run_id}, {"utc_ns", utc_now_ns()},
                   {"records_found", rec.records}, {"truncated_bytes", rec.truncated_bytes},
                   {"truncated_at", rec.truncated_at}, {"signer", audit::format_verifier_key(audit::verifier_of(*signer_))}};
    if (policy_)
      opened["policy"] = {{"id", policy_->id()}, {"sha256", policy_->sha256()}, {"document", policy_->document()}};
    writer_->append(opened);
    if (rec.truncated_bytes > 0)
      host().warn("audit: recovered " + trail_dir_.string() + " by truncating a torn final record (" +
                  std::to_string(rec.truncated_bytes) + " bytes at " + rec.truncated_at + ")");
  }

  // What later requests are checked against: rank 0's last saved checkpoint and, once the
  // run ended, its metrics. A release asked for after the run (strata release) reads its
  // payload from RUN_DIR/summary.json, which nothing protects; the trail is the reference.
  void remember(const json& record) {
    if (!record.is_object() || record.value("kind", "") != "event" || record.value("rank", -1) != 0) return;
    const std::string name = record.value("event", "");
    const json payload = record.value("payload", json::object());
    if (name == "checkpoint_saved") last_checkpoint_ = payload;
    if (name == "run_end" && payload.contains("metrics")) trail_metrics_ = payload["metrics"];
  }

  // Empty when the request matches the record; otherwise why it does not.
  std::string mismatch_with_trail(const json& payload) const {
    if (last_checkpoint_.is_null()) return "the audit trail records no saved checkpoint to release or publish";
    const std::string asked = payload.value("manifest_sha256", "");
    const std::string saved = last_checkpoint_.value("manifest_sha256", "");
    if (asked != saved)
      return "the request names checkpoint manifest " + (asked.empty() ? std::string("(none)") : asked) +
             ", but the audit trail's last saved checkpoint is " + saved + " (" + last_checkpoint_.value("path", "") + ")";
    return "";
  }

  void decide(const strata::sdk::Event& event, const json& payload, uint64_t event_index,
              strata::sdk::Decision& decision) {
    const std::string gate(event.name);
    const bool about_checkpoint = gate == "release_requested" || gate == "checkpoint_publish_requested";
    if (about_checkpoint) {
      if (const std::string why = mismatch_with_trail(payload); !why.empty()) {
        json record = {{"v", kRecordVersion}, {"kind", "decision"}, {"run_id", std::string(event.run_id)},
                       {"utc_ns", event.utc_ns}, {"event_index", event_index}, {"gate", gate},
                       {"result", "deny"}, {"reasons", json::array({why})}};
        writer_->append(record);
        decision.deny = true;
        decision.reason = why;
        return;
      }
    }
    json record = {{"v", kRecordVersion}, {"kind", "decision"}, {"run_id", std::string(event.run_id)},
                   {"utc_ns", event.utc_ns}, {"event_index", event_index}, {"gate", gate}};
    if (!policy_) {
      record["result"] = "allow";
      record["reasons"] = json::array({"no policy configured: recorded only"});
      writer_->append(record);
      return;
    }
    const std::string subject = payload.value("manifest_sha256", "");
    audit::ApprovalTally tally;
    if (!subject.empty())
      tally = audit::tally_approvals(run_dir_ / options_.at("approvals_dir").get<std::string>(),
                                     {gate, std::string(event.run_id), subject}, approvers_);
    // After the run, the metrics the trail recorded at run_end, not the request's copy.
    const bool from_trail = about_checkpoint && !trail_metrics_.is_null();
    json input = {{"gate", gate},
                  {"event", payload},
                  {"metrics", from_trail ? trail_metrics_ : payload.value("metrics", json::object())},
                  {"run", {{"run_id", std::string(event.run_id)}, {"step", event.step}}},
                  {"approvals", tally.approvers}};
    const audit::PolicyDecision d = policy_->evaluate(gate, input);
    json dj = d.to_json();
    for (auto& [k, v] : dj.items()) record[k] = v;
    record["approvals"] = tally.approvers;
    record["metrics_from"] = from_trail ? "audit trail (run_end)" : "event";
    record["approvals_ignored"] = tally.ignored;
    writer_->append(record);
    if (!d.allow) {
      decision.deny = true;
      std::string reason = "policy " + d.policy_id + " denies " + gate;
      for (const auto& r : d.reasons) reason += "; " + r;
      decision.reason = reason;
    }
  }

  json options_;
  fs::path run_dir_, trail_dir_;
  std::optional<audit::Policy> policy_;
  std::vector<audit::VerifierKey> approvers_;
  std::unique_ptr<audit::SignerKey> signer_;
  std::unique_ptr<audit::AuditWriter> writer_;
  json last_checkpoint_;  // rank 0's last checkpoint_saved payload
  json trail_metrics_;    // rank 0's run_end metrics, once recorded
};

}  // namespace

STRATA_PLUGIN_LIBRARY("strata-audit", AuditPlugin)
