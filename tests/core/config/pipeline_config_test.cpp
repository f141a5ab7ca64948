// Resolving pipeline configs against the real plugins: every error names the JSON Pointer.
#include "core/config/pipeline_config.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/registry_fixture.hpp"

namespace strata::config {
namespace {

using nlohmann::json;

json minimal() {
  return json::parse(R"({"schema_version": 1, "tiers": {
      "parallelism": {"plugin": "single"}, "aggregation": {"plugin": "mean"}, "memory": {"plugin": "none"}}})");
}

class PipelineConfig : public test::RegistryFixture {
 protected:
  std::vector<std::string> issues_of(json doc, std::vector<Override> overrides = {}) {
    try {
      resolve_config(std::move(doc), overrides, registry, "test.json");
    } catch (const ConfigError& e) {
      return e.issues();
    }
    return {};
  }
};

TEST_F(PipelineConfig, MinimalConfigResolvesWithEveryDefault) {
  const auto r = resolve_config(minimal(), {}, registry, "test.json");
  EXPECT_EQ(r.document["seed"], 1337);
  EXPECT_EQ(r.document["tiers"]["aggregation"]["options"]["bucket_mb"], 16);
  EXPECT_EQ(r.document["tiers"]["parallelism"]["options"]["micro_batches"], 1);
  EXPECT_EQ(r.document["tiers"]["fairness"], json::array());
  EXPECT_EQ(r.selections.size(), 3u);
  EXPECT_EQ(r.digest.size(), 64u);
  EXPECT_EQ(r.digest, resolve_config(minimal(), {}, registry, "again.json").digest) << "digest is deterministic";
}

TEST_F(PipelineConfig, WrongOptionTypeNamesThePointerAndTheExpectation) {
  json doc = minimal();
  doc["tiers"]["aggregation"]["options"] = {{"bucket_mb", "x"}};
  const auto issues = issues_of(doc);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0], "/tiers/aggregation/options/bucket_mb: expected a number > 0, got \"x\"");
}

TEST_F(PipelineConfig, OutOfRangeOptionIsRejected) {
  json doc = minimal();
  doc["tiers"]["aggregation"]["options"] = {{"bucket_mb", 0}};
  EXPECT_EQ(issues_of(doc), std::vector<std::string>{"/tiers/aggregation/options/bucket_mb: expected a number > 0, got 0"});
}

TEST_F(PipelineConfig, UnknownOptionKeyGetsADidYouMean) {
  json doc = minimal();
  doc["tiers"]["aggregation"]["options"] = {{"bucket_mbb", 4}};
  const auto issues = issues_of(doc);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0], "/tiers/aggregation/options/bucket_mbb: unknown property \"bucket_mbb\" (did you mean \"bucket_mb\"?)");
}

TEST_F(PipelineConfig, UnknownTopLevelKeyIsAnError) {
  json doc = minimal();
  doc["sed"] = 3;
  const auto issues = issues_of(doc);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].find("/sed: unknown property \"sed\" (did you mean \"seed\"?)"), std::string::npos) << issues[0];
}

TEST_F(PipelineConfig, UnknownPluginSuggestsAndListsTheTier) {
  json doc = minimal();
  doc["tiers"]["aggregation"]["plugin"] = "mena";
  const auto issues = issues_of(doc);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].find("/tiers/aggregation/plugin: unknown aggregation plugin \"mena\" (did you mean \"mean\"?)"),
            std::string::npos) << issues[0];
  EXPECT_NE(issues[0].find("available: "), std::string::npos);
}

TEST_F(PipelineConfig, PluginOfTheWrongKindIsRefused) {
  json doc = minimal();
  doc["tiers"]["parallelism"]["plugin"] = "mean";
  EXPECT_EQ(issues_of(doc),
            std::vector<std::string>{"/tiers/parallelism/plugin: \"mean\" is an aggregation plugin, not a parallelism plugin"});
}

TEST_F(PipelineConfig, MissingTierAndWrongSchemaVersionAreReported) {
  json doc = minimal();
  doc["tiers"].erase("memory");
  doc["schema_version"] = 2;
  const auto issues = issues_of(doc);
  ASSERT_EQ(issues.size(), 2u);
  EXPECT_NE(issues[0].find("/schema_version"), std::string::npos) << issues[0];
  EXPECT_NE(issues[1].find("/tiers: missing required property \"memory\""), std::string::npos) << issues[1];
}

TEST_F(PipelineConfig, AllIssuesOfAllPluginsAreReportedAtOnce) {
  json doc = minimal();
  doc["tiers"]["aggregation"]["options"] = {{"bucket_mb", -1}};
  doc["tiers"]["parallelism"]["options"] = {{"micro_batches", 0}};
  doc["tiers"]["compliance"] = json::array({{{"plugin", "jsonl"}, {"options", {{"deny", {"nope"}}}}}});
  const auto issues = issues_of(doc);
  EXPECT_EQ(issues.size(), 3u);
  EXPECT_NE(issues[2].find("/tiers/compliance/0/options/deny/0: expected one of"), std::string::npos) << issues[2];
}

TEST_F(PipelineConfig, APluginCanBeSelectedOnlyOnce) {
  json doc = minimal();
  doc["tiers"]["fairness"] = json::array({{{"plugin", "group-stats"}}, {{"plugin", "group-stats"}}});
  EXPECT_EQ(issues_of(doc), std::vector<std::string>{"/tiers/fairness/1/plugin: \"group-stats\" is already selected at "
                                                     "/tiers/fairness/0; a plugin can be selected once per run"});
}

TEST_F(PipelineConfig, OverridesApplyBeforeValidation) {
  const auto r = resolve_config(minimal(), {parse_override("/tiers/aggregation/options/bucket_mb=32")}, registry, "t");
  EXPECT_EQ(r.document["tiers"]["aggregation"]["options"]["bucket_mb"], 32);
  EXPECT_EQ(issues_of(minimal(), {parse_override("/tiers/aggregation/options/bucket_mb=x")}),
            std::vector<std::string>{"/tiers/aggregation/options/bucket_mb: expected a number > 0, got \"x\""});
}

TEST_F(PipelineConfig, NestedPluginReferencesAreResolvedAndValidated) {
  json doc = minimal();
  doc["tiers"]["aggregation"] = {{"plugin", "wrap-count"}};
  const auto r = resolve_config(doc, {}, registry, "t");
  EXPECT_EQ(r.document["tiers"]["aggregation"]["options"]["inner"]["options"]["bucket_mb"], 16) << "inner defaults filled";

  doc["tiers"]["aggregation"]["options"] = {{"inner", {{"plugin", "single"}}}};
  EXPECT_EQ(issues_of(doc), std::vector<std::string>{"/tiers/aggregation/options/inner/plugin: \"single\" is a "
                                                     "parallelism plugin, not an aggregation plugin"});
  doc["tiers"]["aggregation"]["options"] = {{"inner", {{"plugin", "mean"}, {"options", {{"bucket_mb", "big"}}}}}};
  EXPECT_EQ(issues_of(doc), std::vector<std::string>{"/tiers/aggregation/options/inner/options/bucket_mb: expected a "
                                                     "number > 0, got \"big\""});
}

TEST_F(PipelineConfig, RulesAcrossFieldsAreCheckedWithTheConfig) {
  json doc = minimal();
  doc["model"] = {{"width", 130}, {"heads", 4}, {"context", 64}};
  doc["train"] = {{"seq_len", 128}};
  doc["data"] = {{"tokenizer", "bpe:100"}};
  const auto issues = issues_of(doc);
  ASSERT_EQ(issues.size(), 3u);
  EXPECT_EQ(issues[0], "/model/width: 130 is not divisible by /model/heads (4); each head needs width / heads channels");
  EXPECT_EQ(issues[1], "/train/seq_len: 128 exceeds /model/context (64)");
  EXPECT_EQ(issues[2], "/data/tokenizer: \"bpe:100\": expected bpe:N with 257 <= N <= 65536");
  doc["data"]["tokenizer"] = "bpe:12x";
  EXPECT_EQ(issues_of(doc).back(), "/data/tokenizer: \"bpe:12x\": expected bpe:N with 257 <= N <= 65536");
}

TEST(PipelineConfigFile, ParseErrorsNameLineAndColumn) {
  test::TempDir dir;
  const auto path = dir.path() / "bad.json";
  std::ofstream(path) << "{\n  \"schema_version\": 1,\n  \"tiers\": {,}\n}\n";
  try {
    load_json_file(path);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json:3:"), std::string::npos) << e.what();
  }
}

TEST_F(PipelineConfig, EveryShippedConfigResolves) {
  for (const auto& entry : std::filesystem::directory_iterator(test::source_dir() / "configs")) {
    if (entry.path().extension() != ".json") continue;
    EXPECT_NO_THROW(resolve_config(load_json_file(entry.path()), {}, registry, entry.path().string())) << entry.path();
  }
}

}  // namespace
}  // namespace strata::config
