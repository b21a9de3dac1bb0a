#!/usr/bin/env bash
# A private, throwaway PostgreSQL 15 cluster in one folder, for the demo and the tests.
#
#   bash scripts/pg.sh start|stop|restart|status|uri [DBNAME]|destroy
#
# Environment:
#   FLS_PG_DIR   the folder (default: $PWD/.pg); holds data/, socket/, postgres.log, password, port
#   FLS_PG_PORT  TCP port on 127.0.0.1 (default: 55432)
#
# The server listens on 127.0.0.1 only, plus a unix socket inside the folder. Role "fls" is the
# bootstrap superuser, with a random password kept in the folder; TCP logins need that password
# (scram-sha-256), socket logins are trusted (the folder is mode 0700, so only its owner and root
# can reach the socket). Databases fls_sidecar and fls_kms are created owned by fls.
# The server refuses to run as root, so as root every PostgreSQL command runs as the postgres
# user through runuser, and the folder is owned by postgres.
set -euo pipefail

readonly PG_BIN=/usr/lib/postgresql/15/bin
readonly PG_USER=fls
readonly PG_DATABASES=(fls_sidecar fls_kms)
readonly START_TIMEOUT=30

die() {
  echo "pg.sh: $*" >&2
  exit 1
}

usage() {
  cat >&2 <<'EOF'
usage: scripts/pg.sh start|stop|restart|status|uri [DBNAME]|destroy
  env: FLS_PG_DIR (default $PWD/.pg), FLS_PG_PORT (default 55432)
EOF
  exit 2
}

# Absolute path, so the server (whose working directory is its data dir) and the socket path
# do not depend on where this was called from. realpath -m accepts a folder that does not exist yet.
PG_DIR="$(realpath -m -- "${FLS_PG_DIR:-$PWD/.pg}")"
readonly PG_DIR
readonly PG_DATA="$PG_DIR/data"
readonly PG_SOCKET_DIR="$PG_DIR/socket"
readonly PG_LOG="$PG_DIR/postgres.log"
readonly PG_PASSWORD_FILE="$PG_DIR/password"
readonly PG_PORT_FILE="$PG_DIR/port"
readonly PG_MARKER="$PG_DIR/.fls-pg"

# Port: FLS_PG_PORT if given, else the one the cluster was last started on, else the default.
# That way "uri" and "status" find a cluster started with a non-default port.
requested_port() {
  if [[ -n "${FLS_PG_PORT:-}" ]]; then
    printf '%s\n' "$FLS_PG_PORT"
  elif [[ -r "$PG_PORT_FILE" ]]; then
    cat "$PG_PORT_FILE"
  else
    printf '55432\n'
  fi
}
PG_PORT="$(requested_port)"
readonly PG_PORT
if ! [[ "$PG_PORT" =~ ^[0-9]+$ ]] || ((PG_PORT < 1 || PG_PORT > 65535)); then
  die "bad port '$PG_PORT' (FLS_PG_PORT)"
fi

# Runs a PostgreSQL binary as the cluster's owner: postgres when we are root, else ourselves.
# The working directory is the folder, because the postgres user may not be able to enter ours.
as_owner() {
  if ((EUID == 0)); then
    (cd "$PG_DIR" && runuser -u postgres -- "$@")
  else
    (cd "$PG_DIR" && "$@")
  fi
}

check_binaries() {
  [[ -x "$PG_BIN/postgres" && -x "$PG_BIN/psql" ]] ||
    die "PostgreSQL 15 is not installed in $PG_BIN (run: bash scripts/setup.sh, or apt-get install postgresql-15)"
  if ((EUID == 0)); then
    id -u postgres >/dev/null 2>&1 || die "user 'postgres' does not exist (is postgresql-15 installed?)"
  fi
}

# pg_ctl status exits 0 when a server runs on this data dir (it checks the pid, not just the file).
is_running() {
  [[ -f "$PG_DATA/PG_VERSION" ]] && as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

# The port the running server actually uses: line 4 of postmaster.pid.
running_port() {
  sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true
}

password() {
  [[ -s "$PG_PASSWORD_FILE" ]] || die "no cluster in $PG_DIR (run: scripts/pg.sh start)"
  cat "$PG_PASSWORD_FILE"
}

uri() {
  local pw
  pw="$(password)" # separate assignment, so a missing cluster stops here instead of printing a URI
  printf 'postgres://%s:%s@127.0.0.1:%s/%s\n' "$PG_USER" "$pw" "$PG_PORT" "${1:-postgres}"
}

# Makes the folder, owned by the cluster's owner, and checks the server will be able to use it.
# Checks come first so that a bad FLS_PG_DIR leaves nothing behind.
prepare_dir() {
  # Unix socket paths are limited to 107 bytes; a deep folder makes the server fail obscurely.
  local socket="$PG_SOCKET_DIR/.s.PGSQL.$PG_PORT"
  ((${#socket} <= 107)) || die "socket path $socket is longer than 107 bytes; use a shorter FLS_PG_DIR"
  local unreachable="user postgres cannot reach $PG_DIR (a parent folder is not searchable by it, e.g. /root); use an FLS_PG_DIR under /tmp"
  if ((EUID == 0)); then
    # The server runs as postgres, so every parent must be searchable by postgres.
    local existing="$PG_DIR"
    until [[ -d "$existing" ]]; do existing="$(dirname "$existing")"; done
    runuser -u postgres -- test -x "$existing" || die "$unreachable"
  fi
  mkdir -p "$PG_DIR"
  if ((EUID == 0)); then
    chown postgres:postgres "$PG_DIR"
    runuser -u postgres -- test -x "$PG_DIR" || die "$unreachable"
  fi
  chmod 0700 "$PG_DIR"
}

init_cluster() {
  [[ -f "$PG_DATA/PG_VERSION" ]] && return 0
  # A half-made data dir from an interrupted initdb would make initdb refuse; it holds nothing.
  [[ -e "$PG_DATA" ]] && { echo "pg.sh: removing incomplete $PG_DATA"; rm -rf -- "$PG_DATA"; }
  echo "pg.sh: initdb in $PG_DATA"
  # Hex keeps the password safe to put in a URI unescaped.
  umask 077
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$PG_PASSWORD_FILE"
  ((EUID == 0)) && chown postgres:postgres "$PG_PASSWORD_FILE"
  touch "$PG_MARKER"
  as_owner mkdir -p "$PG_SOCKET_DIR"
  # initdb wants the password in a file it can read: the folder is 0700, so it stays private.
  as_owner "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_USER" --pwfile="$PG_PASSWORD_FILE" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 ||
    { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  # Exactly two ways in: the private socket, and 127.0.0.1 with a password. No IPv6, no other hosts.
  as_owner tee "$PG_DATA/pg_hba.conf" >/dev/null <<'EOF'
# Written by scripts/pg.sh.
local   all  all                 trust
host    all  all  127.0.0.1/32   scram-sha-256
EOF
  # Settings live in their own file, rewritten at each start (the port may change).
  printf "include_if_exists = 'fls.conf'\n" | as_owner tee -a "$PG_DATA/postgresql.conf" >/dev/null
}

write_settings() {
  # fsync and full_page_writes stay on: the tests check durability, so no unsafe speed-ups.
  as_owner tee "$PG_DATA/fls.conf" >/dev/null <<EOF
# Written by scripts/pg.sh at each start; edits are lost.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCKET_DIR'
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
fsync = on
full_page_writes = on
synchronous_commit = on
shared_buffers = 128MB
max_connections = 200
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  printf '%s\n' "$PG_PORT" | as_owner tee "$PG_PORT_FILE" >/dev/null
}

# psql over the private socket as fls; -X ignores any ~/.psqlrc.
psql_socket() {
  as_owner "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U "$PG_USER" "$@"
}

create_databases() {
  local db
  for db in "${PG_DATABASES[@]}"; do
    if [[ "$(psql_socket -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]]; then
      psql_socket -d postgres -c "CREATE DATABASE $db OWNER $PG_USER" >/dev/null
      echo "pg.sh: created database $db"
    fi
  done
}

# Waits for the server to accept TCP connections on 127.0.0.1, the way clients will connect.
# pg_ctl has already waited (up to START_TIMEOUT) for the socket; this only confirms TCP, so
# it gets a short bound of its own.
wait_ready() {
  local bound=10 deadline
  deadline=$((SECONDS + bound))
  until as_owner "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; do
    if ! is_running; then
      tail -n 30 "$PG_LOG" >&2 || true
      die "server exited during start-up; see $PG_LOG"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$PG_LOG" >&2 || true
      die "server not ready on 127.0.0.1:$PG_PORT after ${bound}s; see $PG_LOG"
    fi
    sleep 0.5
  done
}

cmd_start() {
  check_binaries
  prepare_dir
  if is_running; then
    local port
    port="$(running_port)"
    [[ "$port" == "$PG_PORT" ]] ||
      die "cluster in $PG_DIR already runs on port $port, not $PG_PORT; stop it first"
    echo "pg.sh: already running on 127.0.0.1:$PG_PORT ($PG_DIR)"
  else
    init_cluster
    write_settings
    echo "pg.sh: starting on 127.0.0.1:$PG_PORT ($PG_DIR)"
    # pg_ctl -w notices a server that dies during start-up; wait_ready then checks TCP too.
    as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$START_TIMEOUT" start >/dev/null ||
      { tail -n 30 "$PG_LOG" >&2 || true; die "server failed to start (or took over ${START_TIMEOUT}s); see $PG_LOG"; }
  fi
  wait_ready
  create_databases
  echo "pg.sh: ready: $(uri fls_sidecar | sed 's#//fls:[^@]*@#//fls:***@#')"
}

cmd_stop() {
  check_binaries
  if ! is_running; then
    echo "pg.sh: not running ($PG_DIR)"
    return 0
  fi
  # Fast: roll back open sessions and shut down cleanly (a checkpoint, no crash recovery next time).
  as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null || die "pg_ctl stop failed; see $PG_LOG"
  echo "pg.sh: stopped ($PG_DIR)"
}

cmd_status() {
  check_binaries
  if is_running; then
    echo "pg.sh: running on 127.0.0.1:$(running_port) ($PG_DIR)"
    as_owner "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$(running_port)" || true
  elif [[ -f "$PG_DATA/PG_VERSION" ]]; then
    echo "pg.sh: stopped ($PG_DIR)"
    return 3
  else
    echo "pg.sh: no cluster in $PG_DIR"
    return 3
  fi
}

# Removes the folder, but only one this script made (the marker), never an arbitrary path.
cmd_destroy() {
  [[ -e "$PG_DIR" ]] || { echo "pg.sh: nothing in $PG_DIR"; return 0; }
  [[ -f "$PG_MARKER" ]] || die "$PG_DIR was not made by pg.sh; not removing it"
  cmd_stop
  rm -rf -- "$PG_DIR"
  echo "pg.sh: removed $PG_DIR"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop && cmd_start ;;
  status) cmd_status ;;
  uri) (($# <= 2)) || usage; uri "${2:-postgres}" ;;
  destroy) cmd_destroy ;;
  *) usage ;;
esac
