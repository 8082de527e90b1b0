"""The door-to-door visit list for paper: CSV (for a spreadsheet) and HTML with print CSS.

Every value is the register's text: escaped for HTML, and in CSV a cell that a spreadsheet
would read as a formula (=, +, -, @, tab, CR) is prefixed with an apostrophe. The HTML
page has no script and forbids any (its Content-Security-Policy), so it can be opened
and printed as it is (A4, a header on each page, rows never split across pages).
"""

from __future__ import annotations

import csv
import html
import io
from urllib.parse import quote

from safety_check.views.schemas import VisitEntry, VisitListOut

HEADER = ("優先度", "氏名", "ふりがな", "生年月日", "住所", "電話", "要支援", "いまの報告", "注意")
#: a page with an inline style sheet and nothing else
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

STATUS_LABELS = {
    "information_sought": "情報を求めている",
    "believed_missing": "行方不明と思われる",
}

PRINT_CSS = """
@page { size: A4 portrait; margin: 12mm; }
body { font-family: sans-serif; font-size: 10.5pt; color: #000; }
h1 { font-size: 14pt; margin: 0 0 4mm; }
p.meta { margin: 0 0 4mm; }
table { width: 100%; border-collapse: collapse; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
th, td { border: 1px solid #000; padding: 1.5mm; vertical-align: top; text-align: left; }
td.check { width: 18mm; }
tr.assist td { font-weight: bold; }
.dv { font-weight: bold; }
@media screen { body { max-width: 200mm; margin: 8mm auto; } }
"""


def _cell(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _row(entry: VisitEntry) -> tuple[str, ...]:
    return (
        str(entry.priority) if entry.priority is not None else "",
        f"{entry.family_name} {entry.given_name}",
        f"{entry.family_kana} {entry.given_kana}",
        entry.birth_date.isoformat(),
        entry.address,
        entry.phone,
        "要支援" if entry.needs_assistance else "",
        STATUS_LABELS.get(entry.status.value, entry.status.value) if entry.status else "報告なし",
        "DV等支援措置: 所在を口外しない" if entry.dv_block else "",
    )


def _entries(out: VisitListOut) -> list[VisitEntry]:
    return [*out.needs_assistance, *out.residents]


def visits_csv(out: VisitListOut) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for entry in _entries(out):
        writer.writerow([_cell(value) for value in _row(entry)])
    # with a BOM, spreadsheet programs read the UTF-8 as UTF-8
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def visits_html(out: VisitListOut) -> bytes:
    esc = html.escape
    rows = []
    for entry in _entries(out):
        cells = "".join(f"<td>{esc(value)}</td>" for value in _row(entry))
        css = ' class="assist"' if entry.needs_assistance else ""
        rows.append(f'<tr{css}>{cells}<td class="check"></td></tr>')
    head = "".join(f"<th>{esc(name)}</th>" for name in HEADER) + "<th>訪問 / 結果</th>"
    more = (
        '<p class="meta">続きがあります（次のページを印刷してください） / continued on the '
        "next page of the list</p>"
        if out.next_cursor
        else ""
    )
    page = f"""<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<title>戸別訪問リスト {esc(out.town_name)} / door-to-door visits</title>
<style>{PRINT_CSS}</style></head>
<body>
<h1>戸別訪問リスト / Door-to-door visits — {esc(out.town_name)}</h1>
<p class="meta">{esc(out.campaign_title)}（{len(rows)} 人、要支援者が先 / needs-assistance
first）</p>
<table><thead><tr>{head}</tr></thead><tbody>
{"".join(rows)}
</tbody></table>
{more}
</body></html>
"""
    return page.encode("utf-8")


def page_headers(out: VisitListOut, kind: str) -> dict[str, str]:
    headers = {"Cache-Control": "no-store"}
    if out.next_cursor:
        headers["X-Next-Cursor"] = out.next_cursor
    if kind == "csv":
        name = quote(f"visits-{out.town_name}.csv")
        headers["Content-Disposition"] = (
            f"attachment; filename=\"visits.csv\"; filename*=UTF-8''{name}"
        )
    else:
        headers["Content-Security-Policy"] = PAGE_POLICY
    return headers
