#include "lineage.hpp"

#include <cstdio>
#include <ctime>
#include <sstream>

#include "merkle.hpp"

namespace strata::audit {
namespace {

using nlohmann::json;

constexpr const char* kProducer = "https://github.com/strata-llm/strata/tree/main/plugins/compliance/audit";
constexpr const char* kRunEventSchema = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
constexpr const char* kFacetSchema = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunFacet";

json str_or(const json& j, const char* key, const char* fallback = "") {
  return j.is_object() && j.contains(key) ? j[key] : json(fallback);
}

std::string text(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_null()) return "not recorded";
  return j.dump();
}

json digest_facet(const std::string& sha256) {
  return {{"_producer", kProducer}, {"_schemaURL", kFacetSchema}, {"sha256", sha256}};
}

}  // namespace

std::string iso8601_utc(int64_t utc_ns) {
  const std::time_t secs = static_cast<std::time_t>(utc_ns / 1000000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>((utc_ns / 1000000) % 1000));
  return buf;
}

std::string name_uuid(const std::string& name) {
  Hash h = sha256(std::span(reinterpret_cast<const uint8_t*>(name.data()), name.size()));
  h[6] = static_cast<uint8_t>((h[6] & 0x0f) | 0x80);  // version 8
  h[8] = static_cast<uint8_t>((h[8] & 0x3f) | 0x80);  // RFC 9562 variant
  char buf[40];
  std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1],
                h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]);
  return buf;
}

RunLineage collect_lineage(const std::vector<TrailRecord>& records) {
  RunLineage l;
  l.records = records.size();
  for (const auto& r : records) {
    const json& rec = r.record;
    if (!rec.is_object()) continue;
    const std::string kind = rec.value("kind", "");
    if (kind == "decision") {
      l.decisions.push_back(rec);
      continue;
    }
    // Every rank publishes the lifecycle; lineage is the run's, as rank 0 saw it.
    if (kind != "event" || rec.value("rank", 0) != 0) continue;
    const std::string event = rec.value("event", "");
    const json payload = rec.contains("payload") && rec["payload"].is_object() ? rec["payload"] : json::object();
    if (l.run_id.empty()) l.run_id = rec.value("run_id", "");
    if (event == "run_start" && l.run_start.is_null()) {
      l.run_start = payload;
      l.start_ns = rec.value("utc_ns", int64_t{0});
    } else if (event == "config_resolved" && l.config.is_null()) {
      l.config = payload;
    } else if (event == "plugin_loaded") {
      l.plugins.push_back(payload);
    } else if (event == "dataset_opened" && l.dataset.is_null()) {
      l.dataset = payload;
    } else if (event == "checkpoint_saved") {
      l.checkpoints.push_back(payload);
    } else if (event == "eval_done") {
      l.evaluations.push_back(payload);
    } else if (event == "run_end" && l.run_end.is_null()) {
      l.run_end = payload;
      l.end_ns = rec.value("utc_ns", int64_t{0});
    }
  }
  return l;
}

json openlineage_events(const RunLineage& l) {
  const std::string name = l.config.is_object() && l.config.contains("config")
                               ? l.config["config"].value("name", "strata-run")
                               : std::string("strata-run");
  const json job = {{"namespace", "strata"}, {"name", name}};
  json run_facets = json::object();
  if (l.config.is_object())
    run_facets["strata_config"] = {{"_producer", kProducer}, {"_schemaURL", kFacetSchema},
                                   {"sha256", str_or(l.config, "config_sha256")},
                                   {"code_version", str_or(l.run_start, "code_version")},
                                   {"strata_version", str_or(l.run_start, "strata_version")}};
  json plugins = json::array();
  for (const auto& p : l.plugins)
    plugins.push_back({{"name", str_or(p, "name")}, {"tier", str_or(p, "tier")}, {"version", str_or(p, "version")},
                       {"library_sha256", str_or(p, "library_sha256")}});
  run_facets["strata_plugins"] = {{"_producer", kProducer}, {"_schemaURL", kFacetSchema}, {"plugins", plugins}};
  const json run = {{"runId", name_uuid(l.run_id)}, {"facets", run_facets}};

  json inputs = json::array();
  if (l.dataset.is_object())
    for (const auto& s : l.dataset.value("sources", json::array()))
      inputs.push_back({{"namespace", "file"}, {"name", str_or(s, "path")},
                        {"facets", {{"strata_digest", digest_facet(s.value("sha256", ""))}}}});
  json start = {{"eventType", "START"}, {"eventTime", iso8601_utc(l.start_ns)}, {"run", run}, {"job", job},
                {"inputs", inputs}, {"outputs", json::array()}, {"producer", kProducer}, {"schemaURL", kRunEventSchema}};
  json events = json::array({start});
  if (l.run_end.is_object()) {
    const std::string status = l.run_end.value("status", "");
    const std::string type = status == "completed" ? "COMPLETE" : status == "failed" ? "FAIL" : "ABORT";
    json outputs = json::array();
    for (const auto& c : l.checkpoints)
      outputs.push_back({{"namespace", "file"}, {"name", str_or(c, "path")},
                         {"facets", {{"strata_digest", digest_facet(c.value("manifest_sha256", ""))}}}});
    json end_run = run;
    end_run["facets"]["strata_metrics"] = {{"_producer", kProducer}, {"_schemaURL", kFacetSchema},
                                           {"metrics", l.run_end.value("metrics", json::object())},
                                           {"status", status}};
    events.push_back({{"eventType", type}, {"eventTime", iso8601_utc(l.end_ns)}, {"run", end_run}, {"job", job},
                      {"inputs", inputs}, {"outputs", outputs}, {"producer", kProducer},
                      {"schemaURL", kRunEventSchema}});
  }
  return events;
}

json prov_json(const RunLineage& l) {
  const std::string run = "strata:run/" + l.run_id;
  json doc = {{"prefix", {{"strata", "https://strata.invalid/ns/"}, {"sha256", "urn:sha256:"}}},
              {"entity", json::object()},
              {"activity", json::object()},
              {"agent", json::object()},
              {"used", json::object()},
              {"wasGeneratedBy", json::object()},
              {"wasAssociatedWith", json::object()}};
  json activity = {{"prov:type", "strata:TrainingRun"}};
  if (l.start_ns) activity["prov:startTime"] = iso8601_utc(l.start_ns);
  if (l.end_ns) activity["prov:endTime"] = iso8601_utc(l.end_ns);
  if (l.run_end.is_object()) activity["strata:status"] = l.run_end.value("status", "");
  doc["activity"][run] = activity;
  const std::string software = "strata:software/strata-" + text(str_or(l.run_start, "strata_version"));
  doc["agent"][software] = {{"prov:type", "prov:SoftwareAgent"}, {"strata:code_version", str_or(l.run_start, "code_version")}};
  doc["wasAssociatedWith"]["_:assoc-strata"] = {{"prov:activity", run}, {"prov:agent", software}};
  int n = 0;
  for (const auto& p : l.plugins) {
    const std::string id = "strata:plugin/" + text(str_or(p, "name"));
    doc["agent"][id] = {{"prov:type", "prov:SoftwareAgent"}, {"strata:tier", str_or(p, "tier")},
                        {"strata:version", str_or(p, "version")}, {"strata:library_sha256", str_or(p, "library_sha256")}};
    doc["wasAssociatedWith"]["_:assoc-plugin-" + std::to_string(n++)] = {{"prov:activity", run}, {"prov:agent", id}};
  }
  if (l.config.is_object()) {
    const std::string id = "sha256:" + text(str_or(l.config, "config_sha256"));
    doc["entity"][id] = {{"prov:type", "strata:ResolvedConfig"}};
    doc["used"]["_:used-config"] = {{"prov:activity", run}, {"prov:entity", id}};
  }
  n = 0;
  if (l.dataset.is_object())
    for (const auto& s : l.dataset.value("sources", json::array())) {
      const std::string id = "sha256:" + s.value("sha256", "unknown-" + std::to_string(n));
      doc["entity"][id] = {{"prov:type", "strata:Dataset"}, {"prov:location", str_or(s, "path")}};
      doc["used"]["_:used-data-" + std::to_string(n++)] = {{"prov:activity", run}, {"prov:entity", id}};
    }
  if (l.run_end.is_object() && l.run_end.contains("data")) {
    const json& data = l.run_end["data"];
    for (const char* split : {"train", "val"})
      if (data.contains(split)) {
        const std::string id = "sha256:" + text(str_or(data[split], "sha256"));
        doc["entity"][id] = {{"prov:type", "strata:TokenFile"}, {"prov:location", str_or(data[split], "path")},
                             {"strata:tokens", str_or(data[split], "tokens")}};
        doc["used"][std::string("_:used-tokens-") + split] = {{"prov:activity", run}, {"prov:entity", id}};
      }
  }
  n = 0;
  for (const auto& c : l.checkpoints) {
    const std::string id = "sha256:" + text(str_or(c, "manifest_sha256"));
    doc["entity"][id] = {{"prov:type", "strata:Checkpoint"}, {"prov:location", str_or(c, "path")},
                         {"strata:reason", str_or(c, "reason")}};
    doc["wasGeneratedBy"]["_:gen-ckpt-" + std::to_string(n++)] = {{"prov:entity", id}, {"prov:activity", run}};
  }
  return doc;
}

std::string model_card(const RunLineage& l, const VerifyReport& v) {
  std::ostringstream md;
  const json cfg = l.config.is_object() ? l.config.value("config", json::object()) : json::object();
  const json model = cfg.value("model", json::object());
  const json metrics = l.run_end.is_object() ? l.run_end.value("metrics", json::object()) : json::object();
  md << "# Model card: " << text(str_or(cfg, "name", "unnamed run")) << "\n\n";
  md << "Generated by `strata audit card` from the audit trail of run `" << l.run_id << "`. Every statement below "
     << "comes from a record of that trail; the trail " << (v.ok() ? "**verified**" : "**FAILED verification**")
     << " (" << v.records << " records, " << v.sealed << " sealed by a signed tree head, root `" << to_hex(v.root)
     << "`, origin `" << v.origin << "`).\n\n";

  md << "## Model Details\n\n";
  md << "- Developer / run: `" << l.run_id << "` on host `" << text(str_or(l.run_start, "host")) << "`\n";
  md << "- Date: " << (l.start_ns ? iso8601_utc(l.start_ns) : "not recorded") << " to "
     << (l.end_ns ? iso8601_utc(l.end_ns) : "not recorded") << "\n";
  md << "- Type: GPT-2 style decoder-only transformer, " << text(model.value("layers", json())) << " layers, "
     << text(model.value("heads", json())) << " heads, width " << text(model.value("width", json())) << ", context "
     << text(model.value("context", json())) << ", " << text(model.value("dtype", json())) << "\n";
  if (l.run_end.is_object()) md << "- Parameters: " << text(l.run_end.value("parameters", json())) << "\n";
  md << "- Training: AdamW, " << text(cfg.value("train", json::object()).value("steps", json())) << " steps; Strata "
     << text(str_or(l.run_start, "strata_version")) << ", code version `" << text(str_or(l.run_start, "code_version"))
     << "`\n";
  md << "- Config SHA-256: `" << text(str_or(l.config, "config_sha256")) << "`\n";
  md << "- Plugins:\n";
  for (const auto& p : l.plugins)
    md << "  - " << text(str_or(p, "tier")) << " `" << text(str_or(p, "name")) << "` " << text(str_or(p, "version"))
       << " (library SHA-256 `" << text(str_or(p, "library_sha256")) << "`)\n";
  md << "- Licence, citation, contact: not recorded by the run; add them before publishing.\n\n";

  md << "## Intended Use\n\nNot recorded by the run. State the primary uses and users, and the out-of-scope uses, "
        "before release.\n\n";
  md << "## Factors\n\n";
  if (metrics.contains("fairness"))
    md << "Group attributes evaluated by the fairness tier: " << metrics["fairness"].dump() << "\n\n";
  else
    md << "No fairness plugin reported group metrics in this run.\n\n";
  md << "## Metrics\n\n- Validation loss (nats/token) and bits per byte of text, from the validation split.\n";
  md << "- Policy gates decide on these metrics (see Quantitative Analyses).\n\n";
  md << "## Evaluation Data\n\n";
  if (l.run_end.is_object() && l.run_end.contains("data") && l.run_end["data"].contains("val"))
    md << "Validation token file `" << text(str_or(l.run_end["data"]["val"], "path")) << "`, "
       << text(str_or(l.run_end["data"]["val"], "tokens")) << " tokens, SHA-256 `"
       << text(str_or(l.run_end["data"]["val"], "sha256")) << "`.\n\n";
  else
    md << "Not recorded.\n\n";
  md << "## Training Data\n\n";
  if (l.dataset.is_object())
    for (const auto& s : l.dataset.value("sources", json::array()))
      md << "- `" << text(str_or(s, "path")) << "`: " << text(s.value("bytes", json())) << " bytes, SHA-256 `"
         << text(s.value("sha256", json())) << "`\n";
  if (l.run_end.is_object() && l.run_end.contains("data")) {
    const json& d = l.run_end["data"];
    if (d.contains("train"))
      md << "- Training tokens: " << text(str_or(d["train"], "tokens")) << " (SHA-256 `" << text(str_or(d["train"], "sha256"))
         << "`)\n";
    if (d.contains("tokenizer")) md << "- Tokenizer: " << d["tokenizer"].dump() << "\n";
  }
  md << "\n## Quantitative Analyses\n\n| metric | value |\n|---|---|\n";
  for (const auto& [k, val] : metrics.items())
    if (!val.is_object()) md << "| " << k << " | " << val.dump() << " |\n";
  for (const auto& e : l.evaluations) md << "| eval_done | " << e.dump() << " |\n";
  md << "\nDisaggregated results with confidence intervals: " << (metrics.contains("fairness") ? "see Factors" : "not computed")
     << ".\n\nGate decisions:\n\n";
  if (l.decisions.empty()) md << "- none recorded\n";
  for (const auto& d : l.decisions)
    md << "- " << text(str_or(d, "gate")) << ": **" << text(str_or(d, "result")) << "** (policy `"
       << text(str_or(d, "policy_id")) << "` SHA-256 `" << text(str_or(d, "policy_sha256")) << "`): "
       << text(d.value("reasons", json::array())) << "\n";
  md << "\nCheckpoints:\n\n";
  for (const auto& c : l.checkpoints)
    md << "- `" << text(str_or(c, "path")) << "` (" << text(str_or(c, "reason")) << "), manifest SHA-256 `"
       << text(str_or(c, "manifest_sha256")) << "`\n";
  md << "\n## Ethical Considerations\n\nNot recorded by the run. Describe sensitive data, risks to people and "
        "mitigations; the fairness tier's metrics above are evidence, not a conclusion.\n\n";
  md << "## Caveats and Recommendations\n\n";
  if (!v.ok()) {
    md << "- The audit trail did not verify; do not rely on this card:\n";
    for (const auto& f : v.failures) md << "  - " << f << "\n";
  }
  for (const auto& w : v.warnings) md << "- " << w << "\n";
  md << "- This card states what the run recorded; it is evidence for a review, not a certification.\n";
  return md.str();
}

}  // namespace strata::audit
