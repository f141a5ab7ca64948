// `strata release RUN_DIR`: asks the run's compliance plugins whether the model checkpoint
// of a finished run may be released, through the release_requested gate, after the run.
// That is where approvals collected since the run (see `strata approve`) are taken into
// account. Only the compliance plugins are created; the model is not loaded, but the
// checkpoint is verified against its manifest first: an altered checkpoint is never
// offered to the gate.
#pragma once

#include <filesystem>
#include <vector>

#include "core/util/log.hpp"

namespace strata::run {

struct ReleaseOptions {
  std::filesystem::path run_dir;
  std::vector<std::filesystem::path> plugin_paths;  // searched after the defaults and the run's config's
};

// Returns 0 when released (RUN_DIR/release.json written), kExitDenied (3) when a compliance
// plugin denied it. Throws std::runtime_error naming the file when RUN_DIR is not a finished
// run or its checkpoint does not verify, plugin::PluginError when a plugin fails.
int request_release(const ReleaseOptions& options, util::Logger logger);

}  // namespace strata::run
