#!/usr/bin/env bash
# The main job, end to end, on one machine: install what is missing, build, start a private
# PostgreSQL, fls-kms and the sidecar, push example audit events through the sidecar, ask the
# KMS for an inquiry over them and print its verdict.
#
#   bash scripts/demo.sh [--count N] [--serve]
#
#   --count N   how many example events to send (default 200)
#   --serve     keep everything running after the verdict, until Ctrl-C
#
# Everything it starts is stopped when it ends, on Ctrl-C too. State lives in .demo/ (the KMS
# master key and admin token, logs) and in the demo's PostgreSQL folder.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$root/scripts/setup.sh"

count=200
serve=0
while (($# > 0)); do
  case "$1" in
    --count) count="$2"; shift ;;
    --serve) serve=1 ;;
    -h | --help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

FLS_PACKAGES+=(jq curl)
fls_install_deps
fls_build
build="$(fls_build_dir)"

state="$root/.demo"
mkdir -p "$state"
chmod 700 "$state"
export FLS_PG_DIR FLS_PG_PORT="${FLS_DEMO_PG_PORT:-55432}"
FLS_PG_DIR="$(fls_pg_dir .pg)"
kms_port="${FLS_DEMO_KMS_PORT:-18080}"
intake_port="${FLS_DEMO_INTAKE_PORT:-15678}"
health_port="${FLS_DEMO_HEALTH_PORT:-16789}"
service=central-ledger

pids=()
# shellcheck disable=SC2317 # reached through the trap
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  bash "$root/scripts/pg.sh" stop >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The master key seals the keys the KMS stores; it is kept, like them, only on this machine.
[[ -s "$state/kms-master-key" ]] || (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/kms-master-key")
[[ -s "$state/kms-admin-token" ]] || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/kms-admin-token")
token="$(cat "$state/kms-admin-token")"

bash "$root/scripts/pg.sh" start
echo "demo: starting fls-kms on 127.0.0.1:$kms_port (log: .demo/kms.log)"
KMS_DATABASE_URI="$(bash "$root/scripts/pg.sh" uri fls_kms)" \
  KMS_MASTER_KEY="$(cat "$state/kms-master-key")" KMS_ADMIN_TOKEN="$token" \
  KMS_PORT="$kms_port" KMS_BIND_ADDRESS=127.0.0.1 KMS_INQUIRY_TIMEOUT=10000 \
  "$build/fls-kms" >"$state/kms.log" 2>&1 &
pids+=($!)

admin() { curl -sS -H "Authorization: Bearer $token" "$@"; }
wait_for() { # wait_for SECONDS WHAT COMMAND...: polls COMMAND until it succeeds
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq $((seconds * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "demo: $what did not happen within ${seconds}s; see the logs in .demo/" >&2
  return 1
}
wait_for 30 "fls-kms start" curl -sf "http://127.0.0.1:$kms_port/health"

# fls-kms registers only sidecars that present a credential of their service: the admin makes one,
# once. The sidecar keeps it across runs: its earlier batches verify only under the same credential.
if [[ ! -s "$state/sidecar-kms-token" ]]; then
  (umask 077; admin -X POST "http://127.0.0.1:$kms_port/credentials" \
    -d "{\"service\":\"$service\",\"label\":\"demo sidecar\"}" | jq -er .token >"$state/sidecar-kms-token") ||
    { rm -f "$state/sidecar-kms-token"; echo "demo: the KMS did not create a credential for $service" >&2; exit 1; }
fi
sidecar_token="$(cat "$state/sidecar-kms-token")"

echo "demo: starting the sidecar for service $service on 127.0.0.1:$intake_port (log: .demo/sidecar.log)"
SIDE_KMS__TOKEN="$sidecar_token" SIDE_DATABASE_URI="$(bash "$root/scripts/pg.sh" uri fls_sidecar)" SIDE_SERVICE="$service" \
  SIDE_KMS__URL="ws://127.0.0.1:$kms_port/sidecar" SIDE_PORT="$intake_port" SIDE_HEALTH_PORT="$health_port" \
  SIDE_BIND_ADDRESS=127.0.0.1 SIDE_BATCH_SIZE=64 SIDE_BATCH_TIME_INTERVAL=1000 SIDE_KMS__RECONNECT_INTERVAL=500 \
  "$build/forensic-logging-sidecar" >"$state/sidecar.log" 2>&1 &
pids+=($!)
wait_for 30 "sidecar start" curl -sf "http://127.0.0.1:$health_port/health"
registered() { admin "http://127.0.0.1:$kms_port/sidecars" | jq -e --arg s "$service" 'map(select(.serviceName == $s and .status == "registered")) | length > 0'; }
wait_for 30 "sidecar registration with the KMS" registered

start="$(date -u -d '-1 minute' +%Y-%m-%dT%H:%M:%SZ)"
"$build/examples/send_events" --port "$intake_port" --count "$count" --service "$service"
acknowledged() {
  [[ "$(psql -tA "$(bash "$root/scripts/pg.sh" uri fls_sidecar)" -c \
    "SELECT count(*) FROM events e JOIN batches b USING (batch_id) WHERE b.acknowledged IS NOT NULL AND e.created >= '$start'")" -ge "$count" ]]
}
wait_for 60 "batch acknowledgement by the KMS" acknowledged
end="$(date -u -d '+1 minute' +%Y-%m-%dT%H:%M:%SZ)"

echo "demo: asking the KMS for an inquiry over $start .. $end"
location="$(admin -D - -o /dev/null -X POST "http://127.0.0.1:$kms_port/inquiry" \
  -d "{\"service\":\"$service\",\"startTime\":\"$start\",\"endTime\":\"$end\"}" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')"
[[ -n "$location" ]] || { echo "demo: the KMS did not accept the inquiry" >&2; exit 1; }
complete() { admin "http://127.0.0.1:$kms_port$location" | jq -e '.status == "complete"'; }
wait_for 30 "inquiry completion" complete

admin "http://127.0.0.1:$kms_port$location" | jq -r '
  "",
  "Inquiry verdict (\(.status)): \(if .verified then "VERIFIED" else "NOT VERIFIED" end)",
  "  batches returned: \(.completed) of \(.total)",
  "  rows verified:    \([.results[].rowsVerified] | add // 0) of \([.results[].rows] | add // 0)",
  "  missing batches:  \(.missing | length)",
  "  unknown batches:  \(.unknown | length)",
  "  sequence gaps:    \(.gaps | length)",
  "  unanswered:       \(.unanswered | length) sidecar(s)",
  "  sender problems:  \(.senderProblems | length)",
  "",
  (.results[] | "  batch \(.id)  rows \(.rowsVerified)/\(.rows)  \(if .verified then "verified" else "FAILED: \(.problems | join("; "))" end)")'
echo

if ((serve)); then
  echo "demo: running; sidecar intake 127.0.0.1:$intake_port, KMS admin API http://127.0.0.1:$kms_port (token in .demo/kms-admin-token). Ctrl-C stops everything."
  wait "${pids[0]}"
fi
