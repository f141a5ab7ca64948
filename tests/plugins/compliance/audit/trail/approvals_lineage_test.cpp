// Approvals are counted per distinct pinned key, for the exact gate, run and subject; the
// lineage exports read what the trail recorded.
#include "trail_fixture.hpp"

#include <regex>

#include "approvals.hpp"
#include "lineage.hpp"

namespace strata::audit::test {
namespace {

const std::string kSubject(64, 'a');

TEST_F(TrailTest, ApprovalsCountDistinctPinnedKeysForTheExactSubject) {
  const SignerKey alice = signer_key_from_seed("alice", seed_of(1));
  const SignerKey bob = signer_key_from_seed("bob", seed_of(2));
  const SignerKey mallory = signer_key_from_seed("mallory", seed_of(3));
  const std::vector<VerifierKey> pinned = {verifier_of(alice), verifier_of(bob)};
  const fs::path d = root_ / "approvals";
  const ApprovalSubject s{"release_requested", "run-1", kSubject};

  write_approval(d, s, alice);
  auto t = tally_approvals(d, s, pinned);
  EXPECT_EQ(t.approvers.size(), 1u);
  write_approval(d, s, alice);  // the same key again: still one
  EXPECT_EQ(tally_approvals(d, s, pinned).approvers.size(), 1u);
  write_approval(d, s, mallory);  // not pinned
  t = tally_approvals(d, s, pinned);
  EXPECT_EQ(t.approvers.size(), 1u);
  EXPECT_EQ(t.ignored.size(), 1u);
  write_approval(d, {"release_requested", "run-1", std::string(64, 'b')}, bob);  // another checkpoint
  t = tally_approvals(d, s, pinned);
  EXPECT_EQ(t.approvers.size(), 1u);
  ASSERT_EQ(t.ignored.size(), 2u);
  write_approval(d, s, bob);
  t = tally_approvals(d, s, pinned);
  ASSERT_EQ(t.approvers.size(), 2u);
  EXPECT_EQ(t.approvers[0].rfind("alice+", 0), 0u);
  EXPECT_EQ(t.approvers[1].rfind("bob+", 0), 0u);
  // An approval for another gate does not count for this one.
  EXPECT_TRUE(tally_approvals(d, {"checkpoint_publish_requested", "run-1", kSubject}, pinned).approvers.empty());
}

TEST_F(TrailTest, ATamperedApprovalIsIgnored) {
  const SignerKey alice = signer_key_from_seed("alice", seed_of(1));
  const fs::path d = root_ / "approvals";
  const ApprovalSubject s{"release_requested", "run-1", kSubject};
  const fs::path f = write_approval(d, s, alice);
  std::string note = read_file(f);
  note[note.find("run-1")] = 'R';
  write_file(f, note);
  const auto t = tally_approvals(d, s, {verifier_of(alice)});
  EXPECT_TRUE(t.approvers.empty());
  EXPECT_EQ(t.ignored.size(), 1u);
}

std::vector<TrailRecord> a_run() {
  std::vector<nlohmann::json> recs = {
      {{"kind", "log_opened"}},
      event_record(0, "run_start", {{"run_id", "run-1"}, {"strata_version", "0.1.0"}, {"code_version", "abc123"}, {"host", "h"}}),
      event_record(1, "config_resolved", {{"config_sha256", std::string(64, 'c')}, {"config", {{"name", "demo"}, {"model", {{"layers", 2}}}}}}),
      event_record(2, "plugin_loaded", {{"name", "audit"}, {"tier", "compliance"}, {"version", "0.1.0"}, {"library_sha256", std::string(64, 'd')}}),
      event_record(3, "dataset_opened", {{"sources", {{{"path", "/data/x.txt"}, {"sha256", std::string(64, 'e')}, {"bytes", 10}}}}}),
      event_record(4, "checkpoint_saved", {{"path", "/run/checkpoints/step_2"}, {"manifest_sha256", std::string(64, 'f')}, {"reason", "final"}}),
      {{"kind", "decision"}, {"gate", "release_requested"}, {"result", "deny"}, {"policy_id", "p"}, {"reasons", {"no"}}},
      event_record(5, "run_end", {{"status", "completed"}, {"metrics", {{"val_loss", 2.5}}}, {"parameters", 1000},
                                  {"data", {{"train", {{"path", "t.tok"}, {"sha256", std::string(64, '1')}, {"tokens", 5}}}}}})};
  std::vector<TrailRecord> out;
  for (size_t i = 0; i < recs.size(); ++i) out.push_back({i, "segment-000000.log", 0, recs[i].dump(), recs[i]});
  return out;
}

TEST(Lineage, OpenLineageHasAStartAndACompleteEventForTheRun) {
  const auto l = collect_lineage(a_run());
  const auto events = openlineage_events(l);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["eventType"], "START");
  EXPECT_EQ(events[1]["eventType"], "COMPLETE");
  const std::string id = events[0]["run"]["runId"];
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"))) << id;
  EXPECT_EQ(events[1]["run"]["runId"], id) << "one run, one id";
  EXPECT_EQ(events[0]["inputs"][0]["facets"]["strata_digest"]["sha256"], std::string(64, 'e'));
  EXPECT_EQ(events[1]["outputs"][0]["facets"]["strata_digest"]["sha256"], std::string(64, 'f'));
  EXPECT_EQ(events[0]["run"]["facets"]["strata_plugins"]["plugins"][0]["library_sha256"], std::string(64, 'd'));
  EXPECT_EQ(name_uuid("run-1"), id) << "deterministic";
}

TEST(Lineage, ProvJsonLinksTheRunToItsInputsOutputsAndSoftware) {
  const auto doc = prov_json(collect_lineage(a_run()));
  EXPECT_TRUE(doc["activity"].contains("strata:run/run-1"));
  EXPECT_TRUE(doc["entity"].contains("sha256:" + std::string(64, 'e')));
  EXPECT_TRUE(doc["entity"].contains("sha256:" + std::string(64, 'f')));
  EXPECT_TRUE(doc["entity"].contains("sha256:" + std::string(64, 'c')));
  EXPECT_TRUE(doc["agent"].contains("strata:plugin/audit"));
  bool generated = false;
  for (const auto& [k, v] : doc["wasGeneratedBy"].items()) generated |= v["prov:entity"] == "sha256:" + std::string(64, 'f');
  EXPECT_TRUE(generated);
}

TEST(Lineage, ModelCardHasMitchellSectionsAndTheRecordedFacts) {
  VerifyReport v;
  v.records = 8;
  v.sealed = 8;
  const std::string card = model_card(collect_lineage(a_run()), v);
  for (const char* section : {"## Model Details", "## Intended Use", "## Factors", "## Metrics", "## Evaluation Data",
                              "## Training Data", "## Quantitative Analyses", "## Ethical Considerations",
                              "## Caveats and Recommendations"})
    EXPECT_NE(card.find(section), std::string::npos) << section;
  EXPECT_NE(card.find("abc123"), std::string::npos) << "code version";
  EXPECT_NE(card.find(std::string(64, 'e')), std::string::npos) << "dataset digest";
  EXPECT_NE(card.find("**deny**"), std::string::npos) << "gate decision";
  EXPECT_NE(card.find("**verified**"), std::string::npos);
}

}  // namespace
}  // namespace strata::audit::test
