// Tensor- and pipeline-parallel shards of GptModel against the whole model, in one process:
// tensor-parallel ranks are threads that sum through shared memory (ThreadGroup below),
// pipeline stages run one after the other and hand their activations over by pointer.
// Every layout must give the whole model's loss and, element for element, its gradients
// (fp64, so only the reordered sums differ). The multi-process versions of these layouts
// run under mpirun in tests/tools/distributed_test.cpp.
#include <gtest/gtest.h>

#include <barrier>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "core/engine/gpt/gpt_model.hpp"
#include "core/engine/gpt/parameter_layout.hpp"

namespace strata::engine {
namespace {

// Vocabulary 51 does not split evenly over two ranks (25 + 26 rows).
constexpr GptConfig kConfig{.vocab_size = 51, .context = 8, .layers = 4, .heads = 4, .width = 16};
constexpr int64_t kB = 2, kS = 7;

// Sums over `size` threads: each publishes its buffer, all add them up in rank order, then
// each takes the result. Same result on every rank, in a fixed order.
class ThreadGroup final : public TensorParallelGroup {
 public:
  struct Shared {
    explicit Shared(int size) : size(size), sync(size), pointers(static_cast<size_t>(size)) {}
    int size;
    std::barrier<> sync;
    std::vector<void*> pointers;
  };
  ThreadGroup(Shared& shared, int rank) : shared_(shared), rank_(rank) {}
  void sum(float* data, int64_t n) override { reduce(data, n, false); }
  void sum(double* data, int64_t n) override { reduce(data, n, false); }
  void max(double* data, int64_t n) override { reduce(data, n, true); }

 private:
  template <class T>
  void reduce(T* data, int64_t n, bool take_max) {
    shared_.pointers[static_cast<size_t>(rank_)] = data;
    shared_.sync.arrive_and_wait();
    std::vector<T> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      T acc = static_cast<T*>(shared_.pointers[0])[i];
      for (int r = 1; r < shared_.size; ++r) {
        const T v = static_cast<T*>(shared_.pointers[static_cast<size_t>(r)])[i];
        acc = take_max ? std::max(acc, v) : acc + v;
      }
      out[static_cast<size_t>(i)] = acc;
    }
    shared_.sync.arrive_and_wait();  // everyone has read every buffer
    std::copy(out.begin(), out.end(), data);
  }
  Shared& shared_;
  int rank_;
};

struct Batch {
  std::vector<int32_t> tokens, targets;
};

Batch make_batch(uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(kConfig.vocab_size - 1));
  Batch b;
  for (int64_t i = 0; i < kB * kS; ++i) {
    b.tokens.push_back(tok(gen));
    b.targets.push_back(tok(gen));
  }
  b.targets[3] = -1;
  return b;
}

// The gradient of every (tp rank, stage) shard, and the loss of the last stage.
struct ShardResult {
  double loss = NAN;
  std::map<std::pair<int, int>, std::unique_ptr<GptModel<double>>> models;
};

// Runs `micro` micro-batches (halves of the batch when 2) through tp x pp shards.
ShardResult run_sharded(int tp, int pp, const Batch& batch, int micro) {
  ShardResult result;
  ThreadGroup::Shared shared(tp);
  std::vector<ThreadGroup> groups;
  for (int r = 0; r < tp; ++r) groups.emplace_back(shared, r);
  const int64_t per_stage = kConfig.layers / pp;
  for (int r = 0; r < tp; ++r)
    for (int s = 0; s < pp; ++s) {
      const ModelShard shard{r, tp, s * per_stage, (s + 1) * per_stage};
      auto m = std::make_unique<GptModel<double>>(kConfig, kB, kS, shard, micro, &groups[static_cast<size_t>(r)]);
      m->init_parameters(42);
      m->zero_grads();
      result.models[{r, s}] = std::move(m);
    }
  std::vector<double> losses(static_cast<size_t>(tp), 0.0);
  std::vector<std::thread> threads;
  for (int r = 0; r < tp; ++r)
    threads.emplace_back([&, r] {
      const int64_t rows = kB / micro, n = rows * kS;
      for (int mb = 0; mb < micro; ++mb) {  // all forwards (GPipe order), then all backwards
        const double* input = nullptr;
        for (int s = 0; s < pp; ++s) {
          auto& m = *result.models[{r, s}];
          const double l = m.forward_stage(batch.tokens.data() + mb * n, batch.targets.data() + mb * n, input, rows,
                                           kS, mb);
          if (s == pp - 1) losses[static_cast<size_t>(r)] += l / micro;
          input = m.stage_output(mb);
        }
      }
      for (int mb = micro - 1; mb >= 0; --mb) {
        std::vector<double> grad;
        for (int s = pp - 1; s >= 0; --s) {
          auto& m = *result.models[{r, s}];
          m.backward_stage(1.0 / micro, grad.empty() ? nullptr : grad.data(), mb);
          if (s > 0) grad.assign(m.input_grad(), m.input_grad() + rows * kS * kConfig.width);
        }
      }
    });
  for (auto& t : threads) t.join();
  for (int r = 1; r < tp; ++r) EXPECT_EQ(losses[0], losses[static_cast<size_t>(r)]) << "tp ranks disagree on the loss";
  result.loss = losses[0];
  return result;
}

void expect_matches_whole(int tp, int pp, int micro) {
  SCOPED_TRACE("tp=" + std::to_string(tp) + " pp=" + std::to_string(pp) + " micro=" + std::to_string(micro));
  const Batch batch = make_batch(5);
  GptModel<double> whole(kConfig, kB, kS);
  whole.init_parameters(42);
  whole.zero_grads();
  // The same micro-batches (an ignored target makes a micro-batch mean differ from the
  // batch mean).
  double loss = 0;
  const int64_t rows = kB / micro;
  for (int mb = 0; mb < micro; ++mb) {
    loss += whole.forward(batch.tokens.data() + mb * rows * kS, batch.targets.data() + mb * rows * kS, rows, kS) / micro;
    whole.backward(1.0 / micro);
  }
  const ParameterLayout& full = whole.layout();

  const ShardResult sharded = run_sharded(tp, pp, batch, micro);
  EXPECT_NEAR(sharded.loss, loss, 1e-12 * std::abs(loss));
  std::vector<double> wte_grad(static_cast<size_t>(kConfig.vocab_size * kConfig.width), 0.0);
  int64_t primary_elements = 0;
  for (const auto& [where, model] : sharded.models) {
    const ParameterLayout& local = model->layout();
    for (const ParameterTensor& t : local.tensors()) {
      const ParameterTensor& f = full.at(t.name);
      if (t.primary) primary_elements += t.count;
      for (const IndexRun& run : local.index_runs(t))
        for (int64_t i = 0; i < run.count; ++i) {
          const double p = model->params()[t.offset + run.local + i], g = model->grads()[t.offset + run.local + i];
          ASSERT_EQ(p, whole.params()[f.offset + run.full + i]) << t.name << " initialised differently";
          if (t.name == "wte") {
            wte_grad[static_cast<size_t>(run.full + i)] += g;  // the two copies' gradients add up
            continue;
          }
          const double want = whole.grads()[f.offset + run.full + i];
          ASSERT_NEAR(g, want, 1e-10 * std::abs(want) + 1e-13) << t.name << " element " << run.full + i
                                                              << " on tp rank " << where.first << ", stage "
                                                              << where.second;
        }
    }
  }
  EXPECT_EQ(primary_elements, whole.parameter_count()) << "every parameter is primary on exactly one rank";
  const ParameterTensor& wte = full.at("wte");
  for (int64_t i = 0; i < wte.count; ++i) {
    const double want = whole.grads()[wte.offset + i];
    ASSERT_NEAR(wte_grad[static_cast<size_t>(i)], want, 1e-10 * std::abs(want) + 1e-13) << "wte element " << i;
  }
}

TEST(ModelShardTest, TensorParallelMatchesTheWholeModel) { expect_matches_whole(2, 1, 1); }
TEST(ModelShardTest, FourWayTensorParallelMatchesTheWholeModel) { expect_matches_whole(4, 1, 1); }
TEST(ModelShardTest, PipelineStagesMatchTheWholeModel) { expect_matches_whole(1, 2, 1); }
TEST(ModelShardTest, PipelineWithTwoMicroBatchesInFlight) { expect_matches_whole(1, 4, 2); }
TEST(ModelShardTest, TensorTimesPipelineMatchesTheWholeModel) { expect_matches_whole(2, 2, 2); }

TEST(ModelShardTest, LayoutRecordsTheCuts) {
  const ParameterLayout l(kConfig, ModelShard{1, 2, 2, 4});
  EXPECT_FALSE(l.has_embedding());
  EXPECT_TRUE(l.has_head());
  EXPECT_EQ(l.local_layers(), 2);
  const ParameterTensor& qkv = l.at("h.2.attn.c_attn.weight");
  EXPECT_EQ(qkv.shape, (std::vector<int64_t>{24, 16}));
  EXPECT_EQ(qkv.full_shape, (std::vector<int64_t>{48, 16}));
  const auto runs = l.index_runs(qkv);
  ASSERT_EQ(runs.size(), 3u);  // rank 1's q, k and v rows
  EXPECT_EQ(runs[1].full, (16 + 8) * 16);
  EXPECT_EQ(runs[1].local, 8 * 16);
  const ParameterTensor& wte = l.at("wte");
  EXPECT_FALSE(wte.primary);  // the head's copy
  EXPECT_EQ(wte.shape[0], 26);
  EXPECT_FALSE(l.at("ln_f.weight").primary);  // replicated, rank 0's counts
  EXPECT_EQ(l.find("wpe"), nullptr);
  EXPECT_THROW(ParameterLayout(kConfig, ModelShard{0, 3, 0, 4}), std::invalid_argument);  // 4 heads
  EXPECT_THROW(ParameterLayout(kConfig, ModelShard{0, 1, 3, 3}), std::invalid_argument);
}

TEST(ModelShardTest, ShardsRefuseWhatNeedsTheWholeModel) {
  ThreadGroup::Shared shared(1);
  ThreadGroup group(shared, 0);
  GptModel<double> stage(kConfig, kB, kS, ModelShard{0, 1, 0, 2});
  EXPECT_THROW(stage.set_attention_capture(true), std::logic_error);
  const Batch b = make_batch(1);
  EXPECT_THROW(stage.forward_stage(nullptr, nullptr, nullptr, kB, kS, 0), std::invalid_argument);
  GptModel<double> later(kConfig, kB, kS, ModelShard{0, 1, 2, 4});
  EXPECT_THROW(later.forward_stage(b.tokens.data(), b.targets.data(), nullptr, kB, kS, 0), std::invalid_argument);
  EXPECT_THROW(GptModel<double>(kConfig, kB, kS, ModelShard{0, 2, 0, 4}), std::invalid_argument);  // no group
}

}  // namespace
}  // namespace strata::engine
