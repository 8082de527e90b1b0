#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL cluster.
#
#   scripts/with-postgres.sh CMD [ARGS...]
#
# Starts a fresh cluster in a temp dir, listening on 127.0.0.1 only on a free
# port (unix socket inside the temp dir, trust auth for loopback only), creates
# the database yui_test, exports
#   YUI_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:<port>/yui_test
# runs CMD, then always stops the cluster and removes the temp dir (also on
# Ctrl-C). Exits with CMD's exit code.
#
# initdb/postgres refuse to run as root: as root they run as the `postgres`
# system user (created when absent).
set -euo pipefail

if (($# == 0)); then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

say() { printf 'with-postgres: %s\n' "$*" >&2; }
die() {
    printf 'with-postgres: error: %s\n' "$*" >&2
    exit 1
}

# --- binaries ----------------------------------------------------------------
PGBIN=""
if compgen -G '/usr/lib/postgresql/*/bin' >/dev/null; then
    PGBIN="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin | sort -V | tail -1)"
fi
if [[ -z "$PGBIN" || ! -x "$PGBIN/initdb" ]] && command -v pg_config >/dev/null 2>&1; then
    PGBIN="$(pg_config --bindir)"
fi
[[ -n "$PGBIN" && -x "$PGBIN/initdb" && -x "$PGBIN/pg_ctl" ]] ||
    die "PostgreSQL server binaries not found (run scripts/bootstrap.sh --with-postgres)"

SUPERUSER=postgres
RUN_AS=()
if [[ "$(id -u)" -eq 0 ]]; then
    if ! id -u postgres >/dev/null 2>&1; then
        say "creating system user postgres"
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin postgres
    fi
    RUN_AS=(runuser -u postgres --)
    TMPBASE=/tmp # must be traversable by the postgres user
else
    TMPBASE="${TMPDIR:-/tmp}"
fi

# --- temp dir and clean-up ---------------------------------------------------
WORK="$(mktemp -d "$TMPBASE/yui-pg.XXXXXX")"
DATA="$WORK/data"
SOCK="$WORK/sock"
LOG="$WORK/postgres.log"
started=0

# shellcheck disable=SC2317  # invoked through trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if ((started)); then
        "${RUN_AS[@]}" "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 || {
            # pg_ctl failed: kill the postmaster by its pid file
            local pid
            pid="$(head -1 "$DATA/postmaster.pid" 2>/dev/null || true)"
            if [[ -n "$pid" ]]; then kill -9 "$pid" 2>/dev/null || true; fi
        }
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if ((${#RUN_AS[@]})); then
    chown postgres: "$WORK"
fi
"${RUN_AS[@]}" mkdir -p "$SOCK"

free_port() {
    "${PYTHON:-python3}" - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# --- initdb ------------------------------------------------------------------
"${RUN_AS[@]}" "$PGBIN/initdb" -D "$DATA" -U "$SUPERUSER" --auth=trust \
    --encoding=UTF8 --locale=C --no-sync >"$WORK/initdb.log" 2>&1 || {
    cat "$WORK/initdb.log" >&2
    die "initdb failed"
}
# Loopback only: the unix socket in $SOCK and 127.0.0.1.
"${RUN_AS[@]}" tee "$DATA/pg_hba.conf" >/dev/null <<'EOF'
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
EOF

# --- start (retry: a free port can be taken between probing and binding) ------
for attempt in 1 2 3 4 5; do
    PORT="$(free_port)"
    "${RUN_AS[@]}" tee "$DATA/postgresql.auto.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    started=1
    if "${RUN_AS[@]}" "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null 2>&1; then
        break
    fi
    started=0
    if ((attempt == 5)); then
        cat "$LOG" >&2 || true
        die "PostgreSQL did not start"
    fi
    say "start on port $PORT failed, retrying"
done

"$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U "$SUPERUSER" yui_test ||
    die "createdb yui_test failed"

export YUI_TEST_POSTGRES_URL="postgresql+psycopg://$SUPERUSER@127.0.0.1:$PORT/yui_test"
say "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT ($YUI_TEST_POSTGRES_URL)"

set +e
"$@"
rc=$?
set -e
exit "$rc"
