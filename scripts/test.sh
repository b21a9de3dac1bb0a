#!/usr/bin/env bash
# THE test command (README and CI): install missing deps, build with tests, start a private
# PostgreSQL for the integration tests, run ctest, stop the cluster, exit with ctest's status.
#
#   bash scripts/test.sh [--sanitize] [ctest args...]
#
#   --sanitize   build in build-asan with -DFLS_SANITIZE=ON (ASan+UBSan) and test that build:
#                the unit and the fast integration tests (FLS_SANITIZE_SKIP, a ctest -E regex,
#                names those left to the plain build; an -E of your own replaces it)
#   ctest args   passed through, e.g. -R Sidecar or -j2
#
# Afterwards the fuzz targets run for FLS_FUZZ_SECONDS each (default 60; 0 skips them).
#
# Environment: FLS_BUILD_DIR (default build; ignored with --sanitize, which uses
# FLS_ASAN_BUILD_DIR, default build-asan), FLS_TEST_PG_DIR / FLS_TEST_PG_PORT (the test cluster;
# default .pg-test on 55433, or .pg-test-asan on 55434, so they never meet the demo cluster
# of scripts/pg.sh on 55432 nor each other). With CI=true (as on the CI machine) it builds with
# -DFLS_WERROR=ON: a compiler warning fails the run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$root/scripts/setup.sh"

sanitize=0
ctest_args=()
while (($# > 0)); do
  case "$1" in
    --sanitize) sanitize=1 ;;
    -h | --help)
      sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    --) shift; ctest_args+=("$@"); break ;;
    *) ctest_args+=("$1") ;;
  esac
  shift
done

if ((sanitize)); then
  export FLS_BUILD_DIR="${FLS_ASAN_BUILD_DIR:-build-asan}"
  cmake_options=(-DFLS_TESTS=ON -DFLS_SANITIZE=ON)
  pg_name=.pg-test-asan pg_port=55434
  # Make sanitizer findings fail the test instead of scrolling past (UBSan only warns by default).
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0}"
  # Left to the plain build: the load and fault suites (tens of MB through the sidecar, or
  # PostgreSQL restarted under it: minutes each at the sanitizers' speed), the key-memory tests
  # (they take core dumps, and an ASan process's core holds its whole shadow memory: terabytes),
  # the Node.js client, the benchmark's smoke run, and the checks of the tree that compile nothing.
  sanitize_skip="${FLS_SANITIZE_SKIP-^(bench_quick|deploy_checks|format_check|architecture_dependencies)\$|^(SidecarFaultTest|SidecarBackpressureTest|NodeClientTest)\.|KeyMemoryTest\.}"
  if [[ -n "$sanitize_skip" ]]; then ctest_args=(-E "$sanitize_skip" "${ctest_args[@]}"); fi
else
  export FLS_BUILD_DIR="${FLS_BUILD_DIR:-build}"
  cmake_options=(-DFLS_TESTS=ON)
  pg_name=.pg-test pg_port=55433
fi
# CI builds treat warnings as errors; a developer's build only shows them.
[[ "${CI:-}" == true ]] && cmake_options+=(-DFLS_WERROR=ON)
build="$(fls_build_dir)"
export FLS_BUILD_DIR="$build" # absolute, for the tests

# Node.js runs the example with the npm client central-ledger used (tests/integration/node_client_test.cc).
command -v npm >/dev/null || FLS_PACKAGES+=(nodejs npm)
fls_install_deps
(cd "$root/examples/node" && npm install --no-audit --no-fund --loglevel=error >/dev/null)

# fls_build only configures a fresh dir; an existing one with the wrong option value (say
# FLS_TESTS=OFF, which would leave nothing to run) is reconfigured with the right ones.
fls_reconfigure_if_changed "${cmake_options[@]}"
fls_build "${cmake_options[@]}"

# In the checkout, or under /tmp when the postgres user cannot reach it (see fls_pg_dir).
# FLS_PG_DIR/FLS_PG_PORT from the caller (the demo's) are deliberately not used.
FLS_PG_DIR="${FLS_TEST_PG_DIR:-$(fls_pg_dir "$pg_name")}"
export FLS_PG_DIR FLS_PG_PORT="${FLS_TEST_PG_PORT:-$pg_port}"

pg() { bash "$root/scripts/pg.sh" "$@"; }

# Stop the cluster however we leave (failure, Ctrl-C, kill), keeping the exit status.
# Quiet on success, so ctest's summary stays the last thing printed.
# ctest stays in the foreground, in our process group, so Ctrl-C or a signal to the group (as
# timeout(1) sends) reaches it and its tests too; bash runs these traps once it returns.
# shellcheck disable=SC2317 # reached through the trap, which shellcheck 0.9 does not follow
cleanup() {
  local rc=$?
  pg stop >/dev/null || echo "test: could not stop the cluster in $FLS_PG_DIR" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pg start
# The admin URI names the maintenance database; each test creates and drops its own database.
FLS_TEST_DATABASE_URI="$(pg uri postgres)"
export FLS_TEST_DATABASE_URI

echo "test: ctest in $build (PostgreSQL on 127.0.0.1:$FLS_PG_PORT, $FLS_PG_DIR)"
rc=0
# --no-tests=error: a build without tests must not pass as green.
ctest --test-dir "$build" --output-on-failure --timeout 600 --no-tests=error "${ctest_args[@]}" || rc=$?

# The libFuzzer targets (a clang build of their own), for a bounded time; a crash fails the run.
# FLS_FUZZ_SECONDS=0 skips them, e.g. for a quick local run.
if [[ "${FLS_FUZZ_SECONDS:-60}" != 0 ]] && ((!sanitize)); then
  FLS_FUZZ_SECONDS="${FLS_FUZZ_SECONDS:-60}" bash "$root/scripts/fuzz.sh" || rc=$((rc == 0 ? 1 : rc))
fi
exit "$rc"
