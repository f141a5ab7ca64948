#include "core/run/release.hpp"

#include <fstream>

#include "core/checkpoint/checkpoint_dir.hpp"
#include "core/comm/self_comm.hpp"
#include "core/config/pipeline_config.hpp"
#include "core/events/event_bus.hpp"
#include "core/plugin/host_environment.hpp"
#include "core/plugin/registry.hpp"
#include "core/run/plugin_set.hpp"
#include "core/run/runner.hpp"
#include "core/util/atomic_file.hpp"
#include "core/util/sha256.hpp"

namespace strata::run {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_run_file(const fs::path& run_dir, const char* name) {
  const fs::path path = run_dir / name;
  if (!fs::is_regular_file(path))
    throw std::runtime_error(run_dir.string() + " is not a finished Strata run: " + name + " is missing");
  return config::load_json_file(path);
}

}  // namespace

int request_release(const ReleaseOptions& options, util::Logger logger) {
  const fs::path& dir = options.run_dir;
  const json summary = read_run_file(dir, "summary.json");
  json document = read_run_file(dir, "config.resolved.json");
  const std::string status = summary.value("status", "");
  if (status != "completed" && status != "denied")
    throw std::runtime_error((dir / "summary.json").string() + ": the run's status is \"" + status +
                             "\"; only a completed run (or one whose release was denied) can be released");
  // The run recorded its checkpoint relative to where it was started; the run directory
  // itself may since have been reached by another path.
  std::string checkpoint = summary.value("checkpoint", "");
  if (!checkpoint.empty() && !fs::exists(checkpoint))
    checkpoint = (dir / "checkpoints" / fs::path(checkpoint).filename()).string();
  const std::string expected = summary.value("checkpoint_sha256", "");
  if (checkpoint.empty() || expected.empty())
    throw std::runtime_error((dir / "summary.json").string() + ": names no checkpoint to release");
  // Every tensor file against the manifest, then the manifest against the run's record. A
  // compliance plugin with a trail (audit) also checks the request against what it recorded.
  checkpoint::read_checkpoint(checkpoint);
  const std::string actual = util::sha256_file_hex(fs::path(checkpoint) / "manifest.json");
  if (actual != expected)
    throw std::runtime_error(checkpoint + "/manifest.json: SHA-256 " + actual + " differs from the " + expected +
                             " recorded in " + (dir / "summary.json").string() + " (the checkpoint was replaced)");

  plugin::PluginRegistry registry(logger);
  auto extra = config::config_plugin_paths(document, dir / "config.resolved.json");
  extra.insert(extra.end(), options.plugin_paths.begin(), options.plugin_paths.end());
  registry.discover(plugin::default_search_paths(extra));
  const auto resolved = config::resolve_config(document, {}, registry, (dir / "config.resolved.json").string());

  plugin::HostEnvironment env(logger, comm::self_communicator());
  env.run_dir = dir.string();
  const std::string run_id = summary.value("run_id", "");
  events::EventBus bus(run_id, 0, logger);
  PluginSet plugins(resolved, registry, env, STRATA_TIER_COMPLIANCE);
  if (plugins.of_tier(STRATA_TIER_COMPLIANCE).empty())
    logger->warn("the run has no compliance plugin: nothing can deny the release");
  for (const auto* p : plugins.all()) bus.subscribe(*p);

  const int64_t steps = summary.value("steps", int64_t{-1});
  const auto outcome = bus.gate(STRATA_EVENT_RELEASE_REQUESTED, steps,
                                {{"checkpoint", checkpoint},
                                 {"manifest_sha256", actual},
                                 {"val_loss", summary.value("val_loss", json())},
                                 {"val_bits_per_byte", summary.value("val_bits_per_byte", json())},
                                 {"metrics", summary.value("metrics", json::object())},
                                 {"requested_by", "strata release"}});
  int code = 0;
  if (outcome.allowed) {
    util::write_file_atomically(dir / "release.json",
                                json({{"checkpoint", checkpoint}, {"manifest_sha256", actual}}).dump(2) + "\n");
    logger->info("release approved: {}", (dir / "release.json").string());
  } else {
    logger->error("release refused: {}", outcome.reason);
    code = kExitDenied;
  }
  bus.flush();
  return code;
}

}  // namespace strata::run
