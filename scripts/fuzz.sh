#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang-14 and runs each for a bounded time on a
# copy of its seed corpus.
#
#   bash scripts/fuzz.sh [target...]      default: every target (fuzz_frame_decoder fuzz_kms_message fuzz_kms_server fuzz_protocol)
#
# Environment: FLS_FUZZ_BUILD_DIR (default build-fuzz, relative to the repo root),
# FLS_FUZZ_SECONDS (default 60, per target), FLS_FUZZ_KEEP_CORPUS=1 keeps the grown corpora
# (their path is printed). Crash, leak and timeout inputs are written to
# $FLS_FUZZ_BUILD_DIR/fuzz-artifacts/<target>/ and named in the output; exit status is non-zero
# when any target found one. Reproduce with: <build dir>/tests/fuzz/<target> <artifact file>
#
# The build dir must be configured with clang: it is configured on first use with
# CC=clang-14 CXX=clang++-14 -DFLS_FUZZ=ON -DFLS_TESTS=ON (the fuzz targets live under tests/,
# which CMake only reads with FLS_TESTS=ON; only the fuzz targets are built).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$root/scripts/setup.sh"

case "${1:-}" in
  -h | --help)
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac

all_targets=(fuzz_frame_decoder fuzz_kms_message fuzz_kms_server fuzz_protocol)
targets=("$@")
((${#targets[@]} > 0)) || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "fuzz: unknown target $t (known: ${all_targets[*]})" >&2; exit 2; }
done

seconds="${FLS_FUZZ_SECONDS:-60}"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: FLS_FUZZ_SECONDS must be a positive integer" >&2; exit 2; }

export FLS_BUILD_DIR="${FLS_FUZZ_BUILD_DIR:-build-fuzz}"
build="$(fls_build_dir)"
# CMake reads CC/CXX only when it configures a build dir for the first time.
export CC=clang-14 CXX=clang++-14
cmake_options=(-DFLS_FUZZ=ON -DFLS_TESTS=ON)

fls_install_deps

if [[ -f "$build/CMakeCache.txt" ]]; then
  # A dir configured with g++ cannot be switched over in place (CMake would drop the cache).
  if ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang' "$build/CMakeCache.txt"; then
    echo "fuzz: $build was configured with another compiler than clang; remove it or set FLS_FUZZ_BUILD_DIR" >&2
    exit 1
  fi
fi
fls_reconfigure_if_changed "${cmake_options[@]}"
fls_configure "${cmake_options[@]}"
echo "fuzz: building ${targets[*]} in $build"
cmake --build "$build" --parallel "$(nproc)" --target "${targets[@]}"

# UBSan findings must stop the run (the build also says -fno-sanitize-recover=undefined).
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
if [[ -z "${ASAN_SYMBOLIZER_PATH:-}" ]] && command -v llvm-symbolizer-14 >/dev/null; then
  ASAN_SYMBOLIZER_PATH="$(command -v llvm-symbolizer-14)"
  export ASAN_SYMBOLIZER_PATH
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/fls-fuzz.XXXXXX")"
# shellcheck disable=SC2317 # reached through the trap
cleanup() {
  if [[ "${FLS_FUZZ_KEEP_CORPUS:-0}" == 1 ]]; then
    echo "fuzz: corpora kept in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

failed=()
summary=()
for target in "${targets[@]}"; do
  name="${target#fuzz_}"
  seeds="$root/tests/fuzz/corpus/$name"
  corpus="$work/$name"
  artifacts="$build/fuzz-artifacts/$target"
  log="$work/$target.log"
  mkdir -p "$corpus" "$artifacts"
  [[ -d "$seeds" ]] && cp -R "$seeds/." "$corpus/"
  echo "fuzz: running $target for ${seconds}s ($(find "$corpus" -type f | wc -l) seeds; log $log)"
  args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
        -artifact_prefix="$artifacts/")
  # JSON targets share a dictionary with the protocol's tokens and deep nesting.
  [[ "$target" == fuzz_kms_* || "$target" == fuzz_protocol ]] && args+=(-dict="$root/tests/fuzz/kms.dict")
  args+=("$corpus")
  rc=0
  # Bounded even if libFuzzer hangs: its own time limit plus the slowest input's timeout and slack.
  (cd "$work" && timeout --kill-after=10 "$((seconds + 60))" "$build/tests/fuzz/$target" "${args[@]}") \
    >"$log" 2>&1 || rc=$?
  # libFuzzer's last status line: "#<runs> DONE cov: <edges> ft: <features> corp: <n>/<size> ... exec/s: <n> ..."
  status="$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED|pulse|NEW|REDUCE)' "$log" | tail -n 1 || true)"
  runs="$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -n 1)"
  speed="$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log" | tail -n 1)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")"
  corp="$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$status")"
  if ((rc == 0)); then
    line="fuzz: $target OK: ${runs:-?} runs, ${speed:-?} exec/s, cov ${cov:-?} edges, ft ${ft:-?}, corpus ${corp:-?}"
  else
    crash="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
    line="fuzz: $target FAILED (exit $rc) after ${runs:-?} runs: ${crash:-no artifact written}"
    failed+=("$target")
    echo "---- last lines of $log ----" >&2
    tail -n 60 "$log" >&2
    echo "----" >&2
    # Keep the log next to the artifacts: the work dir goes away.
    cp "$log" "$artifacts/" 2>/dev/null || true
  fi
  echo "$line"
  summary+=("$line")
done

echo "fuzz: summary"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
  echo "fuzz: FAILED: ${failed[*]} (artifacts in $build/fuzz-artifacts/, reproduce with <build>/tests/fuzz/<target> <file>)" >&2
  exit 1
fi
