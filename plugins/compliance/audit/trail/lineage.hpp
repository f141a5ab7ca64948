// Lineage read back from an audit trail's records (never from the run directory's other
// files, which nothing protects): the run, its config digest, code version, plugins and
// their library digests, datasets and tokenizer digests, checkpoints, policy decisions and
// the metrics summary. Exported as OpenLineage RunEvents, W3C PROV-JSON and a model card.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "verifier.hpp"

namespace strata::audit {

struct RunLineage {
  nlohmann::json run_start;        // payloads of the events, null when absent
  nlohmann::json config;           // config_resolved payload
  std::vector<nlohmann::json> plugins;
  nlohmann::json dataset;          // dataset_opened payload
  std::vector<nlohmann::json> checkpoints;
  std::vector<nlohmann::json> evaluations;
  std::vector<nlohmann::json> decisions;  // decision records
  nlohmann::json run_end;
  std::string run_id;
  int64_t start_ns = 0, end_ns = 0;
  std::string origin;              // of the trail
  uint64_t records = 0;
};

// The first run recorded in the trail (a trail belongs to one run; later sessions, such as
// `strata release`, add decisions and are included).
RunLineage collect_lineage(const std::vector<TrailRecord>& records);

// OpenLineage 2-0-2 RunEvents: START, then COMPLETE / FAIL / ABORT when the run ended.
nlohmann::json openlineage_events(const RunLineage& lineage);
// W3C PROV-JSON document.
nlohmann::json prov_json(const RunLineage& lineage);
// Markdown model card with the sections of Mitchell et al. (2019).
std::string model_card(const RunLineage& lineage, const VerifyReport& verification);

// RFC 9562 version-8 UUID from SHA-256 of a name: the same run always gets the same id.
std::string name_uuid(const std::string& name);
std::string iso8601_utc(int64_t utc_ns);

}  // namespace strata::audit
