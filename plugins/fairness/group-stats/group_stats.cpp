// Fairness plugin `group-stats`: per-group counts and mean scores over an evaluation set,
// for each group attribute. The measurement every bias metric starts from; it changes
// nothing during training.
#include <strata/sdk.hpp>

#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace {

struct Accumulator {
  int64_t count = 0;
  double sum = 0;
  double sum_sq = 0;
};

double read_score(const strata_buffer& b, int64_t i) {
  if (b.dtype == STRATA_DTYPE_F32) return static_cast<const float*>(b.data)[i];
  if (b.dtype == STRATA_DTYPE_F64) return static_cast<const double*>(b.data)[i];
  throw strata::sdk::Error(STRATA_UNSUPPORTED, "group-stats: scores must be F32 or F64");
}

class GroupStats final : public strata::sdk::FairnessPlugin {
 public:
  static constexpr const char* kName = "group-stats";
  static constexpr const char* kVersion = "0.1.0";
  static constexpr const char* kDescription = "per-group counts and mean scores of an evaluation set";
  static constexpr const char* kOptionsSchema = R"json({
    "type": "object",
    "properties": {
      "min_count": {"type": "integer", "minimum": 1, "default": 1,
                    "description": "groups with fewer examples are reported but flagged as too small"}
    },
    "additionalProperties": false
  })json";

  explicit GroupStats(strata::sdk::Host host)
      : FairnessPlugin(host), min_count_(host.options().at("min_count").get<int64_t>()) {}

  void evaluate(const strata_fairness_batch& batch) override {
    using strata::sdk::Error;
    if (batch.scores.data == nullptr) throw Error(STRATA_INVALID_ARGUMENT, "group-stats needs scores");
    if (batch.groups.dtype != STRATA_DTYPE_I32 ||
        batch.groups.count != static_cast<uint64_t>(batch.count) * batch.attribute_count)
      throw Error(STRATA_INVALID_ARGUMENT, "group-stats: groups must be count x attribute_count I32");
    if (attributes_.empty()) {
      for (uint32_t a = 0; a < batch.attribute_count; ++a) attributes_.push_back(attribute_info(batch, a));
    } else if (attributes_.size() != batch.attribute_count) {
      throw Error(STRATA_INVALID_ARGUMENT, "group-stats: attribute count changed between batches");
    }
    const auto* groups = static_cast<const int32_t*>(batch.groups.data);
    for (int64_t i = 0; i < batch.count; ++i) {
      const double score = read_score(batch.scores, i);
      for (uint32_t a = 0; a < batch.attribute_count; ++a) {
        const int32_t g = groups[i * batch.attribute_count + a];
        if (g < 0) continue;  // unknown group for this attribute
        Accumulator& acc = stats_[{a, g}];
        acc.count += 1;
        acc.sum += score;
        acc.sum_sq += score * score;
      }
    }
  }

  void finish_evaluation(int64_t step) override {
    nlohmann::json report = {{"step", step}, {"attributes", nlohmann::json::object()}};
    for (const auto& [key, acc] : stats_) {
      const auto& [attribute, name_list] = attributes_[key.first];
      const std::string group =
          key.second < static_cast<int32_t>(name_list.size()) ? name_list[key.second] : std::to_string(key.second);
      const double mean = acc.sum / static_cast<double>(acc.count);
      const double var = std::max(0.0, acc.sum_sq / static_cast<double>(acc.count) - mean * mean);
      report["attributes"][attribute][group] = {{"count", acc.count},
                                                {"mean_score", mean},
                                                {"std_score", std::sqrt(var)},
                                                {"too_small", acc.count < min_count_}};
      host().emit_metric(attribute + "." + group + ".count", static_cast<double>(acc.count), step);
      host().emit_metric(attribute + "." + group + ".mean_score", mean, step);
    }
    host().write_artifact("group_stats_step" + std::to_string(step) + ".json", report.dump(2) + "\n");
    stats_.clear();
  }

 private:
  static std::pair<std::string, std::vector<std::string>> attribute_info(const strata_fairness_batch& batch, uint32_t a) {
    std::string name = batch.attribute_names != nullptr && batch.attribute_names[a] != nullptr
                           ? batch.attribute_names[a]
                           : "attribute" + std::to_string(a);
    std::vector<std::string> groups;
    if (batch.group_names != nullptr) {
      // group_names holds, per attribute, a NULL-terminated run of names, one after another.
      const char* const* p = batch.group_names;
      for (uint32_t k = 0; k < a; ++k) {
        while (*p != nullptr) ++p;
        ++p;
      }
      for (; *p != nullptr; ++p) groups.emplace_back(*p);
    }
    return {std::move(name), std::move(groups)};
  }

  int64_t min_count_;
  std::vector<std::pair<std::string, std::vector<std::string>>> attributes_;
  std::map<std::pair<uint32_t, int32_t>, Accumulator> stats_;
};

}  // namespace

STRATA_PLUGIN_LIBRARY("strata-group-stats", GroupStats)
