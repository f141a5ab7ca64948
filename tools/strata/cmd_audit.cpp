// strata audit verify|show|prove|card|lineage RUN_DIR, strata approve RUN_DIR: read, check
// and export the audit trail the `audit` compliance plugin writes, through the same
// library the plugin writes it with.
#include <fstream>
#include <iostream>

#include "approvals.hpp"
#include "durable_file.hpp"
#include "encoding.hpp"
#include "lineage.hpp"
#include "signed_note.hpp"
#include "trail_layout.hpp"
#include "verifier.hpp"
#include "tools/strata/commands.hpp"

namespace strata::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The trail directory: --trail if given, else the audit plugin's `dir` option in the run's
// resolved config, else RUN_DIR/audit.
fs::path trail_dir(const fs::path& run_dir, const std::string& explicit_dir) {
  if (!explicit_dir.empty()) return explicit_dir;
  std::ifstream in(run_dir / "config.resolved.json");
  const json cfg = json::parse(in, nullptr, false);
  if (!cfg.is_discarded() && cfg.contains("tiers") && cfg["tiers"].contains("compliance"))
    for (const auto& sel : cfg["tiers"]["compliance"])
      if (sel.value("plugin", "") == "audit" && sel.contains("options") && sel["options"].contains("dir")) {
        const fs::path d = sel["options"]["dir"].get<std::string>();
        return d.is_absolute() ? d : run_dir / d;
      }
  return run_dir / "audit";
}

std::vector<audit::VerifierKey> keyring_or_empty(const std::string& file) {
  return file.empty() ? std::vector<audit::VerifierKey>{} : audit::load_keyring(file);
}

std::string base64(const std::string& bytes) { return audit::base64_encode(std::string_view(bytes)); }

void write_output(const std::string& out, const std::string& text) {
  if (out.empty() || out == "-") {
    std::cout << text;
  } else {
    audit::replace_file_durably(out, text);
    std::cerr << "wrote " << out << "\n";
  }
}

// Runs `body`, turning exceptions into a clear message and exit code 1.
template <class F>
void guarded(const GlobalOptions& global, int& exit_code, const char* what, F&& body) {
  util::Logger logger = util::make_logger(global.level());
  try {
    exit_code = body(logger);
  } catch (const std::exception& e) {
    logger->error("{}: {}", what, e.what());
    exit_code = 1;
  }
}

struct TrailArgs {
  std::string run_dir, trail, keyring, witness, state, out, format;
  bool json_out = false, no_update_state = false;
  int64_t index = -1, size = -1, from = -1;
};

void add_trail_options(CLI::App* cmd, TrailArgs& a) {
  cmd->add_option("run_dir", a.run_dir, "run directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--trail", a.trail, "the trail's directory (default: the audit plugin's, RUN_DIR/audit)");
}

audit::VerifyReport verify(const TrailArgs& a) {
  audit::VerifyOptions o;
  o.dir = trail_dir(a.run_dir, a.trail);
  o.keys = keyring_or_empty(a.keyring);
  if (!a.witness.empty()) o.witness = a.witness;
  if (!a.state.empty()) o.state = a.state;
  o.update_state = !a.no_update_state;
  return audit::verify_trail(o);
}

void print_report(const audit::VerifyReport& r) {
  std::cout << (r.ok() ? "OK" : "FAILED") << ": " << r.records << " records, " << r.sealed
            << " sealed by signed tree heads (" << r.tree_heads << " heads";
  if (r.witness_heads) std::cout << ", " << r.witness_heads << " witnessed";
  std::cout << "), origin " << (r.origin.empty() ? "?" : r.origin) << "\nroot " << audit::to_hex(r.root) << "\n";
  for (const auto& f : r.failures) std::cout << "FAIL " << f << "\n";
  for (const auto& w : r.warnings) std::cout << "warn " << w << "\n";
}

void add_verify(CLI::App* audit_cmd, const GlobalOptions& global, int& exit_code) {
  auto a = std::make_shared<TrailArgs>();
  CLI::App* cmd = audit_cmd->add_subcommand("verify", "check every record, tree head, signature, witness copy and "
                                                      "rollback; exit 1 and say what failed where");
  add_trail_options(cmd, *a);
  cmd->add_option("--keyring", a->keyring, "pinned verifier keys (one per line); default: the trail's signer.pub");
  cmd->add_option("--witness", a->witness, "witness directory whose tree heads the log must match");
  cmd->add_option("--state", a->state, "this verifier's memory of accepted heads (rollback detection)");
  cmd->add_flag("--no-update-state", a->no_update_state, "check against --state without advancing it");
  cmd->add_flag("--json", a->json_out, "machine-readable report");
  cmd->callback([a, &global, &exit_code] {
    guarded(global, exit_code, "audit verify", [&](util::Logger&) {
      const auto report = verify(*a);
      if (a->json_out)
        std::cout << report.to_json().dump(2) << "\n";
      else
        print_report(report);
      return report.ok() ? 0 : 1;
    });
  });
}

std::string one_line(const json& rec) {
  const std::string kind = rec.value("kind", "?");
  if (kind == "event") {
    std::string s = rec.value("event", "?") + " step " + std::to_string(rec.value("step", int64_t{-1}));
    return s;
  }
  if (kind == "decision")
    return "decision " + rec.value("gate", "?") + ": " + rec.value("result", "?") +
           (rec.contains("reasons") ? " " + rec["reasons"].dump() : "");
  return kind;
}

void add_show(CLI::App* audit_cmd, const GlobalOptions& global, int& exit_code) {
  auto a = std::make_shared<TrailArgs>();
  CLI::App* cmd = audit_cmd->add_subcommand("show", "list the records (with --json: each record's exact leaf bytes, base64)");
  add_trail_options(cmd, *a);
  cmd->add_flag("--json", a->json_out, "one JSON document: every record, its location, leaf hash and leaf bytes");
  cmd->callback([a, &global, &exit_code] {
    guarded(global, exit_code, "audit show", [&](util::Logger&) {
      const auto records = audit::read_trail(trail_dir(a->run_dir, a->trail));
      if (a->json_out) {
        json out = json::array();
        for (const auto& r : records)
          out.push_back({{"index", r.index},
                         {"segment", r.segment},
                         {"offset", r.offset},
                         {"leaf_hash", audit::to_hex(audit::leaf_hash(std::string_view(r.bytes)))},
                         {"leaf_base64", base64(r.bytes)},
                         {"record", r.record}});
        std::cout << out.dump(2) << "\n";
      } else {
        for (const auto& r : records) {
          const std::string when = r.record.is_object() && r.record.contains("utc_ns")
                                       ? audit::iso8601_utc(r.record["utc_ns"].get<int64_t>())
                                       : std::string(24, ' ');
          std::printf("%6llu  %s  %s\n", static_cast<unsigned long long>(r.index), when.c_str(),
                      r.record.is_object() ? one_line(r.record).c_str() : "(not JSON)");
        }
      }
      return 0;
    });
  });
}

void add_prove(CLI::App* audit_cmd, const GlobalOptions& global, int& exit_code) {
  auto a = std::make_shared<TrailArgs>();
  CLI::App* cmd = audit_cmd->add_subcommand("prove", "inclusion proof of a record (and optionally a consistency proof) "
                                                     "against a signed tree head, as JSON");
  add_trail_options(cmd, *a);
  cmd->add_option("--index", a->index, "the record's leaf index")->required()->check(CLI::NonNegativeNumber);
  cmd->add_option("--size", a->size, "tree size of the signed head to prove against (default: the newest head)");
  cmd->add_option("--from", a->from, "also prove that the head of this size is a prefix of the chosen head");
  cmd->callback([a, &global, &exit_code] {
    guarded(global, exit_code, "audit prove", [&](util::Logger&) {
      const fs::path dir = trail_dir(a->run_dir, a->trail);
      const audit::TrailLayout layout{dir};
      const auto records = audit::read_trail(dir);
      audit::MerkleTree tree;
      for (const auto& r : records) tree.append(audit::leaf_hash(std::string_view(r.bytes)));
      fs::path head_file = layout.latest_tree_head();
      if (a->size >= 0) head_file = layout.tree_heads() / audit::tree_head_file_name(static_cast<uint64_t>(a->size));
      if (!fs::exists(head_file)) throw std::runtime_error(head_file.string() + ": no such signed tree head");
      const std::string note = audit::read_whole_file(head_file);
      const auto head = audit::parse_tree_head(note.substr(0, note.find("\n\n") + 1));
      const auto index = static_cast<uint64_t>(a->index);
      if (index >= head.size)
        throw std::runtime_error("record " + std::to_string(index) + " is not covered by the tree head of size " +
                                 std::to_string(head.size) + " (" + head_file.string() + ")");
      if (head.size > tree.size() || tree.root_at(head.size) != head.root)
        throw std::runtime_error("the log does not match " + head_file.string() + ": run `strata audit verify`");
      json path = json::array();
      for (const auto& h : tree.inclusion_proof(index, head.size)) path.push_back(audit::to_hex(h));
      json out = {{"index", index},
                  {"tree_size", head.size},
                  {"leaf_base64", base64(records[index].bytes)},
                  {"leaf_hash", audit::to_hex(tree.leaf(index))},
                  {"root", audit::to_hex(head.root)},
                  {"inclusion_path", path},
                  {"tree_head", note}};
      if (a->from > 0) {
        const auto from = static_cast<uint64_t>(a->from);
        if (from > head.size) throw std::runtime_error("--from must not exceed the head's size");
        json cpath = json::array();
        for (const auto& h : tree.consistency_proof(from, head.size)) cpath.push_back(audit::to_hex(h));
        out["consistency"] = {{"old_size", from}, {"old_root", audit::to_hex(tree.root_at(from))}, {"proof", cpath}};
      }
      std::cout << out.dump(2) << "\n";
      return 0;
    });
  });
}

void add_card_and_lineage(CLI::App* audit_cmd, const GlobalOptions& global, int& exit_code) {
  auto a = std::make_shared<TrailArgs>();
  CLI::App* card = audit_cmd->add_subcommand("card", "write a model card (Markdown, Mitchell et al. sections) from the "
                                                     "verified audit record");
  add_trail_options(card, *a);
  card->add_option("--keyring", a->keyring, "pinned verifier keys; default: the trail's signer.pub");
  card->add_option("--out", a->out, "output file (default RUN_DIR/MODEL_CARD.md; - for stdout)");
  card->callback([a, &global, &exit_code] {
    guarded(global, exit_code, "audit card", [&](util::Logger& logger) {
      auto args = *a;
      args.no_update_state = true;
      const auto report = verify(args);
      if (!report.ok()) logger->warn("the trail does not verify; the card says so");
      const auto lineage = audit::collect_lineage(audit::read_trail(trail_dir(a->run_dir, a->trail)));
      write_output(a->out.empty() ? (fs::path(a->run_dir) / "MODEL_CARD.md").string() : a->out,
                   audit::model_card(lineage, report));
      return 0;
    });
  });
  auto b = std::make_shared<TrailArgs>();
  CLI::App* lineage = audit_cmd->add_subcommand("lineage", "export the run's lineage from the audit record: OpenLineage "
                                                           "RunEvents or W3C PROV-JSON");
  add_trail_options(lineage, *b);
  lineage->add_option("--format", b->format, "openlineage or prov")
      ->required()
      ->check(CLI::IsMember({"openlineage", "prov"}));
  lineage->add_option("--out", b->out, "output file (default stdout)");
  lineage->callback([b, &global, &exit_code] {
    guarded(global, exit_code, "audit lineage", [&](util::Logger&) {
      const auto l = audit::collect_lineage(audit::read_trail(trail_dir(b->run_dir, b->trail)));
      const json doc = b->format == "prov" ? audit::prov_json(l) : audit::openlineage_events(l);
      write_output(b->out, doc.dump(2) + "\n");
      return 0;
    });
  });
}

}  // namespace

void add_audit_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("audit", "verify, show, prove and export a run's audit trail");
  cmd->require_subcommand(1);
  add_verify(cmd, global, exit_code);
  add_show(cmd, global, exit_code);
  add_prove(cmd, global, exit_code);
  add_card_and_lineage(cmd, global, exit_code);
}

void add_approve_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  struct Args {
    std::string run_dir, key, gate = "release_requested", dir, dir_trail, keyring;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("approve", "sign an approval of a finished run's checkpoint for a gate "
                                                "(counted by the audit plugin's policy)");
  cmd->add_option("run_dir", a->run_dir, "run directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--key", a->key, "your signer key file (strata keys generate)")->required();
  cmd->add_option("--gate", a->gate, "the gate approved")
      ->check(CLI::IsMember({"release_requested", "checkpoint_publish_requested"}));
  cmd->add_option("--approvals-dir", a->dir, "where approvals go (default RUN_DIR/approvals)");
  cmd->add_option("--trail", a->dir_trail, "the run's audit trail (default: the audit plugin's, RUN_DIR/audit)");
  cmd->add_option("--keyring", a->keyring, "pinned keys the trail must verify with (default: its signer.pub)");
  cmd->callback([a, &global, &exit_code] {
    guarded(global, exit_code, "approve", [&](util::Logger& logger) {
      // What is approved comes from the verified audit trail, never from summary.json, which
      // nothing protects: the approver signs the checkpoint the run actually recorded.
      const fs::path trail = trail_dir(a->run_dir, a->dir_trail);
      audit::VerifyOptions vo;
      vo.dir = trail;
      vo.keys = keyring_or_empty(a->keyring);
      const auto report = audit::verify_trail(vo);
      if (!report.ok())
        throw std::runtime_error(trail.string() + " does not verify (run `strata audit verify`): " + report.failures.front());
      std::string run_id, manifest, path;
      for (const auto& r : audit::read_trail(trail)) {
        const auto& rec = r.record;
        if (!rec.is_object() || rec.value("kind", "") != "event" || rec.value("rank", -1) != 0) continue;
        if (run_id.empty()) run_id = rec.value("run_id", "");
        if (rec.value("event", "") == "checkpoint_saved" && rec.contains("payload") && rec["payload"].is_object()) {
          manifest = rec["payload"].value("manifest_sha256", "");
          path = rec["payload"].value("path", "");
        }
      }
      if (manifest.empty()) throw std::runtime_error(trail.string() + " records no saved checkpoint to approve");
      logger->info("approving checkpoint {} (manifest {}) of run {}", path, manifest, run_id);
      const auto key = audit::read_signer_key_file(a->key);
      const audit::ApprovalSubject subject{a->gate, run_id, manifest};
      const fs::path dir = a->dir.empty() ? fs::path(a->run_dir) / "approvals" : fs::path(a->dir);
      const fs::path file = audit::write_approval(dir, subject, key);
      logger->info("{} approved {} of checkpoint {} (run {}): {}", key.name, a->gate, subject.subject, subject.run_id,
                   file.string());
      return 0;
    });
  });
}

void add_keys_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  struct Args {
    std::string name, out;
  };
  auto a = std::make_shared<Args>();
  CLI::App* keys = app.add_subcommand("keys", "Ed25519 keys for signed tree heads and approvals");
  keys->require_subcommand(1);
  CLI::App* gen = keys->add_subcommand("generate", "make a key pair: PREFIX.key (private, mode 0600) and PREFIX.pub");
  gen->add_option("--name", a->name, "the key's name (shown in signatures; no '+' or spaces)")->required();
  gen->add_option("--out", a->out, "path prefix (default: the name)");
  gen->callback([a, &global, &exit_code] {
    guarded(global, exit_code, "keys generate", [&](util::Logger& logger) {
      const std::string prefix = a->out.empty() ? a->name : a->out;
      const auto key = audit::generate_signer_key(a->name);
      if (fs::exists(prefix + ".pub")) throw std::runtime_error("refusing to overwrite " + prefix + ".pub");
      audit::write_signer_key_file(prefix + ".key", key);
      audit::replace_file_durably(prefix + ".pub", audit::format_verifier_key(audit::verifier_of(key)) + "\n");
      logger->info("wrote {}.key (keep it private) and {}.pub (add it to keyrings)", prefix, prefix);
      std::cout << audit::format_verifier_key(audit::verifier_of(key)) << "\n";
      return 0;
    });
  });
}

}  // namespace strata::cli
