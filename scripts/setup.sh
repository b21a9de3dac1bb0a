#!/usr/bin/env bash
# Installs the build/test dependencies (Debian bookworm) and builds the project with CMake+Ninja.
#
#   bash scripts/setup.sh [extra cmake args...]    install what is missing, then configure+build
#   source scripts/setup.sh                         only define the functions below, for other scripts
#
# Functions (each runs in its own subshell with strict mode, so sourcing this file never
# changes the caller's shell options or kills an interactive shell on error):
#   fls_install_deps                 apt-get install whatever of FLS_PACKAGES is missing
#   fls_configure [cmake args...]    cmake -G Ninja into FLS_BUILD_DIR, only if build.ninja is missing
#   fls_build [cmake args...]        fls_configure, then ninja with all cores
#   fls_build_dir                    prints the absolute build dir
#   fls_pg_dir NAME                  prints where scripts/pg.sh's folder NAME should live
#
# Environment: FLS_BUILD_DIR (default: build, relative to the repo root), FLS_BUILD_TYPE
# (default: RelWithDebInfo), FLS_CMAKE_ARGS (extra configure args, word-split).
# Configure-time args only take effect when the build dir is configured for the first time:
# delete the build dir to change them (ninja itself re-runs cmake when CMakeLists.txt change).

# Repo root, resolved from this file so the functions work from any working directory.
FLS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Narrow Boost packages on purpose: libboost-dev pulls libboost1.74-dev, which holds every
# header (Asio, Beast and UUID are header-only there); libboost-system-dev provides the
# boost_system CMake config that find_package(Boost COMPONENTS system) asks for.
# libboost-all-dev would add MPI, Python and ~100 other packages we do not use.
# postgresql-15 (rather than the "postgresql" metapackage) because scripts/pg.sh runs the
# binaries in /usr/lib/postgresql/15/bin; it brings postgresql-client-15 (psql, pg_isready).
# clang-14 + libclang-rt-14-dev are for the libFuzzer targets (FLS_FUZZ) and LeakSanitizer;
# clang-format-14 checks the C++ layout (tests/format/check_format.sh).
# gdb provides gcore, with which tests/integration/key_memory_test.cc takes cores of the
# running executables and looks for key material in them.
FLS_PACKAGES=(
  cmake ninja-build g++ pkg-config
  libboost-dev libboost-system-dev
  libpqxx-dev libssl-dev libsodium-dev nlohmann-json3-dev libspdlog-dev
  libgtest-dev libgmock-dev
  postgresql-15
  clang-14 libclang-rt-14-dev clang-format-14
  ca-certificates procps gdb
  docker-compose python3-yaml jq
)

# Prints the packages of FLS_PACKAGES that are not fully installed. dpkg-query only reads the
# local database, so a machine that has everything never touches the network.
fls_missing_packages() (
  set -euo pipefail
  for pkg in "${FLS_PACKAGES[@]}"; do
    # Unknown packages make dpkg-query fail; "deinstall ok config-files" is not installed either.
    if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]]; then
      printf '%s\n' "$pkg"
    fi
  done
)

fls_install_deps() (
  set -euo pipefail
  local -a missing sudo=()
  mapfile -t missing < <(fls_missing_packages)
  if ((${#missing[@]} == 0)); then
    echo "setup: all ${#FLS_PACKAGES[@]} packages already installed"
    return 0
  fi
  echo "setup: installing missing packages: ${missing[*]}"
  if ((EUID != 0)); then
    command -v sudo >/dev/null || { echo "setup: not root and sudo is missing; install as root: ${missing[*]}" >&2; return 1; }
    sudo=(sudo)
  fi
  # Lists are only refreshed when something is missing (a fresh machine has none or stale ones).
  # The lock timeout lets us wait out an unattended-upgrades run instead of failing at once.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
    --no-install-recommends "${missing[@]}" </dev/null
  # Fail loudly if apt reported success but something is still absent.
  mapfile -t missing < <(fls_missing_packages)
  if ((${#missing[@]} != 0)); then
    echo "setup: still missing after apt-get install: ${missing[*]}" >&2
    return 1
  fi
)

# Absolute build dir: FLS_BUILD_DIR as given if absolute, else relative to the repo root.
fls_build_dir() {
  local dir="${FLS_BUILD_DIR:-build}"
  [[ "$dir" == /* ]] || dir="$FLS_ROOT/$dir"
  printf '%s\n' "$dir"
}

# Where a private PostgreSQL folder named NAME (.pg, .pg-test) goes, for scripts/pg.sh: in the
# checkout, unless the server's user cannot reach it (a clone under /root, run as root: the
# server runs as postgres) or the unix socket path would pass its 107-byte limit; then under
# /tmp, named after the checkout so that each checkout keeps its own. Call after
# fls_install_deps (the postgres user comes with postgresql-15).
fls_pg_dir() (
  set -euo pipefail
  local name="${1:?usage: fls_pg_dir NAME}" dir
  dir="$FLS_ROOT/$name"
  if { ((EUID == 0)) && ! runuser -u postgres -- test -x "$FLS_ROOT" 2>/dev/null; } || ((${#dir} > 70)); then
    dir="/tmp/fls$name-$(printf '%s' "$FLS_ROOT" | cksum | cut -d' ' -f1)"
  fi
  printf '%s\n' "$dir"
)

# An existing build dir whose cache holds another value for any of the given -DNAME=ON|OFF
# options is reconfigured with them (fls_configure only configures a fresh dir).
fls_reconfigure_if_changed() (
  set -euo pipefail
  local build
  build="$(fls_build_dir)"
  [[ -f "$build/CMakeCache.txt" ]] || exit 0
  for opt in "$@"; do
    if ! grep -qx -- "${opt#-D}" <(sed -n 's/^\([A-Z_]*\):BOOL=/\1=/p' "$build/CMakeCache.txt"); then
      echo "setup: reconfiguring $build with $*"
      cmake -S "$FLS_ROOT" -B "$build" "$@"
      exit 0
    fi
  done
)

fls_configure() (
  set -euo pipefail
  local dir
  dir="$(fls_build_dir)"
  if [[ -f "$dir/build.ninja" ]]; then
    return 0
  fi
  # A cache from another generator would make cmake -G Ninja fail with a cryptic message.
  if [[ -f "$dir/CMakeCache.txt" ]] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$dir/CMakeCache.txt"; then
    echo "setup: $dir was configured with another generator; remove it or set FLS_BUILD_DIR" >&2
    return 1
  fi
  local -a extra=()
  # FLS_CMAKE_ARGS is deliberately word-split: it is a list of -D flags.
  # shellcheck disable=SC2206
  [[ -n "${FLS_CMAKE_ARGS:-}" ]] && extra=(${FLS_CMAKE_ARGS})
  echo "setup: configuring $dir"
  cmake -S "$FLS_ROOT" -B "$dir" -G Ninja \
    -DCMAKE_BUILD_TYPE="${FLS_BUILD_TYPE:-RelWithDebInfo}" "${extra[@]}" "$@"
)

fls_build() (
  set -euo pipefail
  fls_configure "$@"
  local dir
  dir="$(fls_build_dir)"
  echo "setup: building in $dir with $(nproc) jobs"
  cmake --build "$dir" --parallel "$(nproc)"
)

# Executed (not sourced): do the whole job.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  fls_install_deps
  fls_build "$@"
fi
