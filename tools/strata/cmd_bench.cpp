// strata bench train --shape a|b|c [--json] [--steps N] [--warmup N]
//                    [--tp N --pp N --dp N --micro-batches N (under mpirun -np tp*pp*dp)]
// Times whole training steps (forward, backward, AdamW) of the GPT shapes that
// ../shared/bench/run_pytorch_baseline.sh runs in PyTorch, on random tokens; with a layout,
// through the same tensor-parallel shards and 1F1B pipeline schedule as `strata run`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/comm/world.hpp"
#include "core/engine/gpt/counter_rng.hpp"
#include "core/engine/gpt/gpt_model.hpp"
#include "core/engine/gpt/optimizer.hpp"
#include "core/run/model_parallel.hpp"
#include "tools/strata/commands.hpp"
#include "core/util/peak_rss.hpp"

namespace strata::cli {
namespace {

struct Shape {
  engine::GptConfig config;
  int64_t batch, seq, steps, warmup;
};

// The same shapes, steps and warm-up as the PyTorch peer script.
Shape shape_named(const std::string& name) {
  if (name == "a") return {{256, 128, 4, 4, 128}, 16, 128, 30, 5};
  if (name == "b") return {{8192, 256, 6, 8, 384}, 8, 256, 12, 3};
  return {{50257, 1024, 12, 12, 768}, 1, 256, 6, 2};  // c: GPT-2 124M at sequence 256
}

// Averages the flat gradient over the data-parallel group in 16 MiB buckets (the
// allreduce aggregator's default), blocking.
void average_gradients(const strata_comm* c, float* grads, int64_t total) {
  const int64_t bucket = (16 << 20) / static_cast<int64_t>(sizeof(float));
  const int size = c->api->size(c->handle);
  for (int64_t off = 0; off < total; off += bucket) {
    strata_buffer b{grads + off, static_cast<uint64_t>(std::min(bucket, total - off)), STRATA_DTYPE_F32,
                    STRATA_DEVICE_CPU, 0};
    if (c->api->allreduce(c->handle, &b, &b, STRATA_REDUCE_SUM, nullptr) != STRATA_OK)
      throw std::runtime_error("gradient all-reduce failed");
  }
  const float f = 1.0f / static_cast<float>(size);
  for (int64_t i = 0; i < total; ++i) grads[i] *= f;
}

}  // namespace

void add_bench_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  struct Args {
    std::string shape = "a";
    bool json = false;
    int64_t steps = 0, warmup = -1;
    int dp = 1, tp = 1, pp = 1, micro_batches = 1;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("bench", "benchmarks");
  cmd->require_subcommand(1);
  add_bench_comm_command(*cmd, global, exit_code);
  CLI::App* train = cmd->add_subcommand("train", "training throughput of a GPT shape on this machine");
  train->add_option("--shape", args->shape, "a: 256/128/4L/4H/128 batch 16; b: 8192/256/6L/8H/384 batch 8; "
                                            "c: GPT-2 124M at sequence 256, batch 1")
      ->check(CLI::IsMember({"a", "b", "c"}))->capture_default_str();
  train->add_flag("--json", args->json, "one JSON object on stdout");
  train->add_option("--steps", args->steps, "timed steps (default: as the PyTorch peer)");
  train->add_option("--warmup", args->warmup, "untimed steps first (default: as the PyTorch peer)");
  train->add_option("--dp", args->dp, "data-parallel ranks (run under mpirun -np DP): each takes batch/DP rows, "
                                      "gradients are all-reduced in 16 MiB buckets; reports per-rank and aggregate tokens/s")
      ->check(CLI::PositiveNumber);
  train->add_option("--tp", args->tp, "tensor-parallel ranks (Megatron column/row-parallel blocks, vocabulary-parallel "
                                      "head; divides the heads)")
      ->check(CLI::PositiveNumber);
  train->add_option("--pp", args->pp, "pipeline stages (1F1B; divides the layers)")->check(CLI::PositiveNumber);
  train->add_option("--micro-batches", args->micro_batches, "micro-batches per step on each data-parallel rank")
      ->check(CLI::PositiveNumber);
  train->callback([args, &global, &exit_code] {
    const auto launch = comm::detect_launch();
    util::Logger logger = util::make_logger(global.level(), launch.rank);
    try {
      Shape s = shape_named(args->shape);
      if (args->steps > 0) s.steps = args->steps;
      if (args->warmup >= 0) s.warmup = args->warmup;
      const comm::World world(launch);
      const int ranks = args->tp * args->pp * args->dp;
      if (world.size() != ranks)
        throw std::runtime_error("--tp " + std::to_string(args->tp) + " --pp " + std::to_string(args->pp) + " --dp " +
                                 std::to_string(args->dp) + " needs exactly " + std::to_string(ranks) +
                                 " ranks (mpirun -np " + std::to_string(ranks) + "); this world has " +
                                 std::to_string(world.size()));
      const int64_t per_step = static_cast<int64_t>(args->dp) * args->micro_batches;
      if (s.batch % per_step != 0)
        throw std::runtime_error("the shape's batch of " + std::to_string(s.batch) +
                                 " is not divisible by --dp x --micro-batches = " + std::to_string(per_step));
      if (s.config.heads % args->tp != 0 || s.config.layers % args->pp != 0)
        throw std::runtime_error("--tp must divide the shape's " + std::to_string(s.config.heads) +
                                 " heads and --pp its " + std::to_string(s.config.layers) + " layers");
      const int64_t global_batch = s.batch;
      const int64_t rows = s.batch / per_step;  // one micro-batch
      std::vector<int32_t> stage_begin;
      for (int st = 0; st <= args->pp; ++st) stage_begin.push_back(static_cast<int32_t>(s.config.layers / args->pp * st));
      const auto at = run::ParallelCoordinates::of(args->tp, args->pp, args->dp, stage_begin.data(), s.config.layers,
                                                   world.rank());
      std::unique_ptr<run::ParallelGroups> groups;
      std::unique_ptr<run::CommTensorGroup> tp_group;
      if (world.size() > 1) groups = std::make_unique<run::ParallelGroups>(world.comm(), at);
      if (args->tp > 1) tp_group = std::make_unique<run::CommTensorGroup>(groups->tp());
      const int slots = static_cast<int>(std::min<int64_t>(args->pp - at.pp_rank, args->micro_batches));
      engine::GptModel<float> model(s.config, rows, s.seq, at.shard(), args->pp > 1 ? slots : 1, tp_group.get());
      model.init_parameters(1337);
      engine::AdamW<float> optimizer(model.layout(), 0.9, 0.95, 1e-8, 0.1);
      std::unique_ptr<run::PipelineSchedule<float>> pipeline;
      if (args->pp > 1) pipeline = std::make_unique<run::PipelineSchedule<float>>(model, groups->pp(), at, rows, s.seq);
      std::vector<int32_t> tokens(static_cast<size_t>(global_batch * (s.seq + 1)));
      const uint64_t key = engine::stream_key(7, engine::stream_id("bench-tokens"));
      for (size_t i = 0; i < tokens.size(); ++i)
        tokens[i] = static_cast<int32_t>(engine::counter_uniform(key, i) * static_cast<double>(s.config.vocab_size)) %
                    static_cast<int32_t>(s.config.vocab_size);
      std::vector<int32_t> in, tg;
      const int64_t replica_rows = s.batch / args->dp;
      for (int64_t b = 0; b < replica_rows; ++b) {  // this replica's rows of the global batch
        const auto row = tokens.begin() + (at.dp_rank * replica_rows + b) * (s.seq + 1);
        in.insert(in.end(), row, row + s.seq);
        tg.insert(tg.end(), row + 1, row + s.seq + 1);
      }
      std::vector<double> times;
      double loss = 0;
      const double scale = 1.0 / args->micro_batches;
      for (int64_t i = 0; i < s.warmup + s.steps; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        model.zero_grads();
        if (pipeline) {
          int64_t next = 0;
          loss = pipeline->train(args->micro_batches, scale, [&](int32_t* tok, int32_t* tgt) {
            std::copy_n(in.data() + next * rows * s.seq, rows * s.seq, tok);
            std::copy_n(tg.data() + next * rows * s.seq, rows * s.seq, tgt);
            ++next;
          }) * scale;
          if (groups->embedding() != nullptr) {
            const auto& wte = model.layout().at("wte");
            run::allreduce_in_place(groups->embedding(), model.grads() + wte.offset, wte.count, STRATA_REDUCE_SUM,
                                    "tied embedding");
          }
        } else {
          loss = 0;
          for (int m = 0; m < args->micro_batches; ++m) {
            loss += model.forward(in.data() + m * rows * s.seq, tg.data() + m * rows * s.seq, rows, s.seq) * scale;
            model.backward(scale);
          }
        }
        if (args->dp > 1) average_gradients(groups->dp(), model.grads(), model.layout().total_count());
        optimizer.step(model.params(), model.grads(), 3e-4);
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (i >= s.warmup) times.push_back(dt);
        if (!args->json) logger->debug("step {} {:.4f}s loss {:.4f}", i, dt, loss);
      }
      std::sort(times.begin(), times.end());
      const double rank_step_s = times[times.size() / 2];
      // Each rank works on its replica's share of the batch.
      const double rank_tokens_per_s = static_cast<double>(replica_rows * s.seq) / rank_step_s;
      // Aggregate: the global batch per step of the slowest rank.
      std::vector<double> per_rank(static_cast<size_t>(world.size()), rank_tokens_per_s);
      double step_s = rank_step_s;
      if (world.size() > 1) {
        const strata_comm* c = world.comm();
        strata_buffer mine{&per_rank[0], 1, STRATA_DTYPE_F64, STRATA_DEVICE_CPU, 0};
        std::vector<double> all(per_rank.size());
        strata_buffer gathered{all.data(), all.size(), STRATA_DTYPE_F64, STRATA_DEVICE_CPU, 0};
        strata_buffer slowest{&step_s, 1, STRATA_DTYPE_F64, STRATA_DEVICE_CPU, 0};
        if (c->api->allgather(c->handle, &mine, &gathered, nullptr) != STRATA_OK ||
            c->api->allreduce(c->handle, &slowest, &slowest, STRATA_REDUCE_MAX, nullptr) != STRATA_OK)
          throw std::runtime_error("gathering the per-rank timings failed");
        per_rank = all;
        // The loss lives on the last stage: replica 0's tensor-parallel rank 0 reports it.
        double mine_loss = at.last_stage() && at.tp_rank == 0 && at.dp_rank == 0 ? loss : 0.0;
        strata_buffer l{&mine_loss, 1, STRATA_DTYPE_F64, STRATA_DEVICE_CPU, 0};
        if (c->api->allreduce(c->handle, &l, &l, STRATA_REDUCE_SUM, nullptr) != STRATA_OK)
          throw std::runtime_error("gathering the loss failed");
        loss = mine_loss;
      }
      if (world.rank() != 0) {
        exit_code = 0;
        return;
      }
      const double tokens_per_s = static_cast<double>(global_batch * s.seq) / step_s;
      const auto& c = s.config;
      const int64_t parameters = engine::ParameterLayout(s.config).parameter_count();
      const double n = static_cast<double>(parameters);
      const double flops_per_token = 6.0 * n + 12.0 * static_cast<double>(c.layers * s.seq * c.width);
      const double gflops = tokens_per_s * flops_per_token / 1e9;
      nlohmann::json out = {{"shape", args->shape}, {"tokens_per_s", tokens_per_s}, {"step_s", step_s},
                            {"peak_rss_bytes", util::peak_rss_bytes()}, {"gflops", gflops}, {"parameters", parameters},
                            {"batch", global_batch}, {"seq", s.seq}, {"dp", args->dp}, {"tp", args->tp},
                            {"pp", args->pp}, {"micro_batches", args->micro_batches},
                            {"per_rank_tokens_per_s", per_rank}, {"steps_timed", s.steps}, {"warmup", s.warmup},
                            {"final_loss", loss}};
      if (args->json) {
        std::cout << out.dump() << "\n";
      } else {
        std::printf("shape %s: %.0f tokens/s, step %.4f s, %.1f GFLOP/s, peak RSS %.0f MB (%lld parameters)\n",
                    args->shape.c_str(), tokens_per_s, step_s, gflops, static_cast<double>(util::peak_rss_bytes()) / 1e6,
                    static_cast<long long>(parameters));
        if (world.size() > 1) {
          std::printf("  tp=%d pp=%d dp=%d, %d micro-batch(es); aggregate over the slowest rank's step; per rank:",
                      args->tp, args->pp, args->dp, args->micro_batches);
          for (double t : per_rank) std::printf(" %.0f", t);
          std::printf(" tokens/s\n");
        }
      }
      exit_code = 0;
    } catch (const std::exception& e) {
      logger->error("bench train --shape {} failed: {}", args->shape, e.what());
      exit_code = 1;
    }
  });
}

}  // namespace strata::cli
