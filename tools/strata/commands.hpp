// The `strata` command line: one file per command group, wired together in main.cpp.
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "core/util/log.hpp"

namespace strata::cli {

// Options every command shares.
struct GlobalOptions {
  std::string log_level;  // empty when not given: then the config's, else info
  std::string level() const { return log_level.empty() ? "info" : log_level; }
  std::vector<std::filesystem::path> plugin_paths;
};

// Each registers its subcommand; the callback stores the exit code in `exit_code`.
void add_run_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void add_plugins_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void add_config_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void add_sample_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void add_data_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void add_tokenizer_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void add_bench_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void add_bench_comm_command(CLI::App& bench, const GlobalOptions& global, int& exit_code);
void add_release_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void add_audit_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void add_approve_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void add_keys_command(CLI::App& app, const GlobalOptions& global, int& exit_code);

}  // namespace strata::cli
