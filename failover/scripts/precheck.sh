#!/usr/bin/env bash
# 訓練前の確認 / Pre-check before a drill. See docs/runbook.md.
set -euo pipefail

usage() {
    cat <<'USAGE'
使い方 / usage: precheck.sh [--root DIR] [--drills DIR]

訓練を始める前に、サンドボックスが訓練できる状態かを確かめます。
Checks that the sandbox is ready for a drill:

  1. yui コマンド / the yui command runs
  2. 全プロセスが稼働中 / every sandbox process is running (none frozen or crashed)
  3. 各サイトノードが準備完了 / every site node answers /readyz
  4. 各 etcd メンバーが健全 / every etcd member answers /health
  5. 訓練プローブ API がある / the drill-probe endpoint is mounted (/openapi.json)
  6. 管理者の資格情報が 0600 / credentials.txt exists with mode 0600
  7. 報告用の空き容量 / at least 100 MB free for the reports

options:
  --root DIR    サンドボックスのフォルダ / sandbox folder (default: var/sandbox)
  --drills DIR  報告の保存先 / where reports go (default: var/drills)
  -h, --help    この説明 / this help

終了コード / exit: 0 すべて良好 / all good; 1 問題あり / a check failed; 2 使い方の誤り / bad usage
環境変数 / env: YUI=path/to/yui (default: yui on PATH, else .venv/bin/yui)
USAGE
}

ROOT="var/sandbox"
DRILLS="var/drills"
while (($#)); do
    case "$1" in
    --root) ROOT="${2:?--root needs a folder}"; shift 2 ;;
    --drills) DRILLS="${2:?--drills needs a folder}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "不明な引数 / unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

find_yui() {
    if [[ -n "${YUI:-}" ]]; then
        printf '%s\n' "$YUI"
    elif command -v yui >/dev/null 2>&1; then
        command -v yui
    else
        local here
        here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
        printf '%s\n' "$here/.venv/bin/yui"
    fi
}
YUI_BIN="$(find_yui)"

failures=0
ok() { printf '  \342\234\223 %s\n' "$*"; }
bad() { printf '  \342\234\227 %s\n' "$*" >&2; failures=$((failures + 1)); }

http_ok() { curl -fsS --max-time 3 "$1" >/dev/null 2>&1; }

echo "訓練前確認 / drill pre-check (root: $ROOT)"

if ! command -v curl >/dev/null 2>&1; then
    bad "curl がありません / curl is missing (apt-get install curl)"
    exit 1
fi
if status="$("$YUI_BIN" sandbox status --root "$ROOT" --json 2>/dev/null)"; then
    ok "yui: $YUI_BIN"
else
    bad "yui が動きません / yui does not run: $YUI_BIN (set YUI=...)"
    exit 1
fi
# One process per line: {"name": ..., "role": ..., "port": ..., "state": ...}
processes="$(printf '%s\n' "$status" | sed 's/}, {/}\n{/g')"
if [[ "$status" == "[]" ]]; then
    bad "サンドボックスが起動していません / the sandbox is not up (yui sandbox up --root $ROOT)"
    exit 1
fi
not_running="$(printf '%s\n' "$processes" | grep -v '"state": "running"' | grep -o '"name": "[^"]*"' | cut -d'"' -f4 || true)"
if [[ -z "$not_running" ]]; then
    ok "全プロセス稼働中 / every process is running"
else
    bad "稼働していないプロセス / not running: $(printf '%s' "$not_running" | tr '\n' ' ')"
fi

# host: 127.0.0.1, or the site's namespace address (yui sandbox up --netns)
while read -r host port; do
    [[ -n "$port" ]] || continue
    if curl -fsS --max-time 3 "http://$host:$port/health" 2>/dev/null | grep -q '"health":"true"'; then
        ok "etcd $host:$port 健全 / healthy"
    else
        bad "etcd $host:$port が不健全 / unhealthy"
    fi
done < <(printf '%s\n' "$processes" | grep '"role": "etcd"' |
    sed -n 's/.*"port": \([0-9]*\), "host": "\([^"]*\)".*/\2 \1/p')

topology="$ROOT/topology.toml"
if [[ ! -f "$topology" ]]; then
    bad "トポロジーがありません / no topology file: $topology"
else
    probes_seen=0
    while read -r url; do
        [[ -n "$url" ]] || continue
        if http_ok "$url/readyz"; then
            ok "$url 準備完了 / ready"
        else
            bad "$url が準備できていません / not ready"
        fi
        if curl -fsS --max-time 5 "$url/openapi.json" 2>/dev/null | grep -q '/drill-probes'; then
            probes_seen=1
        fi
    done < <(sed -n 's/^url = "\(.*\)"$/\1/p' "$topology")
    if ((probes_seen)); then
        ok "訓練プローブ API あり / drill-probe endpoint mounted"
    else
        bad "訓練プローブ API がありません / no drill-probe endpoint (POST /api/v1/{tenant}/drill-probes)"
    fi
fi

credentials="$ROOT/credentials.txt"
if [[ -f "$credentials" ]] && [[ "$(stat -c '%a' "$credentials")" == "600" ]]; then
    ok "資格情報 0600 / credentials.txt is 0600"
else
    bad "資格情報がないか権限が広すぎます / credentials.txt missing or not 0600: $credentials"
fi

mkdir -p "$DRILLS"
free_kb="$(df -Pk "$DRILLS" | awk 'NR == 2 {print $4}')"
if ((free_kb >= 102400)); then
    ok "空き容量 / free space: $((free_kb / 1024)) MB in $DRILLS"
else
    bad "空き容量不足 / less than 100 MB free in $DRILLS"
fi

if ((failures)); then
    echo "問題 $failures 件 / $failures check(s) failed" >&2
    exit 1
fi
echo "訓練できます / ready for a drill"
