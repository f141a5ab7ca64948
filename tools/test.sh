#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing, build, run every test.
# Extra arguments go to ctest, e.g. `tools/test.sh -L unit` or `tools/test.sh -R Loader`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default
exec ctest --preset default "$@"
