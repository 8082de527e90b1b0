#!/usr/bin/env bash
# What `make fuzz` runs: the API fuzz (tests/assembly/test_schemathesis.py) as each role,
# YUI_SCHEMATHESIS_EXAMPLES (500) generated requests per operation, one seed for the run.
#
#   scripts/fuzz.sh                  run, or resume the unfinished run in var/fuzz
#   YUI_FUZZ_ROLES="staff auditor"   only these roles (default: admin staff shelter depot auditor)
#   YUI_FUZZ_FRESH=1                 forget the unfinished run: a new seed, every operation again
#   YUI_SCHEMATHESIS_SEED=N          this seed (a new run unless it is the stored one)
#   YUI_FUZZ_ONLY="POST or PATCH"    only the operations pytest -k selects (here: the writes)
#
# Resumable: each operation's outcome is appended to var/fuzz/<role>.done as it finishes (a
# failure's report to <role>.done.failures at once, pytest's output to <role>.log), and a run
# started again (same seed and examples) skips the operations already done
# (scripts/fuzz_resume.py), so an interrupted run (Ctrl-C, a reboot, a shared machine's load)
# goes on where it stopped. On 2 loaded cores one role takes hours; roles can be run one at a
# time with YUI_FUZZ_ROLES.
# Exits non-zero when any operation failed; the summary names the failures and the seed.
set -uo pipefail

# One function, read whole before it runs: editing this file during a run of hours is safe.
main() {

    ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    cd "$ROOT"
    PYTHON="$ROOT/.venv/bin/python"
    RUN="${YUI_FUZZ_DIR:-$ROOT/var/fuzz}"
    EXAMPLES="${YUI_SCHEMATHESIS_EXAMPLES:-500}"
    ROLES="${YUI_FUZZ_ROLES:-admin staff shelter depot auditor}"
    FUZZ=tests/assembly/test_schemathesis.py

    mkdir -p "$RUN"
    if [[ "${YUI_FUZZ_FRESH:-0}" == 1 || "$(cat "$RUN/examples" 2>/dev/null)" != "$EXAMPLES" ]] ||
        [[ -n "${YUI_SCHEMATHESIS_SEED:-}" && "$(cat "$RUN/seed" 2>/dev/null)" != "$YUI_SCHEMATHESIS_SEED" ]]; then
        rm -f "$RUN"/*.log "$RUN"/*.done "$RUN"/*.failures "$RUN/seed"
    fi
    if [[ ! -f "$RUN/seed" ]]; then
        echo "${YUI_SCHEMATHESIS_SEED:-$(shuf -i 0-4294967295 -n 1)}" >"$RUN/seed"
    fi
    SEED="$(cat "$RUN/seed")"
    echo "$EXAMPLES" >"$RUN/examples"
    echo "fuzz: seed $SEED, $EXAMPLES examples per operation, roles: $ROLES (results in $RUN)"

    started=$(date +%s)
    log=/dev/null
    # Ctrl-C (pytest exits on it) or a kill stops the whole run, not just this role's
    trap 'stopped 130; echo "fuzz: interrupted; run it again to resume" >&2; exit 130' INT TERM
    stopped() {
        echo "=== $(date -u +%FT%TZ) stop: exit $1 after $(($(date +%s) - started)) s" >>"$log"
    }

    for role in $ROLES; do
        log="$RUN/$role.log"
        echo "==> schemathesis as $role ($(cat "$RUN/$role.done" 2>/dev/null | wc -l) operations done before)"
        started=$(date +%s)
        echo "=== $(date -u +%FT%TZ) start: seed $SEED, $EXAMPLES examples, role $role" >>"$log"
        # no per-test timeout: 500 requests to one operation take minutes on a loaded machine;
        # scripts/fuzz_resume.py records each operation's outcome and skips those done before
        PYTHONPATH="$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}" YUI_FUZZ_DONE="$RUN/$role.done" \
            YUI_SCHEMATHESIS_SEED="$SEED" YUI_SCHEMATHESIS_ROLE="$role" YUI_SCHEMATHESIS_EXAMPLES="$EXAMPLES" \
            "$PYTHON" -m pytest "$FUZZ" -p fuzz_resume -v --timeout=0 \
            -k "test_every_operation${YUI_FUZZ_ONLY:+ and ($YUI_FUZZ_ONLY)}" >>"$log" 2>&1
        stopped $?
    done
    trap - INT TERM

    status=0
    echo "fuzz: seed $SEED, $EXAMPLES examples per operation"
    for role in $ROLES; do
        log="$RUN/$role.log"
        passed=$(grep -c '^passed' "$RUN/$role.done" 2>/dev/null)
        failed=$(grep -vc '^passed' "$RUN/$role.done" 2>/dev/null)
        seconds=$(sed -n 's/^=== .* stop: exit .* after \([0-9]*\) s$/\1/p' "$log" | paste -sd+ | bc)
        echo "  $role: ${passed:-0} passed, ${failed:-0} failed, ${seconds:-0} s"
        grep -v '^passed' "$RUN/$role.done" 2>/dev/null | sed 's/^/    /'
        if [[ "${failed:-0}" != 0 ]]; then
            echo "    (each failure's report: $RUN/$role.done.failures)"
            status=1
        fi
    done
    exit "$status"
}

main "$@"
