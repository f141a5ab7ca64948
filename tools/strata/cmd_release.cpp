// strata release RUN_DIR: ask the run's compliance plugins to release its model checkpoint.
#include "core/config/pipeline_config.hpp"
#include "core/plugin/instance.hpp"
#include "core/run/release.hpp"
#include "tools/strata/commands.hpp"

namespace strata::cli {

void add_release_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto run_dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "release", "request the release of a finished run's model checkpoint (the release_requested gate; "
                 "exit 3 when a compliance plugin denies it)");
  cmd->add_option("run_dir", *run_dir, "run directory")->required()->check(CLI::ExistingDirectory);
  cmd->callback([run_dir, &global, &exit_code] {
    util::Logger logger = util::make_logger(global.level());
    try {
      exit_code = run::request_release({*run_dir, global.plugin_paths}, logger);
    } catch (const config::ConfigError& e) {
      logger->error("invalid config in the run directory: {}", e.what());
      exit_code = 2;
    } catch (const std::exception& e) {
      logger->error("release failed: {}", e.what());
      exit_code = 1;
    }
  });
}

}  // namespace strata::cli
