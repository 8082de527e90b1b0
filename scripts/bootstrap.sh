#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine with Python 3.11+.
#
#   scripts/bootstrap.sh [--with-postgres] [--with-chromium]
#
# - installs the Debian packages that are missing (etcd-server, etcd-client,
#   redis-server; postgresql with --with-postgres; chromium and a Japanese font with
#   --with-chromium, for the console's browser tests: Playwright drives Debian's chromium,
#   never a browser of its own, so `playwright install` is never run),
#   through sudo only when not root;
# - creates .venv when missing and runs `pip install -e '.[dev]'` only when
#   pyproject.toml or setup.py changed since the last install.
#
# The distro's own redis/etcd/postgres services may be started by the package
# install; they are left alone. Nothing here or in the tests depends on them:
# the tests start their own servers on free loopback ports.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

with_postgres=0
with_chromium=0
for arg in "$@"; do
    case "$arg" in
        --with-postgres) with_postgres=1 ;;
        --with-chromium) with_chromium=1 ;;
        -h | --help)
            sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "bootstrap: unknown option: $arg (expected --with-postgres, --with-chromium)" >&2
            exit 2
            ;;
    esac
done

say() { printf 'bootstrap: %s\n' "$*"; }
die() {
    printf 'bootstrap: error: %s\n' "$*" >&2
    exit 1
}
# fail_with_log LOG MESSAGE: show the end of a quiet command's output, then die.
fail_with_log() {
    tail -n 40 "$1" >&2 || true
    rm -f "$1"
    die "$2"
}

VENV="$ROOT/.venv"
STAMP="$VENV/.yui-install.sha256"

# --- Python ------------------------------------------------------------------
is_py311() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; }

PY=""
for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && is_py311 "$candidate"; then
        PY="$(command -v "$candidate")"
        break
    fi
done
if [[ -z "$PY" ]]; then
    found="none"
    if command -v python3 >/dev/null 2>&1; then
        found="$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null || echo unknown)"
    fi
    die "Python 3.11 or newer is required (python3.11/python3 found: $found). On Debian 12: apt-get install python3 python3-venv"
fi

venv_ok() { [[ -x "$VENV/bin/python" ]] && is_py311 "$VENV/bin/python"; }

# --- Debian packages ---------------------------------------------------------
have_pg_bins() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]] && return 0
    done
    return 1
}

missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v redis-server >/dev/null 2>&1 || [[ -x /usr/bin/redis-server ]] || missing+=(redis-server)
if ((with_postgres)); then
    have_pg_bins || missing+=(postgresql)
fi
if ((with_chromium)); then
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    # the console's pages are Japanese: without a CJK font the screenshots show boxes
    [[ -f /usr/share/fonts/opentype/ipafont-gothic/ipagp.ttf ]] || missing+=(fonts-ipafont-gothic)
fi
# Debian splits venv/ensurepip out of python3 itself.
if ! venv_ok && ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    pyver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    missing+=("python${pyver}-venv")
fi

if ((${#missing[@]})); then
    command -v apt-get >/dev/null 2>&1 ||
        die "missing ${missing[*]} and apt-get is not available; install them by hand"
    SUDO=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 ||
            die "missing ${missing[*]}: run as root or install sudo"
        SUDO=(sudo)
    fi
    say "installing Debian packages: ${missing[*]}"
    aptlog="$(mktemp)"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$aptlog" 2>&1 ||
        fail_with_log "$aptlog" "apt-get update failed"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$aptlog" 2>&1 ||
        fail_with_log "$aptlog" "apt-get install ${missing[*]} failed"
    rm -f "$aptlog"
else
    say "Debian packages present"
fi

# --- virtualenv and project install ------------------------------------------
if ! venv_ok; then
    say "creating .venv with $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"
    "$PY" -m venv --clear "$VENV" || die "could not create .venv with $PY"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip ||
        die "could not upgrade pip"
    rm -f "$STAMP"
fi

want="$(sha256sum pyproject.toml setup.py)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [[ "$want" != "$have" ]]; then
    say "installing the project: pip install -e '.[dev]'"
    piplog="$(mktemp)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -e '.[dev]' >"$piplog" 2>&1 ||
        fail_with_log "$piplog" "pip install -e '.[dev]' failed"
    rm -f "$piplog"
    printf '%s\n' "$want" >"$STAMP"
else
    say ".venv up to date"
fi

# --- checkov, in a virtualenv of its own -------------------------------------------
# tests/deploy runs it over infra/terraform and the Dockerfile; its dependencies conflict
# with the project's pins, so it never goes into .venv.
CHECKOV_VENV="$ROOT/.venv-checkov"
CHECKOV_VERSION="3.3.30"
if [[ ! -x "$CHECKOV_VENV/bin/checkov" ]]; then
    say "installing checkov $CHECKOV_VERSION into .venv-checkov"
    ckvlog="$(mktemp)"
    { "$PY" -m venv --clear "$CHECKOV_VENV" &&
        "$CHECKOV_VENV/bin/python" -m pip install --disable-pip-version-check \
            "checkov==$CHECKOV_VERSION"; } >"$ckvlog" 2>&1 ||
        fail_with_log "$ckvlog" "pip install checkov==$CHECKOV_VERSION failed"
    rm -f "$ckvlog"
fi

say "ready"
