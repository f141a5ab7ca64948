#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build, and run the quickstart.
# Extra arguments go to `strata run` (e.g. --set /train/steps=100).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default --target strata strata_plugins
exec build/bin/strata run configs/quickstart.json "$@"
