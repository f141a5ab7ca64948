#!/usr/bin/env bash
# Out-of-tree plugin build against an INSTALLED Strata, the way a third party does it:
#
#   1. cmake --install BUILD_DIR into a fresh prefix (host, in-tree plugins, SDK package);
#   2. configure + build examples/third-party-plugin with find_package(Strata CONFIG);
#   3. the plugin library exports exactly one dynamic symbol, strata_plugin_negotiate;
#   4. the installed host finds its own plugins in <prefix>/lib/strata/plugins and the
#      new one through --plugin-path, and runs the example pipeline with it;
#   5. `cmake --install` of the plugin project puts it where STRATA_PLUGIN_INSTALL_DIR says.
#
# Usage: out_of_tree_test.sh SOURCE_DIR BUILD_DIR
#   SOURCE_DIR  the Strata source tree (for examples/third-party-plugin)
#   BUILD_DIR   an already built Strata build tree
# Set STRATA_TEST_KEEP_TMP=1 to keep the temporary folder for a look after a failure.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 SOURCE_DIR BUILD_DIR" >&2
  exit 2
fi
source_dir=$(cd "$1" && pwd)
build_dir=$(cd "$2" && pwd)
example="$source_dir/examples/third-party-plugin"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/strata-oot.XXXXXX")
tmp=$(cd "$tmp" && pwd -P)  # the host reports plugin paths from /proc/self/exe: compare resolved paths
cleanup() {
  if [[ "${STRATA_TEST_KEEP_TMP:-0}" == 1 ]]; then
    echo "note: kept $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT

# Only the prefix and --plugin-path may contribute plugins.
unset STRATA_PLUGIN_PATH

step() { echo "==> $*"; }
pass() { echo "    ok: $*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
# run LOG CMD...: runs CMD with its output in LOG; on failure shows the log's tail and fails.
run() {
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    echo "---- $(basename "$log") (last 40 lines) ----" >&2
    tail -n 40 "$log" >&2
    fail "command failed: $*"
  fi
}
# capture OUT CMD...: like run, but stdout alone goes to OUT (for JSON) and stderr to OUT.err.
capture() {
  local out=$1
  shift
  if ! "$@" >"$out" 2>"$out.err"; then
    cat "$out.err" >&2
    fail "command failed: $*"
  fi
}

[[ -d "$example" ]] || fail "no example project at $example"
[[ -x "$build_dir/bin/strata" ]] || fail "$build_dir/bin/strata is missing: build Strata first"
command -v python3 >/dev/null || fail "python3 is required"
command -v nm >/dev/null || fail "nm (binutils) is required"

prefix="$tmp/prefix"
host="$prefix/bin/strata"

step "installing $build_dir into $prefix"
run "$tmp/install.log" cmake --install "$build_dir" --prefix "$prefix"
missing=()
for f in bin/strata include/strata/sdk.hpp include/strata/strata.h \
         lib/cmake/Strata/StrataConfig.cmake lib/cmake/Strata/StrataConfigVersion.cmake \
         lib/cmake/Strata/StrataTargets.cmake lib/cmake/Strata/StrataMacros.cmake \
         lib/cmake/Strata/strata_plugin.map lib/strata/plugins/strata-mean.so; do
  [[ -e "$prefix/$f" ]] || missing+=("$f")
done
((${#missing[@]} == 0)) || fail "cmake --install did not install: ${missing[*]}"
pass "host, SDK headers, CMake package and in-tree plugins installed"

step "configuring and building $example against the installed package"
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
run "$tmp/configure.log" cmake -S "$example" -B "$tmp/build" "${generator[@]}" -DCMAKE_PREFIX_PATH="$prefix"
run "$tmp/build.log" cmake --build "$tmp/build"
so="$tmp/build/strata-clip-mean.so"
[[ -f "$so" ]] || fail "expected $so after the build; got: $(ls "$tmp/build")"
pass "built $(basename "$so")"

step "checking the exported symbols of $(basename "$so")"
symbols=$(nm -D --defined-only "$so" | awk 'NF >= 3 { print $3 }' | sort)
if [[ "$symbols" != "strata_plugin_negotiate" ]]; then
  fail "expected exactly one exported symbol strata_plugin_negotiate; got:"$'\n'"$symbols"
fi
pass "exports only strata_plugin_negotiate"

step "listing plugins with the installed host"
capture "$tmp/list.json" "$host" --plugin-path "$tmp/build" plugins list --json
python3 - "$tmp/list.json" "$prefix/lib/strata/plugins" "$so" <<'PY' || fail "plugins list --json: see above"
import json, os, sys
plugins = {p["name"]: p for p in json.load(open(sys.argv[1]))}
plugin_dir, so = sys.argv[2], sys.argv[3]
errors = []
clip = plugins.get("clip-mean")
if clip is None:
    errors.append("clip-mean is not listed")
else:
    if clip["kind"] != "aggregation":
        errors.append(f"clip-mean has kind {clip['kind']!r}, expected 'aggregation'")
    if os.path.realpath(clip["path"]) != os.path.realpath(so):
        errors.append(f"clip-mean comes from {clip['path']}, expected {so}")
for name in ("mean", "single", "none"):
    p = plugins.get(name)
    if p is None:
        errors.append(f"in-tree plugin {name!r} not found by the installed host")
    elif os.path.dirname(os.path.realpath(p["path"])) != os.path.realpath(plugin_dir):
        errors.append(f"in-tree plugin {name!r} loaded from {p['path']}, expected {plugin_dir}")
if errors:
    print("\n".join(errors), file=sys.stderr)
    print(json.dumps(list(plugins.values()), indent=2), file=sys.stderr)
    print(open(sys.argv[1] + ".err").read(), file=sys.stderr)  # the host's warnings (refused libraries)
    sys.exit(1)
PY
pass "clip-mean listed as an aggregation plugin from $tmp/build"
pass "in-tree plugins (mean, single, none) found in $prefix/lib/strata/plugins"

capture "$tmp/inspect.json" "$host" --plugin-path "$tmp/build" plugins inspect clip-mean
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["defaults"] == {"max_abs": 1.0}, d["defaults"]
assert d["options_schema"]["additionalProperties"] is False, d["options_schema"]
' "$tmp/inspect.json" || fail "plugins inspect clip-mean: unexpected options schema or defaults"
pass "plugins inspect clip-mean: defaults {\"max_abs\": 1.0}"

step "checking and running $example/pipeline.json with the installed host"
run "$tmp/check.log" "$host" --plugin-path "$tmp/build" config check "$example/pipeline.json"
run "$tmp/run.log" "$host" --plugin-path "$tmp/build" run "$example/pipeline.json" --out "$tmp/run" --plain
[[ -f "$tmp/run/metrics.jsonl" ]] || fail "the run wrote no $tmp/run/metrics.jsonl"
python3 - "$tmp/run/metrics.jsonl" <<'PY' || fail "metrics.jsonl has no clip-mean.clipped metric"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
clipped = [r for r in rows if r.get("metric") == "clip-mean.clipped"]
if not clipped:
    print("metrics seen: " + ", ".join(sorted({str(r.get("metric")) for r in rows})), file=sys.stderr)
    sys.exit(1)
print(f"    ok: {len(clipped)} clip-mean.clipped rows, steps {clipped[0]['step']}..{clipped[-1]['step']}")
PY
pass "run exited 0"

step "installing the plugin project (strata_add_plugin ... INSTALL)"
run "$tmp/plugin-install.log" cmake --install "$tmp/build" --prefix "$tmp/plugin-prefix"
installed_so="$tmp/plugin-prefix/lib/strata/plugins/strata-clip-mean.so"
[[ -f "$installed_so" ]] || fail "expected $installed_so; installed: $(cd "$tmp/plugin-prefix" && find . -type f)"
STRATA_PLUGIN_PATH="$tmp/plugin-prefix/lib/strata/plugins" "$host" plugins inspect clip-mean >/dev/null 2>"$tmp/env-inspect.log" \
  || { cat "$tmp/env-inspect.log" >&2; fail "installed plugin not found through STRATA_PLUGIN_PATH"; }
pass "installed to lib/strata/plugins and found through STRATA_PLUGIN_PATH"

echo "PASS: out-of-tree plugin build, install and run"
