#!/usr/bin/env bash
# 報告の回収 / Collect a drill's report. See docs/runbook.md.
set -euo pipefail

usage() {
    cat <<'USAGE'
使い方 / usage: collect-report.sh [REPORT_DIR | latest] [--drills DIR] [--root DIR] [--out FILE]

訓練の報告（report.json, report.html, attempts.jsonl）に、サンドボックスの状態と
各プロセスのログの末尾を加えて一つの tar.gz にまとめ、要約を表示します。
Bundles a drill's report (report.json, report.html, attempts.jsonl) with the sandbox's
process states and the tail of every process log into one tar.gz, and prints a summary.

arguments:
  REPORT_DIR    報告のフォルダ、または latest / a report folder, or latest (default)

options:
  --drills DIR  報告の保存先 / reports folder (default var/drills)
  --root DIR    サンドボックス / sandbox folder (default var/sandbox)
  --out FILE    出力先 / the archive (default: REPORT_DIR.tar.gz)
  --lines N     ログの末尾の行数 / log lines kept per process (default 500)
  -h, --help    この説明 / this help

終了コード / exit: 0 回収した / collected; 1 報告がない / no such report; 2 使い方の誤り / bad usage
環境変数 / env: YUI=path/to/yui (default: yui on PATH, else .venv/bin/yui)
USAGE
}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPORT="latest"
DRILLS="var/drills"
ROOT="var/sandbox"
OUT=""
LINES=500
while (($#)); do
    case "$1" in
    --drills) DRILLS="${2:?--drills needs a folder}"; shift 2 ;;
    --root) ROOT="${2:?--root needs a folder}"; shift 2 ;;
    --out) OUT="${2:?--out needs a file}"; shift 2 ;;
    --lines) LINES="${2:?--lines needs a number}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "不明な引数 / unknown argument: $1 (see --help)" >&2; exit 2 ;;
    *) REPORT="$1"; shift ;;
    esac
done

if [[ -n "${YUI:-}" ]]; then
    YUI_BIN="$YUI"
elif command -v yui >/dev/null 2>&1; then
    YUI_BIN="$(command -v yui)"
else
    YUI_BIN="$HERE/../../.venv/bin/yui"
fi

if [[ "$REPORT" == "latest" ]]; then
    REPORT="$("$YUI_BIN" drill list --drills "$DRILLS" --json | grep -o '"path": "[^"]*"' | head -1 | cut -d'"' -f4 || true)"
    if [[ -z "$REPORT" ]]; then
        echo "報告がありません / no reports in $DRILLS" >&2
        exit 1
    fi
fi
if [[ ! -f "$REPORT/report.json" ]]; then
    echo "報告がありません / no report.json in $REPORT" >&2
    exit 1
fi
REPORT="$(cd "$REPORT" && pwd)"
OUT="${OUT:-$REPORT.tar.gz}"

staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
bundle="$staging/$(basename "$REPORT")"
mkdir -p "$bundle/logs"
cp -p "$REPORT"/report.json "$REPORT"/report.html "$bundle/"
if [[ -f "$REPORT/attempts.jsonl" ]]; then
    cp -p "$REPORT/attempts.jsonl" "$bundle/"
fi
"$YUI_BIN" sandbox status --root "$ROOT" --json >"$bundle/sandbox-status.json" 2>/dev/null || true
if [[ -d "$ROOT/logs" ]]; then
    while IFS= read -r -d '' log; do
        name="${log#"$ROOT/logs/"}"
        mkdir -p "$bundle/logs/$(dirname "$name")"
        tail -n "$LINES" "$log" >"$bundle/logs/$name"
    done < <(find "$ROOT/logs" -type f -name '*.log' -print0)
fi
tar -czf "$OUT" -C "$staging" "$(basename "$REPORT")"

"$YUI_BIN" drill show "$REPORT" --drills "$DRILLS"
echo "回収しました / collected: $OUT"
