// strata: the command-line entry point.
#include <iostream>

#include "strata/version.hpp"
#include "strata/abi/version.h"
#include "tools/strata/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Strata: train language models with swappable parallelism, aggregation, memory, fairness, "
               "explainability and compliance plugins"};
  app.require_subcommand(1);
  app.set_version_flag("--version",
                       std::string("strata ") + STRATA_VERSION_STRING + " (plugin ABI " +
                           std::to_string(STRATA_ABI_MAJOR) + "." + std::to_string(STRATA_ABI_MINOR) + ")");
  strata::cli::GlobalOptions global;
  app.add_option("--log-level", global.log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.add_option("--plugin-path", global.plugin_paths, "extra folder to search for plugins (repeatable)");
  int exit_code = 0;
  strata::cli::add_run_command(app, global, exit_code);
  strata::cli::add_plugins_command(app, global, exit_code);
  strata::cli::add_config_command(app, global, exit_code);
  strata::cli::add_sample_command(app, global, exit_code);
  strata::cli::add_data_command(app, global, exit_code);
  strata::cli::add_tokenizer_command(app, global, exit_code);
  strata::cli::add_bench_command(app, global, exit_code);
  strata::cli::add_release_command(app, global, exit_code);
  strata::cli::add_approve_command(app, global, exit_code);
  strata::cli::add_audit_command(app, global, exit_code);
  strata::cli::add_keys_command(app, global, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;  // --help/--version print and succeed; any usage error is 2
  }
  return exit_code;
}
