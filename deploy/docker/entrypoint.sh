#!/usr/bin/env bash
# Image entrypoint: picks the program by role and execs it, so it runs as PID 1 and receives
# SIGTERM from docker, ECS and Kubernetes directly (the sidecar's clean stop depends on it).
#
#   entrypoint.sh [sidecar] [args...]   forensic-logging-sidecar (default; `migrate`, `--version`)
#   entrypoint.sh kms [args...]         fls-kms
#   entrypoint.sh health [PATH [PORT]]  exit 0 only if GET http://127.0.0.1:PORT/PATH answers 200;
#                                       PATH /health, PORT $SIDE_HEALTH_PORT or 6789 (fls-kms: 8080)
#
# FLS_BIN_DIR (default /usr/local/bin) lets tests/deploy/check_deploy.sh run this outside Docker.
set -euo pipefail

bin_dir="${FLS_BIN_DIR:-/usr/local/bin}"

# HTTP GET over bash's /dev/tcp, so the runtime image needs neither curl nor wget.
health() {
  local path="${1:-/health}" port="${2:-${SIDE_HEALTH_PORT:-6789}}" status=""
  # The braces keep bash's own "connection refused" line off stderr without redirecting it for good.
  if ! { exec 3<>"/dev/tcp/127.0.0.1/${port}"; } 2>/dev/null; then
    echo "health: nothing listens on 127.0.0.1:${port}" >&2
    return 1
  fi
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$path" "$port" >&3
  # -t: a server that accepts but never answers must not hang the probe.
  IFS= read -r -t 5 status <&3 || true
  exec 3<&-
  status="${status%$'\r'}"
  if [[ "$status" =~ ^HTTP/1\.[01]\ 200([[:space:]]|$) ]]; then
    return 0
  fi
  echo "health: GET ${path} on 127.0.0.1:${port} answered '${status}'" >&2
  return 1
}

role="${1:-sidecar}"
(($# > 0)) && shift

case "$role" in
  sidecar) exec "${bin_dir}/forensic-logging-sidecar" "$@" ;;
  kms) exec "${bin_dir}/fls-kms" "$@" ;;
  health) health "$@" ;;
  # `docker run IMAGE --version` or `... migrate` goes to the sidecar, like its own command line.
  -* | migrate) exec "${bin_dir}/forensic-logging-sidecar" "$role" "$@" ;;
  *)
    echo "entrypoint.sh: unknown role '${role}'; expected sidecar, kms or health" >&2
    echo "usage: entrypoint.sh [sidecar|kms] [args...] | entrypoint.sh health [PATH [PORT]]" >&2
    exit 64
    ;;
esac
