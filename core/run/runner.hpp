// `strata run`: resolves the config, loads the plugins, publishes the lifecycle events,
// trains, evaluates, explains, checkpoints, and honours every compliance gate.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config/overrides.hpp"
#include "core/engine/device_trainer.hpp"
#include "core/util/log.hpp"

namespace strata::run {

struct RunOptions {
  std::filesystem::path config_path;
  std::vector<config::Override> overrides;
  std::optional<std::filesystem::path> out_dir;  // default: runs/<name>-<UTC time>
  bool plain_progress = false;
  std::vector<std::filesystem::path> plugin_paths;  // searched after the defaults and the config's
  bool log_level_from_cli = false;                  // then the config's log_level does not override it
  // How to build a trainer for `model.device = "cuda"` (the CLI: from the CUDA module);
  // empty: the run refuses that device.
  engine::DeviceTrainerFactory cuda_trainer;
};

// Exit codes (the CLI adds 2 for an invalid config or arguments): 0 done; 1 failure
// (plugin, data, I/O); 3 a gate was denied;
// 130/143 ended cleanly by SIGINT/SIGTERM.
inline constexpr int kExitDenied = 3;
int run_pipeline(const RunOptions& options, util::Logger logger);

}  // namespace strata::run
