// Each example plugin computes what it claims, checked against values worked out here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "tests/support/registry_fixture.hpp"

namespace strata {
namespace {

using nlohmann::json;

// A two-rank data-parallel group simulated in one process: the "other rank" contributes a
// fixed buffer, so all-reduce(sum) = mine + theirs.
struct FakePeerComm {
  std::vector<float> peer;
  strata_comm_api api{};
  strata_comm comm{};
  FakePeerComm() {
    api.struct_size = STRATA_COMM_API_STRUCT_SIZE;
    api.rank = [](strata_comm_handle*) { return 0; };
    api.size = [](strata_comm_handle*) { return 2; };
    api.allreduce = [](strata_comm_handle* h, const strata_buffer* s, strata_buffer* r, int32_t,
                       strata_comm_request** q) -> strata_status {
      auto* self = reinterpret_cast<FakePeerComm*>(h);
      auto* out = static_cast<float*>(r->data);
      const auto* in = static_cast<const float*>(s->data);
      for (uint64_t i = 0; i < r->count; ++i) out[i] = in[i] + self->peer[i];
      if (q) *q = nullptr;
      return STRATA_OK;
    };
    api.wait = [](strata_comm_handle*, strata_comm_request*) -> strata_status { return STRATA_OK; };
    comm = {STRATA_COMM_STRUCT_SIZE, 0, &api, reinterpret_cast<strata_comm_handle*>(this)};
  }
};

strata_buffer f32(std::vector<float>& v) { return {v.data(), v.size(), STRATA_DTYPE_F32, STRATA_DEVICE_CPU, 0}; }

class ExamplePlugins : public test::RegistryFixture {};

TEST_F(ExamplePlugins, SinglePlansOneRankAndChecksTheBatch) {
  auto p = make("single", {{"micro_batches", 4}});
  strata_model_shape m{STRATA_MODEL_SHAPE_STRUCT_SIZE};
  m.layers = 6;
  m.global_batch = 32;
  strata_topology t{STRATA_TOPOLOGY_STRUCT_SIZE};
  t.world_size = 1;
  strata_parallel_plan plan{STRATA_PARALLEL_PLAN_STRUCT_SIZE};
  p->plan(m, t, plan);
  EXPECT_EQ(plan.tp * plan.pp * plan.dp, 1);
  EXPECT_EQ(plan.micro_batches, 4);
  EXPECT_EQ(plan.micro_batch, 8);
  EXPECT_EQ(plan.stage_layer_begin[1], 6);
  m.global_batch = 30;
  EXPECT_THROW(p->plan(m, t, plan), plugin::PluginError);
  m.global_batch = 32;
  t.world_size = 2;
  try {
    p->plan(m, t, plan);
    FAIL();
  } catch (const plugin::PluginError& e) {
    EXPECT_NE(std::string(e.what()).find("world size is 2"), std::string::npos) << e.what();
  }
}

TEST_F(ExamplePlugins, MeanIsTheIdentityOnOneRank) {
  auto p = make("mean");
  std::vector<float> g = {1, -2, 3};
  strata_grad_bucket b{STRATA_GRAD_BUCKET_STRUCT_SIZE, 0, 0, f32(g), 0};
  p->aggregate_wait(p->aggregate_start(env.world, b));
  EXPECT_EQ(g, (std::vector<float>{1, -2, 3}));
  EXPECT_EQ(p->preferred_bucket_bytes(), 16u << 20);
}

TEST_F(ExamplePlugins, MeanAveragesAcrossRanks) {
  auto p = make("mean", {{"bucket_mb", 0.5}});
  FakePeerComm peer;
  peer.peer = {3, 2, -1, 0.5f};
  std::vector<float> g = {1, -2, 3, 0.5f};
  strata_grad_bucket b{STRATA_GRAD_BUCKET_STRUCT_SIZE, 0, 0, f32(g), 0};
  p->aggregate_wait(p->aggregate_start(&peer.comm, b));
  EXPECT_EQ(g, (std::vector<float>{2, 0, 1, 0.5f}));
  EXPECT_EQ(p->preferred_bucket_bytes(), 512u * 1024);
}

TEST_F(ExamplePlugins, MeanRefusesIntegerGradients) {
  auto p = make("mean");
  std::vector<int32_t> g = {1};
  strata_grad_bucket b{STRATA_GRAD_BUCKET_STRUCT_SIZE, 0, 0, {g.data(), 1, STRATA_DTYPE_I32, STRATA_DEVICE_CPU, 0}, 0};
  EXPECT_THROW(p->aggregate_start(env.world, b), plugin::PluginError);
}

TEST_F(ExamplePlugins, NoneKeepsEverythingAndReportsTheBytes) {
  auto p = make("none");
  strata_layer_profile a{STRATA_LAYER_PROFILE_STRUCT_SIZE, 0, "a", 100, 0, 0, 0};
  strata_layer_profile b{STRATA_LAYER_PROFILE_STRUCT_SIZE, 1, "b", 250, 0, 0, 0};
  std::vector<int32_t> decisions(2, -1);
  strata_memory_plan plan{STRATA_MEMORY_PLAN_STRUCT_SIZE, 2, decisions.data()};
  p->plan_memory({&a, &b}, 200, plan);
  EXPECT_EQ(decisions, (std::vector<int32_t>{STRATA_MEMORY_KEEP, STRATA_MEMORY_KEEP}));
  EXPECT_EQ(plan.planned_activation_bytes, 350u);
  EXPECT_NE(std::string(plan.rationale).find("over the budget"), std::string::npos);
  ASSERT_EQ(metrics["none.activation_bytes"].size(), 1u);
  EXPECT_EQ(metrics["none.activation_bytes"][0].first, 350);
}

TEST_F(ExamplePlugins, GroupStatsCountsAndAveragesPerGroup) {
  auto p = make("group-stats", {{"min_count", 3}});
  const char* attrs[] = {"gender", "religion"};
  const char* groups[] = {"f", "m", nullptr, "x", "y", nullptr};
  std::vector<double> scores = {1, 2, 3, 4, 10};
  // gender: f f m m ?; religion: x y x ? y
  std::vector<int32_t> ids = {0, 0, 0, 1, 1, 0, 1, -1, -1, 1};
  strata_fairness_batch batch{STRATA_FAIRNESS_BATCH_STRUCT_SIZE};
  batch.count = 5;
  batch.attribute_count = 2;
  batch.attribute_names = attrs;
  batch.group_names = groups;
  batch.scores = {scores.data(), 5, STRATA_DTYPE_F64, STRATA_DEVICE_CPU, 0};
  batch.groups = {ids.data(), 10, STRATA_DTYPE_I32, STRATA_DEVICE_CPU, 0};
  p->fairness_evaluate(batch);
  p->fairness_finish(7);
  EXPECT_EQ(metrics["group-stats.gender.f.mean_score"][0].first, 1.5);
  EXPECT_EQ(metrics["group-stats.gender.m.mean_score"][0].first, 3.5);
  EXPECT_EQ(metrics["group-stats.religion.y.mean_score"][0].first, 6.0);
  EXPECT_EQ(metrics["group-stats.religion.x.count"][0].first, 2);
  std::ifstream in(run_dir.path() / "artifacts" / "group-stats" / "group_stats_step7.json");
  const json report = json::parse(in);
  EXPECT_EQ(report["attributes"]["religion"]["x"]["mean_score"], 2.0);
  EXPECT_EQ(report["attributes"]["religion"]["x"]["too_small"], true);
  EXPECT_DOUBLE_EQ(report["attributes"]["religion"]["y"]["std_score"].get<double>(), 4.0);
}

TEST_F(ExamplePlugins, AttentionDumpWritesAValidNpyFile) {
  auto p = make("attention-dump");
  const int64_t L = 1, B = 1, H = 2, T = 3;
  std::vector<float> att(L * B * H * T * T);
  for (size_t i = 0; i < att.size(); ++i) att[i] = static_cast<float>(i) / 10.0f;
  std::vector<int32_t> tokens = {5, 6, 7};
  strata_explain_input in{STRATA_EXPLAIN_INPUT_STRUCT_SIZE};
  in.step = 3;
  in.batch = B;
  in.seq = T;
  in.layers = L;
  in.heads = H;
  in.attention = f32(att);
  in.tokens = {tokens.data(), 3, STRATA_DTYPE_I32, STRATA_DEVICE_CPU, 0};
  p->explain(in);
  std::ifstream f(run_dir.path() / "artifacts" / "attention-dump" / "attention_step3_0.npy", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), {});
  ASSERT_GT(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 6), "\x93NUMPY");
  const size_t header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u) << "NumPy aligns the data to 64 bytes";
  EXPECT_NE(bytes.find("'shape': (1, 1, 2, 3, 3)"), std::string::npos);
  ASSERT_EQ(bytes.size(), 10 + header_len + att.size() * 4);
  EXPECT_EQ(std::memcmp(bytes.data() + 10 + header_len, att.data(), att.size() * 4), 0);
  std::ifstream side(run_dir.path() / "artifacts" / "attention-dump" / "attention_step3_0.json");
  EXPECT_EQ(json::parse(side)["tokens"], json({5, 6, 7}));
  in.attention.count = 5;  // wrong size is refused, not read past the end
  EXPECT_THROW(p->explain(in), plugin::PluginError);
}

TEST_F(ExamplePlugins, JsonlKeepsItsLogInsideTheRunDirectory) {
  EXPECT_THROW(make("jsonl", {{"file", "/etc/passwd"}}), plugin::PluginError);
  EXPECT_THROW(make("jsonl", {{"file", "../outside.jsonl"}}), plugin::PluginError);
  EXPECT_NO_THROW(make("jsonl", {{"file", "audit.jsonl"}}));
}

TEST_F(ExamplePlugins, NestedPluginStateAndParametersWorkThroughTheHost) {
  auto p = make("wrap-count", {{"inner", {{"plugin", "mean"}, {"options", {{"bucket_mb", 1}}}}}});
  FakePeerComm peer;
  peer.peer = {2, 2};
  std::vector<float> g = {0, 4};
  strata_grad_bucket b{STRATA_GRAD_BUCKET_STRUCT_SIZE, 0, 0, f32(g), 0};
  p->aggregate_wait(p->aggregate_start(&peer.comm, b));
  p->aggregate_wait(p->aggregate_start(&peer.comm, b));
  EXPECT_EQ(g, (std::vector<float>{1.5f, 2.5f})) << "the inner mean averaged twice: (0+2)/2=1 then (1+2)/2";
  const auto state = p->save_state();
  EXPECT_EQ(state.at("buckets"), "2");
  auto fresh = make("wrap-count");
  fresh->load_state(state);
  EXPECT_EQ(fresh->save_state().at("buckets"), "2");
  const auto params = p->parameters();
  ASSERT_EQ(params.size(), 1u);
  EXPECT_STREQ(params[0]->name, "scale");
  EXPECT_EQ(*static_cast<float*>(params[0]->value.data), 1.0f);
}

}  // namespace
}  // namespace strata
