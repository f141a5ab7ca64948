// The strata binary end to end: what a user types, what they see, what lands on disk.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "strata/abi/version.h"
#include "tests/support/paths.hpp"
#include "tests/support/shell.hpp"

namespace strata {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

using Result = test::ShellResult;

Result run(const std::string& args) { return test::run_shell(test::strata_binary() + " " + args); }

bool has(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

std::vector<json> read_lines(const fs::path& p) {
  std::vector<json> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  return out;
}

std::string quickstart() { return (test::source_dir() / "configs" / "quickstart.json").string(); }
// The quickstart's pipeline, shrunk to seconds: less text, a tiny model, fewer steps.
std::string small() {
  return " --set /data/max_bytes=200000 --set /model/context=32 --set /model/layers=1 --set /model/heads=2"
         " --set /model/width=32 --set /train/seq_len=32 --set /train/batch_size=4 --set /train/eval_batches=2"
         " --set /sample/tokens=16 --set /evaluation/max_examples=40";
}
std::string short_run(const fs::path& out) {
  return "run " + quickstart() + " --plain --out " + out.string() + small() +
         " --set /train/steps=20 --set /train/log_every=5 --set /train/eval_every=10 --set /events/step_every=5";
}

TEST(Cli, VersionNamesTheAbi) {
  const auto r = run("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(has(r.output, "plugin ABI " + std::to_string(STRATA_ABI_MAJOR) + "." + std::to_string(STRATA_ABI_MINOR)))
      << r.output;
}

TEST(Cli, PluginsListJsonCoversAllSixKinds) {
  const std::string cmd = test::strata_binary() + " plugins list --json 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  ASSERT_EQ(pclose(pipe), 0);
  const json list = json::parse(out);
  ASSERT_TRUE(list.is_array());
  std::set<std::string> kinds;
  for (const auto& p : list) {
    for (const char* key : {"name", "kind", "version", "abi", "path"}) EXPECT_TRUE(p.contains(key)) << key;
    kinds.insert(p["kind"].get<std::string>());
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"parallelism", "aggregation", "memory", "fairness", "explainability",
                                          "compliance"}));
}

TEST(Cli, PluginsInspectShowsTheOptionsSchemaAndDefaults) {
  const auto r = run("plugins inspect mean");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "\"bucket_mb\"")) << r.output;
  EXPECT_TRUE(has(r.output, "\"defaults\"")) << r.output;
  const auto missing = run("plugins inspect meen");
  EXPECT_EQ(missing.code, 1);
  EXPECT_TRUE(has(missing.output, "did you mean 'mean'?")) << missing.output;
}

TEST(Cli, BrokenPluginsAreRefusedWithReasonsAndTheHostCarriesOn) {
  const auto r = run("--plugin-path " + test::broken_dir().string() + " plugins list");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "abi_major_99.so: ABI mismatch: the plugin was built for Strata plugin ABI 99.0, this host "
                            "provides ABI " + std::to_string(STRATA_ABI_MAJOR) + "." + std::to_string(STRATA_ABI_MINOR)))
      << r.output;
  EXPECT_TRUE(has(r.output, "no_entry_symbol.so: not a Strata plugin")) << r.output;
  EXPECT_TRUE(has(r.output, "duplicate plugin name 'mean'")) << r.output;
  EXPECT_TRUE(has(r.output, "single")) << "the good plugins are still listed";
}

TEST(Cli, ConfigCheckPassesEveryShippedConfig) {
  std::string files;
  for (const auto& e : fs::directory_iterator(test::source_dir() / "configs"))
    if (e.path().extension() == ".json") files += " " + e.path().string();
  const auto r = run("config check" + files);
  EXPECT_EQ(r.code, 0) << r.output;
}

TEST(Cli, WrongOptionTypeExitsNonZeroNamingThePointer) {
  const auto r = run("config check " + quickstart() + " --set /tiers/aggregation/options/bucket_mb=x");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.output, "/tiers/aggregation/options/bucket_mb: expected a number > 0, got \"x\"")) << r.output;
  test::TempDir dir;
  const auto run_result = run("run " + quickstart() + small() + " --out " + (dir.path() / "r").string() +
                              " --set /tiers/aggregation/options/bucket_mb=x");
  EXPECT_EQ(run_result.code, 2) << run_result.output;
  EXPECT_FALSE(fs::exists(dir.path() / "r")) << "an invalid config creates no run directory";
}

TEST(Cli, MalformedJsonNamesLineAndColumn) {
  test::TempDir dir;
  const auto path = dir.path() / "broken.json";
  std::ofstream(path) << "{\n  \"schema_version\": 1,\n  \"tiers\": }\n";
  const auto r = run("config check " + path.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.output, "broken.json:3:")) << r.output;
}

TEST(Cli, RunWritesMetricsSummaryEventsCheckpointAndArtifacts) {
  test::TempDir dir;
  const fs::path out = dir.path() / "run";
  const auto r = run(short_run(out));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto metrics = read_lines(out / "metrics.jsonl");
  int loss_lines = 0;
  for (const auto& m : metrics)
    if (m.contains("loss")) {
      ++loss_lines;
      for (const char* key : {"step", "loss", "lr", "tokens_per_s"}) EXPECT_TRUE(m.contains(key)) << key;
    }
  EXPECT_EQ(loss_lines, 4);
  const json summary = read_json(out / "summary.json");
  EXPECT_EQ(summary["status"], "completed");
  EXPECT_EQ(summary["steps"], 20);
  for (const char* key : {"final_loss", "val_loss", "val_bits_per_byte", "tokens_per_s", "peak_rss_bytes"})
    EXPECT_TRUE(summary.contains(key)) << key;
  const double vocab = summary["data"]["tokenizer"]["vocab_size"].get<double>();
  EXPECT_LT(summary["final_loss"].get<double>(), 0.97 * std::log(vocab)) << "the model learned something";
  EXPECT_EQ(read_json(out / "config.resolved.json")["train"]["steps"], 20) << "overrides land in the resolved config";
  EXPECT_TRUE(fs::exists(out / "checkpoints" / "step_20" / "manifest.json"));
  EXPECT_TRUE(fs::exists(out / "artifacts" / "group-stats" / "group_stats_step20.json"));
  EXPECT_TRUE(fs::exists(out / "artifacts" / "attention-dump" / "attention_step20_0.npy"));
  std::vector<std::string> names;
  for (const auto& e : read_lines(out / "events.jsonl")) names.push_back(e["event"]);
  for (const char* expected : {"run_start", "config_resolved", "plugin_loaded", "dataset_opened", "step_end",
                               "eval_done", "checkpoint_saved", "checkpoint_publish_requested", "run_end"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  EXPECT_EQ(names.front(), "run_start");
  EXPECT_EQ(names.back(), "run_end");
}

TEST(Cli, DeniedDatasetStopsTheRunBeforeAnyDataIsRead) {
  test::TempDir dir;
  const fs::path out = dir.path() / "run";
  const auto r = run(short_run(out) + " --set '/tiers/compliance/0/options/deny=[\"dataset_opened\"]'" +
                     " --set '/tiers/compliance/0/options/reason=dataset not approved'");
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_TRUE(has(r.output, "dataset_opened was denied")) << r.output;
  EXPECT_TRUE(has(r.output, "dataset not approved")) << r.output;
  EXPECT_EQ(read_json(out / "summary.json")["status"], "denied");
  EXPECT_FALSE(fs::exists(out / "checkpoints"));
  const auto events = read_lines(out / "events.jsonl");
  EXPECT_EQ(events.back()["event"], "run_end");
}

// model.device = "cuda": where a GPU is present the run trains on it (summary names the
// device); elsewhere it fails at once with a message that says why, never with a crash.
TEST(Cli, TheCudaDeviceTrainsOrSaysWhyItCannot) {
  test::TempDir dir;
  const fs::path out = dir.path() / "run";
  const auto r = run(short_run(out) + " --set /model/device=cuda");
  if (r.code == 0) {
    EXPECT_EQ(read_json(out / "summary.json")["device"].get<std::string>().rfind("cuda:", 0), 0u) << r.output;
    EXPECT_TRUE(std::isfinite(read_json(out / "summary.json")["val_loss"].get<double>())) << r.output;
  } else {
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_TRUE(has(r.output, "this machine has no usable CUDA device") || has(r.output, "built without CUDA"))
        << r.output;
    EXPECT_EQ(read_json(out / "summary.json")["status"], "failed");
  }
  const auto fp64 = run(short_run(dir.path() / "fp64") + " --set /model/device=cuda --set /model/dtype=fp64");
  EXPECT_EQ(fp64.code, 2) << fp64.output;
  EXPECT_TRUE(has(fp64.output, "fp64 runs on \"cpu\" only")) << fp64.output;
}

TEST(Cli, DeniedPublicationIsSkippedAndTheRunCompletes) {
  test::TempDir dir;
  const fs::path out = dir.path() / "run";
  const auto r = run(short_run(out) + " --set '/tiers/compliance/0/options/deny=[\"checkpoint_publish_requested\"]'");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "checkpoint publication denied")) << r.output;
  EXPECT_FALSE(fs::exists(out / "published.json"));
  EXPECT_TRUE(fs::exists(out / "checkpoints" / "step_20"));
}

TEST(Cli, DeniedReleaseIsRefusedWithTheReason) {
  test::TempDir dir;
  const fs::path out = dir.path() / "run";
  const auto r = run(short_run(out) + " --set /release/request=true" +
                     " --set '/tiers/compliance/0/options/deny=[\"release_requested\"]'");
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_TRUE(has(r.output, "release refused: jsonl:")) << r.output;
  EXPECT_FALSE(fs::exists(out / "release.json"));
  const auto allowed = run(short_run(dir.path() / "ok") + " --set /release/request=true");
  EXPECT_EQ(allowed.code, 0) << allowed.output;
  EXPECT_TRUE(fs::exists(dir.path() / "ok" / "release.json"));
}

std::map<int64_t, std::string> losses_by_step(const fs::path& run_dir) {
  std::map<int64_t, std::string> out;
  for (const auto& m : read_lines(run_dir / "metrics.jsonl"))
    if (m.contains("loss")) out[m["step"].get<int64_t>()] = m["loss"].dump();  // 9 significant digits
  return out;
}

TEST(Cli, ResumingFromACheckpointContinuesBitForBit) {
  test::TempDir dir;
  const std::string every = " --set /train/log_every=1 --set /train/eval_every=0 --set /sample/tokens=0";
  ASSERT_EQ(run(short_run(dir.path() / "straight") + every).code, 0);
  // The schedule spans 20 steps in both halves, as in the straight run; the first half stops at 10.
  ASSERT_EQ(run(short_run(dir.path() / "half") + every + " --set /checkpoint/every=10").code, 0);
  const fs::path checkpoint = dir.path() / "half" / "checkpoints" / "step_10";
  ASSERT_TRUE(fs::exists(checkpoint / "manifest.json"));
  const auto r = run(short_run(dir.path() / "resumed") + every + " --set /train/resume=" + checkpoint.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const auto straight = losses_by_step(dir.path() / "straight");
  const auto resumed = losses_by_step(dir.path() / "resumed");
  ASSERT_EQ(resumed.size(), 10u);
  for (const auto& [step, loss] : resumed) EXPECT_EQ(loss, straight.at(step)) << "step " << step;
}

TEST(Cli, ACorruptedCheckpointIsRefusedOnResume) {
  test::TempDir dir;
  ASSERT_EQ(run(short_run(dir.path() / "a") + " --set /sample/tokens=0").code, 0);
  const fs::path checkpoint = dir.path() / "a" / "checkpoints" / "step_20";
  {
    std::fstream f(checkpoint / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x7f');
  }
  const auto r = run(short_run(dir.path() / "b") + " --set /train/resume=" + checkpoint.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.output, "model.safetensors: SHA-256 does not match the manifest")) << r.output;
}

TEST(Cli, SampleDataPrepareAndTokenizerTrainWork) {
  test::TempDir dir;
  ASSERT_EQ(run(short_run(dir.path() / "run") + " --set /data/tokenizer=bpe:300").code, 0);
  const fs::path checkpoint = dir.path() / "run" / "checkpoints" / "step_20";
  EXPECT_TRUE(fs::exists(checkpoint / "tokenizer" / "merges.txt")) << "a learned tokenizer travels with the checkpoint";
  const auto s = run("sample " + checkpoint.string() + " --prompt 'Once upon' --tokens 12 --seed 3");
  EXPECT_EQ(s.code, 0) << s.output;
  EXPECT_TRUE(has(s.output, "Once upon")) << s.output;
  EXPECT_EQ(s.output, run("sample " + checkpoint.string() + " --prompt 'Once upon' --tokens 12 --seed 3").output)
      << "a fixed seed gives the same sample";

  const fs::path text = dir.path() / "corpus.txt";
  {
    std::ofstream out(text);
    for (int i = 0; i < 200; ++i) out << "paragraph " << i << " about the quick brown fox and the lazy dog.\n\n";
  }
  const auto t = run("tokenizer train " + text.string() + " --vocab-size 300 --out " + (dir.path() / "tok").string());
  ASSERT_EQ(t.code, 0) << t.output;
  const auto p = run("data prepare " + text.string() + " --tokenizer " + (dir.path() / "tok").string() + " --out " +
                     (dir.path() / "prep").string() + " --val-fraction 0.1");
  ASSERT_EQ(p.code, 0) << p.output;
  EXPECT_TRUE(fs::exists(dir.path() / "prep.train.tok"));
  const auto r = run(short_run(dir.path() / "prepared") + " --set /data/prepared=" + (dir.path() / "prep").string() +
                     " --set /data/tokenizer=" + (dir.path() / "tok").string() + " --set /sample/tokens=0");
  EXPECT_EQ(r.code, 0) << r.output;
  const auto mismatch = run(short_run(dir.path() / "mismatch") + " --set /data/prepared=" + (dir.path() / "prep").string() +
                            " --set /data/tokenizer=byte");
  EXPECT_EQ(mismatch.code, 1);
  EXPECT_TRUE(has(mismatch.output, "was made with a 300-token tokenizer, but /data/tokenizer (byte) has 256 tokens"))
      << mismatch.output;
  const auto bad = run("sample " + (dir.path() / "nope").string());
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(has(bad.output, "not a checkpoint")) << bad.output;
}

TEST(Cli, SigtermEndsTheRunCleanlyWithACheckpoint) {
  test::TempDir dir;
  const fs::path out = dir.path() / "run";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string command = test::strata_binary() + " --log-level warn " + short_run(out) +
                                " --set /train/steps=10000000 --set /train/log_every=1";
    execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait until training has started, then ask it to stop.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream m(out / "metrics.jsonl");
    std::string text((std::istreambuf_iterator<char>(m)), {});
    if (has(text, "\"loss\"")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by a signal instead of ending cleanly";
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM);
  const json summary = read_json(out / "summary.json");
  EXPECT_EQ(summary["status"], "cancelled");
  EXPECT_TRUE(fs::exists(out / "checkpoints" / ("step_" + std::to_string(summary["steps"].get<int64_t>()))));
  const auto events = read_lines(out / "events.jsonl");
  EXPECT_EQ(events.back()["event"], "run_end");
  EXPECT_EQ(events.back()["payload"]["status"], "cancelled");
}

// The governance tier end to end, as a user drives it: keys, a policy that wants two
// approvers, a refused release, approvals, a granted release, then verification of the
// trail against the pinned key and the witness, and a tampered byte caught.
TEST(Cli, AuditTrailPolicyApprovalsReleaseAndVerify) {
  test::TempDir dir;
  const fs::path d = dir.path();
  for (const char* who : {"trail", "alice", "bob"}) {
    const auto k = run(std::string("keys generate --name ") + who + " --out " + (d / who).string());
    ASSERT_EQ(k.code, 0) << k.output;
  }
  EXPECT_EQ(run("keys generate --name alice --out " + (d / "alice").string()).code, 1) << "never overwrites a key";
  {
    std::ofstream ring(d / "approvers.keyring");
    ring << "# release approvers\n" << std::ifstream(d / "alice.pub").rdbuf() << std::ifstream(d / "bob.pub").rdbuf();
  }
  // The shipped quickstart policy, with a quality bar a 20-step run can pass.
  json doc = read_json(test::source_dir() / "configs" / "policies" / "quickstart-release.json");
  doc["rules"][1]["when"][0]["value"] = 100.0;
  const std::string policy = (d / "policy.json").string();
  std::ofstream(policy) << doc.dump(2);
  const fs::path out = d / "run";
  const std::string audit = "'/tiers/compliance=[{\"plugin\":\"audit\",\"options\":{\"signing_key\":\"" +
                            (d / "trail.key").string() + "\",\"witness\":\"" + (d / "witness").string() +
                            "\",\"policy\":\"" + policy + "\",\"approvers\":\"" + (d / "approvers.keyring").string() +
                            "\"}}]'";
  const auto r = run(short_run(out) + " --set /release/request=true --set " + audit);
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_TRUE(has(r.output, "release refused: audit: policy")) << r.output;
  EXPECT_FALSE(fs::exists(out / "release.json"));

  ASSERT_EQ(run("approve " + out.string() + " --key " + (d / "alice.key").string()).code, 0);
  EXPECT_EQ(run("release " + out.string()).code, 3) << "one approver is not two";
  ASSERT_EQ(run("approve " + out.string() + " --key " + (d / "bob.key").string()).code, 0);
  const auto released = run("release " + out.string());
  EXPECT_EQ(released.code, 0) << released.output;
  EXPECT_TRUE(fs::exists(out / "release.json"));

  const std::string verify = "audit verify " + out.string() + " --keyring " + (d / "trail.pub").string() +
                             " --witness " + (d / "witness").string();
  const auto ok = run(verify);
  EXPECT_EQ(ok.code, 0) << ok.output;
  EXPECT_TRUE(has(ok.output, "OK: ")) << ok.output;

  const auto shown = run("audit show " + out.string() + " --json");
  ASSERT_EQ(shown.code, 0) << shown.output;
  const json records = json::parse(shown.output.substr(shown.output.find('[')));
  int decisions = 0, allowed = 0;
  for (const auto& rec : records) {
    EXPECT_TRUE(rec.contains("leaf_base64"));
    if (rec["record"].value("kind", "") == "decision" && rec["record"]["gate"] == "release_requested") {
      ++decisions;
      allowed += rec["record"]["result"] == "allow";
      EXPECT_EQ(rec["record"]["policy_sha256"].get<std::string>().size(), 64u);
    }
  }
  EXPECT_EQ(decisions, 3) << "at the end of the run, then two `strata release`";
  EXPECT_EQ(allowed, 1);

  const auto proof = run("audit prove " + out.string() + " --index 3 --from 2");
  ASSERT_EQ(proof.code, 0) << proof.output;
  const json p = json::parse(proof.output.substr(proof.output.find('{')));
  EXPECT_EQ(p["index"], 3);
  EXPECT_FALSE(p["inclusion_path"].empty());
  EXPECT_TRUE(p.contains("consistency"));

  ASSERT_EQ(run("audit card " + out.string()).code, 0);
  std::ifstream card(out / "MODEL_CARD.md");
  const std::string card_text((std::istreambuf_iterator<char>(card)), {});
  EXPECT_TRUE(has(card_text, "## Quantitative Analyses")) << card_text;
  EXPECT_TRUE(has(card_text, "**verified**")) << card_text;
  const auto prov = run("audit lineage " + out.string() + " --format prov --out " + (d / "prov.json").string());
  ASSERT_EQ(prov.code, 0) << prov.output;
  EXPECT_TRUE(read_json(d / "prov.json").contains("wasGeneratedBy"));

  // One flipped byte in the middle of the log.
  fs::path segment;
  for (const auto& e : fs::directory_iterator(out / "audit" / "segments")) segment = e.path();
  std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(fs::file_size(segment) / 2));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(fs::file_size(segment) / 2));
  f.put(static_cast<char>(c ^ 0x20));
  f.close();
  const auto bad = run(verify);
  EXPECT_EQ(bad.code, 1) << bad.output;
  EXPECT_TRUE(has(bad.output, "FAIL ")) << bad.output;
  EXPECT_TRUE(has(bad.output, "segment-000000.log")) << bad.output;
}

// summary.json is not protected: a release asked for after the run is decided on the
// metrics and checkpoint the audit trail recorded, so editing the summary gains nothing.
TEST(Cli, AReleaseIsDecidedOnTheTrailNotOnAnEditedSummary) {
  test::TempDir dir;
  const fs::path d = dir.path();
  for (const char* who : {"alice", "bob"})
    ASSERT_EQ(run(std::string("keys generate --name ") + who + " --out " + (d / who).string()).code, 0);
  {
    std::ofstream ring(d / "approvers.keyring");
    ring << std::ifstream(d / "alice.pub").rdbuf() << std::ifstream(d / "bob.pub").rdbuf();
  }
  json doc = read_json(test::source_dir() / "configs" / "policies" / "quickstart-release.json");
  doc["rules"][1]["when"][0]["value"] = 0.5;  // a 20-step run does not get there
  std::ofstream(d / "policy.json") << doc.dump(2);
  const fs::path out = d / "run";
  const std::string audit = "'/tiers/compliance=[{\"plugin\":\"audit\",\"options\":{\"policy\":\"" +
                            (d / "policy.json").string() + "\",\"approvers\":\"" + (d / "approvers.keyring").string() +
                            "\"}}]'";
  ASSERT_EQ(run(short_run(out) + " --set " + audit).code, 0);
  for (const char* who : {"alice", "bob"})
    ASSERT_EQ(run("approve " + out.string() + " --key " + (d / who).string() + ".key").code, 0);
  EXPECT_EQ(run("release " + out.string()).code, 3) << "the run's bits per byte are above the bar";
  json summary = read_json(out / "summary.json");
  summary["metrics"]["val_bits_per_byte"] = 0.1;
  summary["val_bits_per_byte"] = 0.1;
  std::ofstream(out / "summary.json") << summary.dump(2);
  const auto r = run("release " + out.string());
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_FALSE(fs::exists(out / "release.json"));
  const auto shown = run("audit show " + out.string() + " --json");
  const json records = json::parse(shown.output.substr(shown.output.find('[')));
  EXPECT_EQ(records.back()["record"]["metrics_from"], "audit trail (run_end)") << records.back().dump(2);
}

TEST(Cli, ADatasetOffTheAllowListStopsTheRunBeforeReadingIt) {
  test::TempDir dir;
  const fs::path out = dir.path() / "run";
  const std::string policy = (test::source_dir() / "configs" / "policies" / "datasets-allow-list.json").string();
  const auto r = run(short_run(out) + " --set '/tiers/compliance=[{\"plugin\":\"audit\",\"options\":{\"policy\":\"" +
                     policy + "\"}}]'");
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_TRUE(has(r.output, "dataset_opened was denied")) << r.output;
  EXPECT_FALSE(fs::exists(out / "checkpoints"));
  const auto v = run("audit verify " + out.string());
  EXPECT_EQ(v.code, 0) << v.output;
  EXPECT_TRUE(has(v.output, "no pinned keyring")) << "a generated key is not a pinned one: " << v.output;
}

}  // namespace
}  // namespace strata
