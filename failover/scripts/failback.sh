#!/usr/bin/env bash
# 切り戻し / Fail back after a drill. See docs/runbook.md.
set -euo pipefail

usage() {
    cat <<'USAGE'
使い方 / usage: failback.sh --site SITE [--root DIR] [--no-move]

訓練で止めたサイトを戻し、主系を元のサイトへ戻します。
Brings a site broken by a drill back, then moves primaries back to it:

  1. 凍結中なら SIGCONT、停止中なら再起動 / thaw it if frozen, restart it if crashed
     (yui sandbox thaw | restart)
  2. サイトノードの準備完了を待つ / wait until its node is ready
  3. 主系を戻す / move primaries back: yui failover failback
     （制御役のコマンドがまだ無い版では、その旨を表示して終了コード 3）
     (in a build without that command: says so and exits 3)

options:
  --site SITE   戻すサイト / the site to bring back (required)
  --root DIR    サンドボックス / sandbox folder (default var/sandbox)
  --no-move     プロセスだけ戻し主系は動かさない / processes only, leave primaries
  -h, --help    この説明 / this help

終了コード / exit: 0 完了 / done; 1 サイトが戻らない / the site did not come back;
  2 使い方の誤り / bad usage; 3 主系を戻す機能がまだない / failback not available yet
環境変数 / env: YUI=path/to/yui (default: yui on PATH, else .venv/bin/yui)
USAGE
}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SITE=""
ROOT="var/sandbox"
MOVE=1
while (($#)); do
    case "$1" in
    --site) SITE="${2:?--site needs a site}"; shift 2 ;;
    --root) ROOT="${2:?--root needs a folder}"; shift 2 ;;
    --no-move) MOVE=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "不明な引数 / unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [[ -z "$SITE" ]]; then
    echo "--site が必要です / --site is required (see --help)" >&2
    exit 2
fi

if [[ -n "${YUI:-}" ]]; then
    YUI_BIN="$YUI"
elif command -v yui >/dev/null 2>&1; then
    YUI_BIN="$(command -v yui)"
else
    YUI_BIN="$HERE/../../.venv/bin/yui"
fi

site_states() {
    "$YUI_BIN" sandbox status --root "$ROOT" --json | sed 's/}, {/}\n{/g' |
        { grep "\"site\": \"$SITE\"" || true; } | grep -o '"state": "[a-z]*"' | cut -d'"' -f4 | sort -u || true
}

states="$(site_states)"
if [[ -z "$states" ]]; then
    echo "サイト $SITE はありません / no site $SITE in the sandbox at $ROOT" >&2
    exit 2
fi
if grep -qx frozen <<<"$states"; then
    echo "SIGCONT: $SITE"
    "$YUI_BIN" sandbox thaw "$SITE" --root "$ROOT"
fi
states="$(site_states)"
if grep -qvx running <<<"$states"; then
    echo "再起動 / restarting: $SITE"
    "$YUI_BIN" sandbox restart "$SITE" --root "$ROOT"
fi

url="$(awk -v site="$SITE" '
    /^name = / { gsub(/"/, "", $3); current = $3 }
    /^url = / && current == site { gsub(/"/, "", $3); print $3 }
' "$ROOT/topology.toml")"
for _ in $(seq 1 100); do
    if curl -fsS --max-time 2 "$url/readyz" >/dev/null 2>&1; then
        break
    fi
    sleep 0.2
done
if ! curl -fsS --max-time 2 "$url/readyz" >/dev/null 2>&1; then
    echo "$SITE ($url) が準備できません / $SITE is not ready; see $ROOT/logs/$SITE/" >&2
    exit 1
fi
echo "$SITE は稼働中 / $SITE is running ($url)"

if ((MOVE == 0)); then
    exit 0
fi
if help="$("$YUI_BIN" failover failback --help 2>/dev/null)"; then
    if grep -q -- '--site' <<<"$help"; then
        "$YUI_BIN" failover failback --site "$SITE" --root "$ROOT"
    else
        "$YUI_BIN" failover failback
    fi
else
    echo "主系は戻していません: この版には yui failover failback がありません / primaries were not" \
        "moved back: this build has no 'yui failover failback' (the failover controller)" >&2
    exit 3
fi
