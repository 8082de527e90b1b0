#!/usr/bin/env bash
# 訓練の実行 / Run one drill. See docs/runbook.md.
set -euo pipefail

usage() {
    cat <<'USAGE'
使い方 / usage: run-drill.sh --scenario S --target SITE [options]

負荷をかけながら障害を起こし、検査して報告を保存します（yui drill run）。
Runs one drill with load (yui drill run): fault, failover, check, report.

シナリオ / scenarios:
  site-kill      サイトの全プロセスに SIGKILL / SIGKILL every process of the site
  site-freeze    SIGSTOP、フェイルオーバー後に SIGCONT / SIGSTOP, SIGCONT after the failover
  partition      分断（まだ実行できません） / cut off (cannot run yet; says why)
  etcd-minority  etcd メンバーを一つ停止 / one etcd member killed
  etcd-down      etcd 全停止: 何もフェイルオーバーしない / all etcd down: nothing fails over
  switchover     計画切替（制御役が必要） / planned switchover (needs the controller)
  evacuate       サイト退避（制御役が必要） / evacuate a site (needs the controller)

options:
  --scenario S      上のいずれか / one of the above (required)
  --target SITE     対象サイト / the site, e.g. aws-tokyo (required)
  --load N          書き込み/秒 / writes per second (default 20)
  --duration N      負荷の秒数 / seconds of load (default 20)
  --tenants N       自治体数 / tenants to load (default 2)
  --mode M          sync | async (default sync)
  --root DIR        サンドボックス / sandbox folder (default var/sandbox)
  --drills DIR      報告の保存先 / reports folder (default var/drills)
  --skip-precheck   事前確認を省く / do not run precheck.sh first
  -h, --help        この説明 / this help

終了コード / exit: 0 合格 / passed; 1 違反あり / a violation was found;
  2 実行できない / the drill could not run (the message says why)
環境変数 / env: YUI=path/to/yui (default: yui on PATH, else .venv/bin/yui)
USAGE
}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SCENARIO=""
TARGET=""
LOAD=20
DURATION=20
TENANTS=2
MODE=sync
ROOT="var/sandbox"
DRILLS="var/drills"
PRECHECK=1
while (($#)); do
    case "$1" in
    --scenario) SCENARIO="${2:?--scenario needs a value}"; shift 2 ;;
    --target) TARGET="${2:?--target needs a site}"; shift 2 ;;
    --load) LOAD="${2:?--load needs a number}"; shift 2 ;;
    --duration) DURATION="${2:?--duration needs seconds}"; shift 2 ;;
    --tenants) TENANTS="${2:?--tenants needs a number}"; shift 2 ;;
    --mode) MODE="${2:?--mode needs sync or async}"; shift 2 ;;
    --root) ROOT="${2:?--root needs a folder}"; shift 2 ;;
    --drills) DRILLS="${2:?--drills needs a folder}"; shift 2 ;;
    --skip-precheck) PRECHECK=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "不明な引数 / unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [[ -z "$SCENARIO" || -z "$TARGET" ]]; then
    echo "--scenario と --target が必要です / --scenario and --target are required (see --help)" >&2
    exit 2
fi

if [[ -n "${YUI:-}" ]]; then
    YUI_BIN="$YUI"
elif command -v yui >/dev/null 2>&1; then
    YUI_BIN="$(command -v yui)"
else
    YUI_BIN="$HERE/../../.venv/bin/yui"
fi
export YUI="$YUI_BIN"

if ((PRECHECK)) && [[ "$SCENARIO" != "partition" ]]; then
    if ! "$HERE/precheck.sh" --root "$ROOT" --drills "$DRILLS"; then
        echo "事前確認に失敗しました。訓練しません / the pre-check failed: no drill" >&2
        exit 2
    fi
fi

echo "訓練開始 / drill: $SCENARIO → $TARGET (load $LOAD/s, $DURATION s, $TENANTS tenants, $MODE)"
rc=0
"$YUI_BIN" drill run --scenario "$SCENARIO" --target "$TARGET" --load "$LOAD" \
    --duration "$DURATION" --tenants "$TENANTS" --mode "$MODE" \
    --root "$ROOT" --drills "$DRILLS" || rc=$?
case "$rc" in
0) echo "合格 / PASSED" ;;
1) echo "不合格: 報告を確認してください / FAILED: read the report (collect-report.sh)" >&2 ;;
*) echo "訓練を実行できませんでした / the drill could not run (exit $rc)" >&2 ;;
esac
exit "$rc"
