#include "plugins/compliance/audit/policy/policy.hpp"

#include <gtest/gtest.h>
#include <sodium.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace strata::audit {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kHashA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kHashB = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

// governance.md T12: a 0.05 fairness limit (inclusive) with two approvers, a forbid on
// divergence, dataset digests that must be well-formed, and a publish gate with only a
// forbid rule (so it is denied by default).
const char* kT12Policy = R"({
  "strata_policy": 1,
  "id": "t12",
  "version": "2026-11-25",
  "rules": [
    {"id": "fair-release", "effect": "permit", "gates": ["release_requested"],
     "when": [{"path": "metrics.fairness.max_auc_gap", "op": "<=", "value": 0.05},
              {"approvals": {"at_least": 2}}]},
    {"id": "diverged", "effect": "forbid", "gates": ["release_requested"],
     "when": [{"path": "metrics.val_loss", "op": ">", "value": 5.0}],
     "reason": "validation loss above 5"},
    {"id": "hashed-datasets", "effect": "permit", "gates": ["dataset_opened"],
     "when": [{"path": "event.sources[*].sha256", "op": "is_sha256"}]},
    {"id": "no-unverified-publish", "effect": "forbid", "gates": ["checkpoint_publish_requested"],
     "when": [{"path": "run.verified", "op": "==", "value": false}]}
  ]
})";

const Policy& t12() {
  static const Policy policy = Policy::parse(json::parse(kT12Policy), "t12.json");
  return policy;
}

std::string sodium_sha256_hex(const std::string& bytes) {
  EXPECT_GE(sodium_init(), 0);
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

// A release input; `gap` and `approvals` are JSON text so that numbers come from decimal
// text exactly as they would from a metrics file. An empty string leaves the field out.
json release(const std::string& gap, const std::string& approvals = R"(["key-a", "key-b"])",
             const std::string& val_loss = "1.2") {
  json in = {{"gate", "release_requested"},
             {"event", {{"checkpoint", "checkpoints/step_600"}, {"manifest_sha256", kHashA}}},
             {"metrics", json::object()}};
  if (!gap.empty()) in["metrics"]["fairness"]["max_auc_gap"] = json::parse(gap);
  if (!val_loss.empty()) in["metrics"]["val_loss"] = json::parse(val_loss);
  if (!approvals.empty()) in["approvals"] = json::parse(approvals);
  return in;
}

json dataset(const json& sources) {
  json in = {{"gate", "dataset_opened"}, {"event", {{"kind", "text"}}}};
  if (!sources.is_null()) in["event"]["sources"] = sources;
  return in;
}

struct GateCase {
  std::string name;
  std::string gate;
  json input;
  bool allow;
  std::vector<std::string> matched;
  std::vector<std::string> reasons_contain;  // each must be a substring of one reason
};

void PrintTo(const GateCase& c, std::ostream* os) { *os << c.name; }

std::vector<GateCase> t12_cases() {
  const json ok_source = {{"path", "a.txt"}, {"sha256", kHashA}};
  std::string upper = kHashA;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return {
      // Threshold 0.05, inclusive.
      {"gap_0_049_allows", "release_requested", release("0.049"), true, {"fair-release"},
       {"permit fair-release: metrics.fairness.max_auc_gap <= 0.05 (is 0.049) and approvals: 2 distinct approvers"}},
      {"gap_0_050_allows", "release_requested", release("0.050"), true, {"fair-release"}, {}},
      {"gap_0_05_allows", "release_requested", release("0.05"), true, {"fair-release"}, {}},
      {"gap_0_051_denies", "release_requested", release("0.051"), false, {},
       {"no permit rule matched gate release_requested",
        "fair-release: metrics.fairness.max_auc_gap = 0.051, needs <= 0.05"}},
      {"gap_0_0500001_denies", "release_requested", release("0.0500001"), false, {}, {}},
      {"gap_integer_0_allows", "release_requested", release("0"), true, {"fair-release"}, {}},
      {"gap_negative_allows", "release_requested", release("-0.01"), true, {"fair-release"}, {}},
      // A missing metric or a type mismatch is false, so the default denies.
      {"gap_missing_denies", "release_requested", release(""), false, {},
       {"fair-release: metrics.fairness.max_auc_gap is missing"}},
      {"gap_string_denies", "release_requested", release(R"("0.01")"), false, {}, {"(not a number)"}},
      {"gap_null_denies", "release_requested", release("null"), false, {}, {"needs <= 0.05"}},
      {"gap_bool_denies", "release_requested", release("false"), false, {}, {"needs <= 0.05"}},
      {"metrics_missing_denies", "release_requested",
       json{{"gate", "release_requested"}, {"approvals", {"key-a", "key-b"}}}, false, {},
       {"metrics.fairness.max_auc_gap is missing"}},
      // Approvals: at least 2 distinct keys.
      {"one_approver_denies", "release_requested", release("0.01", R"(["key-a"])"), false, {},
       {"fair-release: approvals: 1 distinct approver (key-a), needs at least 2 distinct"}},
      {"two_distinct_approvers_allow", "release_requested", release("0.01", R"(["key-a", "key-b"])"), true,
       {"fair-release"}, {}},
      {"same_key_twice_denies", "release_requested", release("0.01", R"(["key-a", "key-a"])"), false, {},
       {"1 distinct approver (key-a) among 2 entries, needs at least 2 distinct"}},
      {"three_approvers_allow", "release_requested", release("0.01", R"(["k1", "k2", "k3"])"), true,
       {"fair-release"}, {}},
      {"no_approvals_denies", "release_requested", release("0.01", ""), false, {},
       {"approvals is missing, needs at least 2 distinct"}},
      {"empty_approvals_denies", "release_requested", release("0.01", "[]"), false, {},
       {"0 distinct approvers, needs at least 2"}},
      {"approvals_not_array_denies", "release_requested", release("0.01", R"("key-a,key-b")"), false, {},
       {"is not an array"}},
      {"non_string_approvals_not_counted", "release_requested", release("0.01", R"(["key-a", 7, "", null])"), false,
       {}, {"1 distinct approver (key-a) among 4 entries"}},
      {"both_conditions_fail_both_reported", "release_requested", release("0.2", R"(["key-a"])"), false, {},
       {"fair-release: metrics.fairness.max_auc_gap = 0.2, needs <= 0.05", "fair-release: approvals: 1 distinct"}},
      // Any matching forbid beats the permits.
      {"forbid_beats_permit", "release_requested", release("0.01", R"(["key-a", "key-b"])", "7.5"), false,
       {"fair-release", "diverged"},
       {"forbid diverged: validation loss above 5", "permit fair-release matched, but a forbid overrides it"}},
      {"forbid_matches_without_permit", "release_requested", release("0.9", R"(["key-a"])", "7.5"), false,
       {"diverged"}, {"forbid diverged"}},
      {"forbid_boundary_not_matched", "release_requested", release("0.01", R"(["key-a", "key-b"])", "5.0"), true,
       {"fair-release"}, {}},
      // Dataset digests: present and well-formed, for every source.
      {"dataset_hashes_allow", "dataset_opened", dataset(json::array({ok_source, {{"sha256", kHashB}}})), true,
       {"hashed-datasets"}, {"event.sources[*].sha256 is_sha256 (2 elements)"}},
      {"dataset_hash_missing_denies", "dataset_opened", dataset(json::array({ok_source, {{"path", "b.txt"}}})),
       false, {}, {"hashed-datasets: event.sources[1].sha256 is missing"}},
      {"dataset_hash_uppercase_denies", "dataset_opened", dataset(json::array({{{"sha256", upper}}})), false, {},
       {"needs a SHA-256 digest (64 lowercase hex digits)"}},
      {"dataset_hash_short_denies", "dataset_opened",
       dataset(json::array({{{"sha256", std::string(kHashA).substr(1)}}})), false, {}, {"needs a SHA-256"}},
      {"dataset_hash_non_hex_denies", "dataset_opened",
       dataset(json::array({{{"sha256", "g" + std::string(kHashA).substr(1)}}})), false, {}, {"needs a SHA-256"}},
      {"dataset_hash_number_denies", "dataset_opened", dataset(json::array({{{"sha256", 12345}}})), false, {},
       {"needs a SHA-256"}},
      {"dataset_sources_empty_denies", "dataset_opened", dataset(json::array()), false, {},
       {"hashed-datasets: event.sources is empty"}},
      {"dataset_sources_missing_denies", "dataset_opened", dataset(json()), false, {},
       {"hashed-datasets: event.sources is missing"}},
      {"dataset_sources_not_array_denies", "dataset_opened", dataset(ok_source), false, {},
       {"event.sources is not an array"}},
      // A gate with only a forbid rule is denied by default, matched or not.
      {"publish_only_forbid_denies", "checkpoint_publish_requested",
       json{{"gate", "checkpoint_publish_requested"}, {"run", {{"verified", true}}}}, false, {},
       {"no permit rule matched gate checkpoint_publish_requested",
        "policy t12 has no permit rule for gate checkpoint_publish_requested"}},
      {"publish_forbid_matches", "checkpoint_publish_requested",
       json{{"gate", "checkpoint_publish_requested"}, {"run", {{"verified", false}}}}, false,
       {"no-unverified-publish"}, {"forbid no-unverified-publish: run.verified == false (is false)"}},
      // Inputs that cannot be decided are denied, never an error.
      {"unknown_gate_denies", "model_release", json{{"gate", "model_release"}}, false, {},
       {"\"model_release\" is not a gated event"}},
      {"input_gate_mismatch_denies", "release_requested", json{{"gate", "dataset_opened"}}, false, {},
       {"the input is for gate \"dataset_opened\", not \"release_requested\""}},
      {"input_not_object_denies", "release_requested", json::array({1, 2}), false, {},
       {"the input is not a JSON object"}},
      {"input_without_gate_field_is_evaluated", "release_requested",
       json{{"metrics", {{"fairness", {{"max_auc_gap", 0.01}}}}}, {"approvals", {"a", "b"}}}, true,
       {"fair-release"}, {}},
  };
}

class T12Gates : public testing::TestWithParam<GateCase> {};

TEST_P(T12Gates, Decides) {
  const GateCase& c = GetParam();
  const PolicyDecision d = t12().evaluate(c.gate, c.input);
  const std::string all = d.to_json().dump(2);
  EXPECT_EQ(d.allow, c.allow) << all;
  EXPECT_EQ(d.gate, c.gate);
  EXPECT_EQ(d.matched_rules, c.matched) << all;
  EXPECT_FALSE(d.reasons.empty()) << all;
  for (const std::string& expected : c.reasons_contain) {
    bool found = false;
    for (const std::string& r : d.reasons) found = found || r.find(expected) != std::string::npos;
    EXPECT_TRUE(found) << "no reason contains: " << expected << "\n" << all;
  }
  // Digests name exactly what was decided, and re-evaluation is identical.
  EXPECT_EQ(d.policy_sha256, t12().sha256());
  EXPECT_EQ(d.input_sha256, sodium_sha256_hex(c.input.dump()));
  EXPECT_EQ(d.policy_id, "t12");
  EXPECT_EQ(d.policy_version, "2026-11-25");
  EXPECT_EQ(t12().evaluate(c.gate, c.input).to_json(), d.to_json());
  const Policy reparsed = Policy::parse(json::parse(t12().document().dump()), "again");
  EXPECT_EQ(reparsed.evaluate(c.gate, json::parse(c.input.dump())).to_json().dump(), d.to_json().dump());
}

INSTANTIATE_TEST_SUITE_P(Policy, T12Gates, testing::ValuesIn(t12_cases()),
                         [](const testing::TestParamInfo<GateCase>& info) { return info.param.name; });

// One condition on a release: does it hold for the input?
struct OpCase {
  std::string name;
  json condition;
  json input;
  bool holds;
};

void PrintTo(const OpCase& c, std::ostream* os) { *os << c.name; }

std::vector<OpCase> op_cases() {
  auto cond = [](const char* path, const char* op, json value = json(), bool has_value = true) {
    json c = {{"path", path}, {"op", op}};
    if (has_value) c["value"] = std::move(value);
    return c;
  };
  const json in = json::parse(R"({
    "gate": "release_requested",
    "event": {"kind": "text", "n": 3, "big": 9007199254740993, "flag": true, "nothing": null,
              "tags": ["a", "b"], "sources": [{"sha256": "x", "files": [{"n": 1}, {"n": 2}]},
                                              {"sha256": "y", "files": [{"n": 3}]}]},
    "metrics": {"loss": 1.5, "int_one": 1},
    "run": {"id": "r1"}
  })");
  return {
      {"eq_string", cond("event.kind", "==", "text"), in, true},
      {"eq_string_differs", cond("event.kind", "==", "code"), in, false},
      {"eq_int_float", cond("metrics.int_one", "==", 1.0), in, true},
      {"eq_bool_is_not_int", cond("event.flag", "==", 1), in, false},
      {"eq_null", cond("event.nothing", "==", nullptr), in, true},
      {"eq_missing", cond("event.absent", "==", nullptr), in, false},
      {"eq_array", cond("event.tags", "==", json::array({"a", "b"})), in, true},
      {"ne_string", cond("event.kind", "!=", "code"), in, true},
      {"ne_same", cond("event.kind", "!=", "text"), in, false},
      {"ne_type_mismatch_is_false", cond("event.kind", "!=", 3), in, false},
      {"ne_missing_is_false", cond("event.absent", "!=", "x"), in, false},
      {"lt", cond("metrics.loss", "<", 2), in, true},
      {"lt_equal", cond("metrics.loss", "<", 1.5), in, false},
      {"le_equal", cond("metrics.loss", "<=", 1.5), in, true},
      {"gt", cond("metrics.loss", ">", 1), in, true},
      {"ge_equal", cond("event.n", ">=", 3), in, true},
      {"ge_less", cond("event.n", ">=", 3.0000001), in, false},
      {"big_int_exact", cond("event.big", ">", 9007199254740992.0), in, true},
      {"ordered_on_string_is_false", cond("event.kind", "<", 5), in, false},
      {"ordered_on_bool_is_false", cond("event.flag", ">=", 0), in, false},
      {"in", cond("event.kind", "in", json::array({"code", "text"})), in, true},
      {"in_not_member", cond("event.kind", "in", json::array({"code"})), in, false},
      {"in_number", cond("event.n", "in", json::array({1, 3.0})), in, true},
      {"in_empty_list", cond("event.kind", "in", json::array()), in, false},
      {"in_missing", cond("event.absent", "in", json::array({"x"})), in, false},
      {"not_in", cond("event.kind", "not_in", json::array({"code"})), in, true},
      {"not_in_member", cond("event.kind", "not_in", json::array({"text"})), in, false},
      {"not_in_missing_is_false", cond("event.absent", "not_in", json::array({"x"})), in, false},
      {"not_in_array_is_false", cond("event.tags", "not_in", json::array({"x"})), in, false},
      {"all_in", cond("event.sources[*].sha256", "all_in", json::array({"x", "y", "z"})), in, true},
      {"all_in_one_missing", cond("event.sources[*].sha256", "all_in", json::array({"x"})), in, false},
      {"in_with_wildcard_means_all", cond("event.tags[*]", "in", json::array({"a", "b"})), in, true},
      {"exists", cond("run.id", "exists", json(), false), in, true},
      {"exists_null_is_false", cond("event.nothing", "exists", json(), false), in, false},
      {"exists_missing", cond("run.absent", "exists", json(), false), in, false},
      {"exists_under_scalar", cond("event.kind.deeper", "exists", json(), false), in, false},
      {"index", cond("event.tags[1]", "==", "b"), in, true},
      {"index_out_of_range", cond("event.tags[2]", "exists", json(), false), in, false},
      {"index_on_object", cond("event.sources[0].files[1].n", "==", 2), in, true},
      {"nested_wildcards", cond("event.sources[*].files[*].n", "<=", 3), in, true},
      {"nested_wildcards_one_fails", cond("event.sources[*].files[*].n", "<", 3), in, false},
      {"wildcard_on_object_is_false", cond("event.sources[0][*]", "exists", json(), false), in, false},
      {"gate_path", cond("gate", "==", "release_requested"), in, true},
      {"is_sha256", cond("event.kind", "is_sha256", json(), false), in, false},
  };
}

class PolicyOperators : public testing::TestWithParam<OpCase> {};

TEST_P(PolicyOperators, Evaluate) {
  const OpCase& c = GetParam();
  const json doc = {{"strata_policy", 1},
                    {"id", "ops"},
                    {"version", "1"},
                    {"rules", {{{"id", "r"}, {"effect", "permit"}, {"gates", {"release_requested"}}, {"when", {c.condition}}}}}};
  const PolicyDecision d = Policy::parse(doc, "ops.json").evaluate("release_requested", c.input);
  EXPECT_EQ(d.allow, c.holds) << d.to_json().dump(2);
}

INSTANTIATE_TEST_SUITE_P(Policy, PolicyOperators, testing::ValuesIn(op_cases()),
                         [](const testing::TestParamInfo<OpCase>& info) { return info.param.name; });

TEST(PolicyEngine, NoRuleForGateDeniesByDefault) {
  const Policy p = Policy::parse(json::parse(R"({"strata_policy": 1, "id": "only-release", "version": "1",
    "rules": [{"id": "always", "effect": "permit", "gates": ["release_requested"]}]})"),
                                 "only-release.json");
  EXPECT_TRUE(p.governs("release_requested"));
  EXPECT_FALSE(p.governs("dataset_opened"));
  EXPECT_FALSE(p.governs("checkpoint_publish_requested"));
  const PolicyDecision deny = p.evaluate("dataset_opened", {{"gate", "dataset_opened"}});
  EXPECT_FALSE(deny.allow);
  EXPECT_TRUE(deny.matched_rules.empty());
  EXPECT_EQ(deny.reasons, (std::vector<std::string>{"no permit rule matched gate dataset_opened",
                                                    "policy only-release has no permit rule for gate dataset_opened"}));
  // An empty `when` always matches.
  const PolicyDecision allow = p.evaluate("release_requested", json::object());
  EXPECT_TRUE(allow.allow);
  EXPECT_EQ(allow.reasons, (std::vector<std::string>{"permit always: no conditions"}));
}

TEST(PolicyEngine, EmptyPolicyDeniesEverything) {
  const Policy p = Policy::parse(json::parse(R"({"strata_policy": 1, "id": "empty", "version": "1", "rules": []})"),
                                 "empty.json");
  for (const auto gate : kPolicyGates) {
    EXPECT_FALSE(p.governs(std::string(gate)));
    EXPECT_FALSE(p.evaluate(std::string(gate), json::object()).allow) << gate;
  }
}

TEST(PolicyEngine, ForbidOverridesRegardlessOfOrder) {
  for (const bool forbid_first : {true, false}) {
    json permit = {{"id", "p"}, {"effect", "permit"}, {"gates", {"release_requested"}}};
    json forbid = {{"id", "f"}, {"effect", "forbid"}, {"gates", {"release_requested"}}};
    json rules = forbid_first ? json::array({forbid, permit}) : json::array({permit, forbid});
    const Policy p = Policy::parse({{"strata_policy", 1}, {"id", "o"}, {"version", "1"}, {"rules", rules}}, "o");
    const PolicyDecision d = p.evaluate("release_requested", json::object());
    EXPECT_FALSE(d.allow);
    EXPECT_EQ(d.matched_rules, forbid_first ? (std::vector<std::string>{"f", "p"}) : (std::vector<std::string>{"p", "f"}));
  }
}

TEST(PolicyEngine, DecisionJsonHasTheLogRecordFields) {
  const PolicyDecision d = t12().evaluate("release_requested", release("0.01"));
  const json j = d.to_json();
  EXPECT_EQ(j.size(), 9u) << j.dump(2);
  EXPECT_EQ(j["gate"], "release_requested");
  EXPECT_EQ(j["result"], "allow");
  EXPECT_EQ(j["matched_rules"], json::array({"fair-release"}));
  EXPECT_EQ(j["reasons"].size(), 1u);
  EXPECT_EQ(j["policy_id"], "t12");
  EXPECT_EQ(j["policy_version"], "2026-11-25");
  EXPECT_EQ(j["policy_sha256"], t12().sha256());
  EXPECT_EQ(j["input_sha256"], d.input_sha256);
  EXPECT_EQ(j["evaluator_version"], "strata-policy/1");
  EXPECT_EQ(t12().evaluate("release_requested", release("0.2")).to_json()["result"], "deny");
  // Every reason is valid UTF-8, so the record can be logged canonically.
  EXPECT_NO_THROW((void)j.dump(-1, ' ', false, json::error_handler_t::strict));
}

TEST(PolicyEngine, DigestsKnownAnswer) {
  // Formatting and key order do not matter: the digest is over the canonical form.
  const Policy p = Policy::parse(json::parse(R"({ "version": "1", "strata_policy": 1,
                                                  "rules": [], "id": "kat" })"),
                                 "kat.json");
  const std::string canonical_policy = R"({"id":"kat","rules":[],"strata_policy":1,"version":"1"})";
  EXPECT_EQ(p.sha256(), sodium_sha256_hex(canonical_policy));
  // Computed with `printf '%s' '...' | sha256sum`.
  EXPECT_EQ(p.sha256(), "e1e8b59fc75dea03e6feb37354b736db4bda36237f8732ade9d47a35f856d5ec");

  const json input = json::parse(R"({"metrics": {"val_loss": 1.5, "fairness": {"max_auc_gap": 0.05}},
                                     "approvals": ["key-b", "key-a"], "gate": "release_requested"})");
  const std::string canonical_input =
      R"({"approvals":["key-b","key-a"],"gate":"release_requested","metrics":{"fairness":{"max_auc_gap":0.05},"val_loss":1.5}})";
  const PolicyDecision d = p.evaluate("release_requested", input);
  EXPECT_EQ(d.policy_sha256, p.sha256());
  EXPECT_EQ(d.input_sha256, sodium_sha256_hex(canonical_input));
  EXPECT_EQ(d.input_sha256, "82e6ee97da19178adf62f7d317291dc0d4b8d5a923a2b63632ea161c69a2243d");
  EXPECT_EQ(canonical_json_sha256(input), d.input_sha256);
  // Changing the policy changes its digest.
  const Policy q = Policy::parse(json::parse(R"({"strata_policy": 1, "id": "kat", "version": "2", "rules": []})"), "q");
  EXPECT_NE(q.sha256(), p.sha256());
}

TEST(PolicyEngine, InvalidUtf8InputIsDeniedNotThrown) {
  const json input = {{"gate", "release_requested"}, {"event", {{"name", std::string("\xff\xfe")}}}};
  PolicyDecision d;
  ASSERT_NO_THROW(d = t12().evaluate("release_requested", input));
  EXPECT_FALSE(d.allow);
  EXPECT_TRUE(d.input_sha256.empty());
  EXPECT_NO_THROW((void)d.to_json().dump(-1, ' ', false, json::error_handler_t::strict));
}

TEST(PolicyEngine, CopiesShareTheParsedPolicy) {
  const Policy copy = t12();
  EXPECT_EQ(copy.id(), "t12");
  EXPECT_EQ(copy.version(), "2026-11-25");
  EXPECT_EQ(copy.sha256(), t12().sha256());
  EXPECT_EQ(copy.source_name(), "t12.json");
  EXPECT_EQ(copy.rule_ids(), (std::vector<std::string>{"fair-release", "diverged", "hashed-datasets", "no-unverified-publish"}));
  EXPECT_EQ(copy.document(), json::parse(kT12Policy));
}

// ---------------------------------------------------------------------------------------
// Parser errors: each names the source and the JSON Pointer of the offending element.

struct ErrorCase {
  std::string name;
  std::string policy;
  std::string message_contains;
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

// A policy whose single rule has the given condition.
std::string with_condition(const std::string& condition) {
  return R"({"strata_policy": 1, "id": "p", "version": "1", "rules": [
    {"id": "ok", "effect": "permit", "gates": ["release_requested"]},
    {"id": "r", "effect": "permit", "gates": ["release_requested"], "when": [{"path": "metrics.x", "op": "exists"}, )" +
         condition + "]}]}";
}

std::string with_rule(const std::string& rule) {
  return R"({"strata_policy": 1, "id": "p", "version": "1", "rules": [)" + rule + "]}";
}

std::vector<ErrorCase> error_cases() {
  return {
      {"not_object", "[]", "bad.json: expected the policy to be a JSON object, got array"},
      {"missing_format", R"({"id": "p", "version": "1", "rules": []})", "bad.json: missing required key \"strata_policy\""},
      {"wrong_format", R"({"strata_policy": 2, "id": "p", "version": "1", "rules": []})",
       "bad.json: /strata_policy: unsupported policy format 2"},
      {"format_as_string", R"({"strata_policy": "1", "id": "p", "version": "1", "rules": []})",
       "bad.json: /strata_policy: expected the integer 1"},
      {"format_as_float", R"({"strata_policy": 1.0, "id": "p", "version": "1", "rules": []})", "/strata_policy: expected the integer 1"},
      {"unknown_top_key", R"({"strata_policy": 1, "id": "p", "version": "1", "rulez": [], "rules": []})",
       "bad.json: /rulez: unknown key \"rulez\" (did you mean \"rules\"?)"},
      {"missing_rules", R"({"strata_policy": 1, "id": "p", "version": "1"})", "bad.json: missing required key \"rules\""},
      {"rules_not_array", R"({"strata_policy": 1, "id": "p", "version": "1", "rules": {}})", "bad.json: /rules: expected an array"},
      {"bad_policy_id", R"({"strata_policy": 1, "id": "has space", "version": "1", "rules": []})", "bad.json: /id: invalid id"},
      {"empty_version", R"({"strata_policy": 1, "id": "p", "version": "", "rules": []})", "bad.json: /version: expected a non-empty string"},
      {"description_not_string", R"({"strata_policy": 1, "id": "p", "version": "1", "description": 5, "rules": []})",
       "bad.json: /description: expected a string"},
      {"rule_not_object", with_rule("[]"), "bad.json: /rules/0: expected a rule object"},
      {"unknown_rule_key", with_rule(R"({"id": "r", "efect": "permit", "effect": "permit", "gates": ["release_requested"]})"),
       "bad.json: /rules/0/efect: unknown key \"efect\" (did you mean \"effect\"?)"},
      {"missing_effect", with_rule(R"({"id": "r", "gates": ["release_requested"]})"),
       "bad.json: /rules/0: missing required key \"effect\""},
      {"missing_gates", with_rule(R"({"id": "r", "effect": "permit"})"), "bad.json: /rules/0: missing required key \"gates\""},
      {"bad_effect", with_rule(R"({"id": "r", "effect": "allow", "gates": ["release_requested"]})"),
       "bad.json: /rules/0/effect: unknown effect \"allow\""},
      {"effect_typo", with_rule(R"({"id": "r", "effect": "forbd", "gates": ["release_requested"]})"),
       "/rules/0/effect: unknown effect \"forbd\" (did you mean \"forbid\"?)"},
      {"unknown_gate", with_rule(R"({"id": "r", "effect": "permit", "gates": ["release_requested", "model_release"]})"),
       "bad.json: /rules/0/gates/1: unknown gate \"model_release\""},
      {"gate_typo", with_rule(R"({"id": "r", "effect": "permit", "gates": ["dataset_opend"]})"),
       "/rules/0/gates/0: unknown gate \"dataset_opend\" (did you mean \"dataset_opened\"?)"},
      {"gate_twice", with_rule(R"({"id": "r", "effect": "permit", "gates": ["dataset_opened", "dataset_opened"]})"),
       "bad.json: /rules/0/gates/1: gate \"dataset_opened\" is listed twice"},
      {"empty_gates", with_rule(R"({"id": "r", "effect": "permit", "gates": []})"), "bad.json: /rules/0/gates: expected a non-empty array"},
      {"when_not_array", with_rule(R"({"id": "r", "effect": "permit", "gates": ["dataset_opened"], "when": {}})"),
       "bad.json: /rules/0/when: expected an array of conditions"},
      {"empty_reason", with_rule(R"({"id": "r", "effect": "permit", "gates": ["dataset_opened"], "reason": ""})"),
       "bad.json: /rules/0/reason: expected a non-empty string"},
      {"duplicate_rule_id",
       with_rule(R"({"id": "r", "effect": "permit", "gates": ["dataset_opened"]},
                    {"id": "r", "effect": "forbid", "gates": ["dataset_opened"]})"),
       "bad.json: /rules/1/id: duplicate rule id \"r\" (also /rules/0/id)"},
      {"bad_rule_id", with_rule(R"({"id": "", "effect": "permit", "gates": ["dataset_opened"]})"), "bad.json: /rules/0/id: invalid id"},
      {"rule_id_not_string", with_rule(R"({"id": 3, "effect": "permit", "gates": ["dataset_opened"]})"),
       "bad.json: /rules/0/id: expected a string, got number 3"},
      {"unknown_op", with_condition(R"({"path": "metrics.x", "op": "=<", "value": 0.05})"),
       "bad.json: /rules/1/when/1/op: unknown operator \"=<\" (did you mean \"<=\"?)"},
      {"unknown_op_word", with_condition(R"({"path": "metrics.x", "op": "contains", "value": 1})"),
       "bad.json: /rules/1/when/1/op: unknown operator \"contains\""},
      {"op_not_string", with_condition(R"({"path": "metrics.x", "op": 1, "value": 1})"), "bad.json: /rules/1/when/1/op: expected a string"},
      {"unknown_condition_key", with_condition(R"({"path": "metrics.x", "op": "<=", "valeu": 1})"),
       "bad.json: /rules/1/when/1/valeu: unknown key \"valeu\" (did you mean \"value\"?)"},
      {"missing_value", with_condition(R"({"path": "metrics.x", "op": "<="})"),
       "bad.json: /rules/1/when/1: operator \"<=\" needs a \"value\""},
      {"missing_op", with_condition(R"({"path": "metrics.x", "value": 1})"), "bad.json: /rules/1/when/1: missing required key \"op\""},
      {"missing_path", with_condition(R"({"op": "<", "value": 1})"), "bad.json: /rules/1/when/1: missing required key \"path\""},
      {"value_with_exists", with_condition(R"({"path": "metrics.x", "op": "exists", "value": true})"),
       "bad.json: /rules/1/when/1/value: operator \"exists\" takes no \"value\""},
      {"ordered_with_string", with_condition(R"({"path": "metrics.x", "op": "<=", "value": "0.05"})"),
       "bad.json: /rules/1/when/1/value: operator \"<=\" compares numbers, got string \"0.05\""},
      {"in_with_scalar", with_condition(R"({"path": "event.kind", "op": "in", "value": "text"})"),
       "bad.json: /rules/1/when/1/value: operator \"in\" needs an array value, got string"},
      {"not_in_with_object", with_condition(R"({"path": "event.kind", "op": "not_in", "value": {}})"),
       "bad.json: /rules/1/when/1/value: operator \"not_in\" needs an array value, got object"},
      {"in_with_nested_array", with_condition(R"({"path": "event.kind", "op": "in", "value": ["a", ["b"]]})"),
       "bad.json: /rules/1/when/1/value/1: expected a string, number or boolean, got array"},
      {"all_in_without_wildcard", with_condition(R"({"path": "event.sha256", "op": "all_in", "value": []})"),
       "bad.json: /rules/1/when/1/path: operator \"all_in\" needs a path with [*]"},
      {"path_bad_root", with_condition(R"({"path": "metric.x", "op": "exists"})"),
       "bad.json: /rules/1/when/1/path: a path starts with one of gate, event, metrics, run, approvals, not \"metric\" (did you mean \"metrics\"?)"},
      {"path_empty", with_condition(R"({"path": "", "op": "exists"})"), "bad.json: /rules/1/when/1/path: the path is empty"},
      {"path_double_dot", with_condition(R"({"path": "metrics..x", "op": "exists"})"),
       "bad.json: /rules/1/when/1/path: invalid path \"metrics..x\": expected a key at character 9"},
      {"path_trailing_dot", with_condition(R"({"path": "metrics.", "op": "exists"})"), "/rules/1/when/1/path: invalid path"},
      {"path_unclosed_index", with_condition(R"({"path": "event.sources[0", "op": "exists"})"),
       "/rules/1/when/1/path: invalid path \"event.sources[0\": expected ']'"},
      {"path_bad_index", with_condition(R"({"path": "event.sources[x]", "op": "exists"})"),
       "/rules/1/when/1/path: invalid path \"event.sources[x]\": expected an index or *"},
      {"path_space", with_condition(R"({"path": "event. kind", "op": "exists"})"), "/rules/1/when/1/path: invalid path"},
      {"path_not_string", with_condition(R"({"path": ["event"], "op": "exists"})"), "/rules/1/when/1/path: expected a string"},
      {"condition_not_object", with_condition(R"("metrics.x <= 1")"), "bad.json: /rules/1/when/1: expected a condition object"},
      {"approvals_zero", with_condition(R"({"approvals": {"at_least": 0}})"),
       "bad.json: /rules/1/when/1/approvals/at_least: expected an integer from 1 to 1000, got 0"},
      {"approvals_fraction", with_condition(R"({"approvals": {"at_least": 1.5}})"),
       "bad.json: /rules/1/when/1/approvals/at_least: expected an integer"},
      {"approvals_negative", with_condition(R"({"approvals": {"at_least": -2}})"), "/rules/1/when/1/approvals/at_least:"},
      {"approvals_unknown_key", with_condition(R"({"approvals": {"at_least": 2, "at_most": 3}})"),
       "bad.json: /rules/1/when/1/approvals/at_most: unknown key \"at_most\""},
      {"approvals_missing_at_least", with_condition(R"({"approvals": {}})"),
       "bad.json: /rules/1/when/1/approvals: missing required key \"at_least\""},
      {"approvals_not_object", with_condition(R"({"approvals": 2})"), "bad.json: /rules/1/when/1/approvals: expected an object"},
      {"approvals_with_path", with_condition(R"({"approvals": {"at_least": 2}, "path": "metrics.x"})"),
       "bad.json: /rules/1/when/1/path: unknown key \"path\""},
      {"pointer_escapes_key", R"({"strata_policy": 1, "id": "p", "version": "1", "rules": [], "a/b~c": 1})",
       "bad.json: /a~1b~0c: unknown key \"a/b~c\""},
  };
}

class PolicyParseErrors : public testing::TestWithParam<ErrorCase> {};

TEST_P(PolicyParseErrors, NameTheSourceAndPointer) {
  const ErrorCase& c = GetParam();
  const json doc = json::parse(c.policy);
  try {
    (void)Policy::parse(doc, "bad.json");
    FAIL() << "no error for " << c.policy;
  } catch (const PolicyError& e) {
    EXPECT_NE(std::string(e.what()).find(c.message_contains), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << c.message_contains;
    EXPECT_EQ(std::string(e.what()).rfind("bad.json: ", 0), 0u) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Policy, PolicyParseErrors, testing::ValuesIn(error_cases()),
                         [](const testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

TEST(PolicyParse, InvalidUtf8IsAnError) {
  json doc = json::parse(R"({"strata_policy": 1, "id": "p", "version": "1", "rules": []})");
  doc["description"] = std::string("\xc3");
  EXPECT_THROW((void)Policy::parse(doc, "bad.json"), PolicyError);
}

// ---------------------------------------------------------------------------------------
// Files: a missing or malformed policy file is an error, never an allow.

class PolicyFiles : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("strata-policy-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  static std::string load_error(const fs::path& p) {
    try {
      (void)Policy::load(p);
    } catch (const PolicyError& e) {
      return e.what();
    }
    return "no error";
  }
  fs::path dir_;
};

TEST_F(PolicyFiles, LoadsAValidFile) {
  const Policy p = Policy::load(write("ok.json", kT12Policy));
  EXPECT_EQ(p.id(), "t12");
  EXPECT_EQ(p.sha256(), t12().sha256());
  EXPECT_EQ(p.source_name(), (dir_ / "ok.json").string());
}

TEST_F(PolicyFiles, MissingFileIsAnError) {
  const fs::path p = dir_ / "absent.json";
  const std::string e = load_error(p);
  EXPECT_EQ(e.rfind(p.string() + ": cannot read the policy file", 0), 0u) << e;
}

TEST_F(PolicyFiles, DirectoryIsAnError) {
  EXPECT_NE(load_error(dir_).find("not a regular file"), std::string::npos);
}

TEST_F(PolicyFiles, EmptyFileIsAnError) {
  EXPECT_NE(load_error(write("empty.json", "")).find("invalid JSON"), std::string::npos);
}

TEST_F(PolicyFiles, InvalidJsonNamesLineAndColumn) {
  const fs::path p = write("broken.json", "{\n  \"strata_policy\": 1,\n  \"id\": \"p\",,\n}\n");
  const std::string e = load_error(p);
  EXPECT_EQ(e.rfind(p.string() + ": invalid JSON: ", 0), 0u) << e;
  EXPECT_NE(e.find("line 3, column"), std::string::npos) << e;
  EXPECT_EQ(e.find("[json.exception"), std::string::npos) << e;
}

TEST_F(PolicyFiles, DuplicateKeyIsAnError) {
  const fs::path p = write("dup.json", R"({"strata_policy": 1, "id": "p", "version": "1", "rules": [
    {"id": "a", "effect": "permit", "gates": ["dataset_opened"]},
    {"id": "b", "effect": "forbid", "effect": "permit", "gates": ["dataset_opened"]}]})");
  EXPECT_EQ(load_error(p), p.string() + ": /rules/1/effect: duplicate key \"effect\"");
}

TEST_F(PolicyFiles, InvalidPolicyNamesTheFile) {
  const fs::path p = write("policy.json", with_condition(R"({"path": "metrics.x", "op": "=<", "value": 0.05})"));
  EXPECT_EQ(load_error(p).rfind(p.string() + ": /rules/1/when/1/op: unknown operator \"=<\" (did you mean \"<=\"?)", 0), 0u)
      << load_error(p);
}

TEST(PolicyExamples, ShippedPoliciesParseAndDecide) {
  const fs::path dir = fs::path(STRATA_SOURCE_DIR) / "configs" / "policies";
  const Policy releases = Policy::load(dir / "release-two-approvers.json");
  EXPECT_EQ(releases.id(), "release-two-approvers");
  EXPECT_TRUE(releases.governs("release_requested"));
  EXPECT_TRUE(releases.governs("checkpoint_publish_requested"));
  EXPECT_FALSE(releases.governs("dataset_opened"));
  json in = release("0.01");
  EXPECT_TRUE(releases.evaluate("release_requested", in).allow) << releases.evaluate("release_requested", in).to_json().dump(2);
  in["approvals"] = {"key-a", "key-a"};
  EXPECT_FALSE(releases.evaluate("release_requested", in).allow);

  const Policy datasets = Policy::load(dir / "datasets-allow-list.json");
  EXPECT_EQ(datasets.id(), "datasets-allow-list");
  EXPECT_TRUE(datasets.governs("dataset_opened"));
  EXPECT_TRUE(datasets.evaluate("dataset_opened", dataset(json::array({{{"sha256", kHashA}}, {{"sha256", kHashB}}}))).allow);
  const std::string other(64, 'c');
  EXPECT_FALSE(datasets.evaluate("dataset_opened", dataset(json::array({{{"sha256", kHashA}}, {{"sha256", other}}}))).allow);
  EXPECT_FALSE(datasets.evaluate("release_requested", {{"gate", "release_requested"}}).allow);

  for (const auto& entry : fs::directory_iterator(dir)) {
    SCOPED_TRACE(entry.path().string());
    EXPECT_NO_THROW((void)Policy::load(entry.path()));
  }
}

}  // namespace
}  // namespace strata::audit
