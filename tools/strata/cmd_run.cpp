// strata run CONFIG [--set /pointer=value]... [--out DIR]
#include <cstdlib>
#include <iostream>
#include <string>

#include "core/comm/world.hpp"
#include "core/config/pipeline_config.hpp"
#include "core/plugin/instance.hpp"
#include "core/run/runner.hpp"
#include "core/engine/device_module.hpp"
#include "core/engine/emulated_device_trainer.hpp"
#include "tools/strata/commands.hpp"

namespace strata::cli {

void add_run_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  struct Args {
    std::string config;
    std::vector<std::string> sets;
    std::string out;
    bool plain = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("run", "train with a pipeline config");
  cmd->add_option("config", args->config, "pipeline config (JSON)")->required();
  cmd->add_option("--set", args->sets, "override a config value: /json/pointer=value (value parsed as JSON, else a string)");
  cmd->add_option("--out", args->out, "run directory (default runs/<name>-<UTC time>)");
  cmd->add_flag("--plain", args->plain, "plain log lines instead of a progress bar");
  cmd->callback([args, &global, &exit_code] {
    // Under mpirun every line carries the rank the launcher gave this process.
    util::Logger logger = util::make_logger(global.level(), comm::detect_launch().rank);
    try {
      run::RunOptions options;
      options.config_path = args->config;
      for (const auto& s : args->sets) options.overrides.push_back(config::parse_override(s));
      if (!args->out.empty()) options.out_dir = args->out;
      options.plain_progress = args->plain;
      options.plugin_paths = global.plugin_paths;
      options.log_level_from_cli = !global.log_level.empty();
      // STRATA_EMULATE_DEVICE=1 runs the device code path on the host (tests and CI, where
      // there is no GPU): core/engine/emulated_device_trainer.hpp.
      const char* emulate = std::getenv("STRATA_EMULATE_DEVICE");
      if (emulate != nullptr && std::string(emulate) == "1")
        options.cuda_trainer = engine::make_emulated_device_trainer;
      else
        options.cuda_trainer = engine::cuda_trainer_from_module();
      exit_code = run::run_pipeline(options, logger);
    } catch (const config::ConfigError& e) {
      logger->error("invalid config: {}", e.what());
      exit_code = 2;
    } catch (const config::OverrideError& e) {
      logger->error("{}", e.what());
      exit_code = 2;
    } catch (const plugin::PluginError& e) {
      logger->error("{}", e.what());
      exit_code = 1;
    } catch (const std::exception& e) {
      logger->error("run failed: {}", e.what());
      exit_code = 1;
    }
  });
}

}  // namespace strata::cli
