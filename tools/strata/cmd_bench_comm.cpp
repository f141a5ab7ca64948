// strata bench comm [--aggregator NAME] [--options JSON] [--min-kib K] [--max-mib M] [--json]
// Under mpirun: gradient all-reduce through an aggregation plugin, the way a training step
// hands it the flat gradient buffer in buckets, against raw MPI_Allreduce of the same bytes
// measured in the same run. Prints time and bus bandwidth (2(n-1)/n x bytes / time, the
// NCCL-tests convention) per message size, and their ratio.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/comm/world.hpp"
#include "core/config/pipeline_config.hpp"
#include "core/plugin/host_environment.hpp"
#include "core/plugin/instance.hpp"
#include "core/plugin/registry.hpp"
#include "core/run/gradient_buckets.hpp"
#include "tools/strata/commands.hpp"

namespace strata::cli {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Enough repetitions for ~0.2 s per size, at least 3.
int iterations_for(uint64_t bytes) {
  return static_cast<int>(std::clamp<uint64_t>((200ull << 20) / std::max<uint64_t>(bytes, 1), 3, 2000));
}

double aggregator_seconds(const plugin::PluginInstance& agg, const comm::World& world, std::vector<float>& grads,
                          int iterations) {
  const uint64_t total = grads.size();
  const uint64_t preferred = agg.preferred_bucket_bytes();
  const uint64_t bucket = std::max<uint64_t>(1, (preferred > 0 ? preferred : 16u << 20) / sizeof(float));
  world.comm()->api->barrier(world.comm()->handle);
  const auto t0 = Clock::now();
  for (int it = 0; it < iterations; ++it) run::aggregate_in_buckets(agg, world.comm(), grads.data(), total, bucket, it);
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  strata_buffer e{&elapsed, 1, STRATA_DTYPE_F64, STRATA_DEVICE_CPU, 0};
  world.comm()->api->allreduce(world.comm()->handle, &e, &e, STRATA_REDUCE_MAX, nullptr);
  return elapsed;
}

}  // namespace

void add_bench_comm_command(CLI::App& bench, const GlobalOptions& global, int& exit_code) {
  struct Args {
    std::string aggregator = "allreduce", options = "{}";
    double min_kib = 4, max_mib = 64;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = bench.add_subcommand("comm", "gradient all-reduce through an aggregation plugin against raw "
                                               "MPI_Allreduce, per message size (run under mpirun)");
  cmd->add_option("--aggregator", a->aggregator, "aggregation plugin")->capture_default_str();
  cmd->add_option("--options", a->options, "its options, as JSON")->capture_default_str();
  cmd->add_option("--min-kib", a->min_kib, "smallest message, KiB")->capture_default_str()->check(CLI::Range(0.004, 1048576.0));
  cmd->add_option("--max-mib", a->max_mib, "largest message, MiB")->capture_default_str();
  cmd->add_flag("--json", a->json, "one JSON object per size on stdout");
  cmd->callback([a, &global, &exit_code] {
    const auto launch = comm::detect_launch();
    util::Logger logger = util::make_logger(global.level(), launch.rank);
    try {
      const comm::World world(launch);
      if (world.size() < 2)
        throw std::runtime_error("run it under an MPI launcher with 2 or more ranks, e.g. mpirun -np 2 strata bench comm");
      plugin::PluginRegistry registry(logger);
      registry.discover(plugin::default_search_paths(global.plugin_paths));
      const plugin::PluginInfo* info = registry.find(a->aggregator);
      if (info == nullptr || info->tier != STRATA_TIER_AGGREGATION)
        throw std::runtime_error("no aggregation plugin named '" + a->aggregator + "'");
      std::vector<std::string> issues;
      const json options = config::resolve_plugin_options(*info, json::parse(a->options), "/options", registry, issues);
      if (!issues.empty()) throw std::runtime_error(issues.front());
      plugin::HostEnvironment env(logger, world.comm());
      plugin::PluginInstance agg(*info, options, env);
      const bool lead = world.rank() == 0;
      const double bus_factor = 2.0 * (world.size() - 1) / world.size();
      if (lead && !a->json)
        std::printf("%d ranks; bus bandwidth = 2(n-1)/n x bytes / time%s\n%12s %12s %12s %12s %12s %8s\n", world.size(),
                    agg.sums_prescaled_gradients() ? "; the aggregator sums gradients the host pre-divided" : "",
                    "bytes", "mpi us", "mpi GB/s", (a->aggregator + " us").c_str(), (a->aggregator + " GB/s").c_str(),
                    "ratio");
      for (uint64_t bytes = static_cast<uint64_t>(a->min_kib * 1024); bytes <= static_cast<uint64_t>(a->max_mib * 1048576);
           bytes *= 4) {
        std::vector<float> data(bytes / sizeof(float), 1.0f);  // touched once, reused by both
        const int iters = iterations_for(bytes);
        world.time_raw_allreduce(data.data(), data.size(), 1);  // warm-up
        const double raw = world.time_raw_allreduce(data.data(), data.size(), iters) / iters;
        aggregator_seconds(agg, world, data, 1);
        const double ours = aggregator_seconds(agg, world, data, iters) / iters;
        const double raw_bw = bus_factor * static_cast<double>(bytes) / raw / 1e9;
        const double our_bw = bus_factor * static_cast<double>(bytes) / ours / 1e9;
        if (!lead) continue;
        if (a->json)
          std::cout << json({{"bytes", bytes}, {"ranks", world.size()}, {"iterations", iters},
                             {"mpi_us", raw * 1e6}, {"mpi_busbw_gbs", raw_bw}, {"aggregator", a->aggregator},
                             {"aggregator_us", ours * 1e6}, {"prescaled", agg.sums_prescaled_gradients()}, {"aggregator_busbw_gbs", our_bw},
                             {"ratio", our_bw / raw_bw}})
                           .dump()
                    << std::endl;
        else
          std::printf("%12llu %12.1f %12.2f %12.1f %12.2f %8.2f\n", static_cast<unsigned long long>(bytes), raw * 1e6,
                      raw_bw, ours * 1e6, our_bw, our_bw / raw_bw);
      }
      exit_code = 0;
    } catch (const std::exception& e) {
      logger->error("bench comm: {}", e.what());
      exit_code = 1;
    }
  });
}

}  // namespace strata::cli
