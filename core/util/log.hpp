// The host's logger: spdlog with the rank in every line. Created once per process by the
// CLI and passed explicitly (no global registry lookups in library code).
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>

namespace strata::util {

using Logger = std::shared_ptr<spdlog::logger>;

// level: trace, debug, info, warn, error. Logs go to stderr so stdout stays for data
// (`plugins list --json`).
Logger make_logger(const std::string& level, int rank = 0);
// Adds a file sink (the run's log) to an existing logger.
void add_file_sink(const Logger& logger, const std::string& path);
// A logger that drops everything, for tests and tools that report through return values.
Logger null_logger();

}  // namespace strata::util
