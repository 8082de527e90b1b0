"""The drill report: one JSON document and one self-contained HTML page (inline SVG).

Saved as ``<drills>/<UTC timestamp>-<scenario>/report.{json,html}`` next to the
attempt log (``attempts.jsonl``); :func:`report_paths` and :func:`read_report` list them
for the console a page at a time, :func:`list_reports` all at once (the CLI).
Field definitions: docs/drills.md.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined, select_autoescape

from failover.drill.checker import CheckResult
from failover.drill.loadgen import Attempt

__all__ = [
    "REPORT_VERSION",
    "DrillContext",
    "Expectation",
    "PrimaryChange",
    "ReportSummary",
    "build_report",
    "list_reports",
    "new_report_dir",
    "percentile",
    "read_report",
    "render_html",
    "report_paths",
    "write_report",
]

REPORT_VERSION = 1
REPORT_JSON, REPORT_HTML, ATTEMPTS_LOG = "report.json", "report.html", "attempts.jsonl"


@dataclass(frozen=True)
class PrimaryChange:
    """From time ``t`` on, ``primary`` is the tenant's primary (as observed by the runner)."""

    t: float
    tenant: str
    primary: str | None
    epoch: int | None = None


@dataclass
class DrillContext:
    """What the runner knows about the drill besides the attempts and the check."""

    scenario: str
    target: str
    mode: str
    started_at: float
    ended_at: float
    #: when the fault was injected (None: no fault, e.g. a refused drill)
    fault_at: float | None
    #: when the fault was first noticed (site key gone, placement moved); None if never
    detected_at: float | None = None
    #: the tenants the fault is expected to move (or, for etcd faults, to disturb)
    affected: tuple[str, ...] = ()
    #: True when the affected tenants must leave the target (site faults, planned moves):
    #: then only an acknowledgement from another site ends their outage
    expect_move: bool = True
    tenants: tuple[str, ...] = ()
    timeline: list[PrimaryChange] = field(default_factory=list)
    load: Mapping[str, Any] = field(default_factory=dict)
    outcome: str = "completed"  # completed | refused | failed
    notes: list[str] = field(default_factory=list)
    #: what the scenario must show besides the checker (e.g. "nothing failed over")
    expectations: list[Expectation] = field(default_factory=list)


@dataclass(frozen=True)
class Expectation:
    name: str
    ok: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in (0, 100]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _final_primaries(ctx: DrillContext) -> dict[str, str | None]:
    final: dict[str, str | None] = {}
    for change in sorted(ctx.timeline, key=lambda c: c.t):
        final[change.tenant] = change.primary
    return final


def _rto(ctx: DrillContext, attempts: Sequence[Attempt]) -> dict[str, float | None]:
    """Per affected tenant: fault → first acknowledged write at its primary after the fault."""
    if ctx.fault_at is None:
        return {}
    final = _final_primaries(ctx)
    first: dict[str, float] = {}
    for a in attempts:
        if not a.acknowledged or a.t_done < ctx.fault_at or a.tenant not in ctx.affected:
            continue
        served = a.served_by or a.site
        if final.get(a.tenant) not in (None, served):
            continue
        if ctx.expect_move and served == ctx.target:
            continue
        if a.tenant not in first or a.t_done < first[a.tenant]:
            first[a.tenant] = a.t_done
    return {
        tenant: (round(first[tenant] - ctx.fault_at, 3) if tenant in first else None)
        for tenant in ctx.affected
    }


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()


def build_report(
    ctx: DrillContext, attempts: Sequence[Attempt], result: CheckResult
) -> dict[str, Any]:
    per_tenant = _rto(ctx, attempts)
    measured = [v for v in per_tenant.values() if v is not None]
    not_recovered = sorted(t for t, v in per_tenant.items() if v is None)
    expectations = [*ctx.expectations]
    if ctx.expect_move and ctx.fault_at is not None and ctx.affected:
        expectations.append(_recovered(not_recovered))
    acks = [a for a in attempts if a.acknowledged]
    final_writes = [a for a in attempts if a.final]
    detection = (
        round(ctx.detected_at - ctx.fault_at, 3)
        if ctx.detected_at is not None and ctx.fault_at is not None
        else None
    )
    return {
        "version": REPORT_VERSION,
        "scenario": ctx.scenario,
        "target": ctx.target,
        "mode": ctx.mode,
        "outcome": ctx.outcome,
        "ok": ctx.outcome == "completed" and result.ok and all(e.ok for e in expectations),
        "started_at": _iso(ctx.started_at),
        "ended_at": _iso(ctx.ended_at),
        "fault_at": _iso(ctx.fault_at),
        "tenants": list(ctx.tenants),
        "tenants_affected": list(ctx.affected),
        "detection_seconds": detection,
        "rto_seconds": {
            "p50": percentile(measured, 50),
            "p99": percentile(measured, 99),
            "max": max(measured) if measured else None,
            "per_tenant": per_tenant,
            "not_recovered": not_recovered,
        },
        **result.counts(),
        "check": result.to_json(),
        "load": {
            **ctx.load,
            "writes": len({(a.tenant, a.id) for a in attempts}),
            "attempts": len(attempts),
            "failed_attempts": sum(1 for a in attempts if not a.acknowledged),
            "rejected_writes": sum(1 for a in final_writes if not a.acknowledged),
            "unacknowledged_writes": _gave_up(attempts),
            "acknowledgements": len(acks),
        },
        "placements": [
            {"t": _iso(c.t), "tenant": c.tenant, "primary": c.primary, "epoch": c.epoch}
            for c in sorted(ctx.timeline, key=lambda c: c.t)
        ],
        "expectations": [e.to_json() for e in expectations],
        "notes": list(ctx.notes),
    }


def _recovered(not_recovered: Sequence[str]) -> Expectation:
    """A tenant the fault moved must take writes again at its new primary within the drill:
    a run whose tenant never came back lost nothing, yet it was down (three supplies
    drills of 2026-12-07 passed so, with 041009 never recovered)."""
    return Expectation(
        "書き込みが再開した / every affected tenant took writes again",
        not not_recovered,
        "every affected tenant had a write acknowledged at its primary after the fault"
        if not not_recovered
        else f"{', '.join(not_recovered)}: no write acknowledged at its primary after the fault",
    )


def _gave_up(attempts: Sequence[Attempt]) -> int:
    """Writes still unconfirmed at their deadline: no attempt of theirs is final."""
    done = {(a.tenant, a.id) for a in attempts if a.final}
    return len({(a.tenant, a.id) for a in attempts} - done)


# --------------------------------------------------------------------------- HTML


_WIDTH, _PLOT_H, _LANE_H, _LEFT, _TOP = 900, 180, 22, 70, 20
_PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#e377c2")


@dataclass(frozen=True)
class _Bar:
    x: float
    y: float
    w: float
    h: float
    title: str


@dataclass(frozen=True)
class _Lane:
    tenant: str
    y: float
    segments: tuple[tuple[float, float, str, str], ...]  # x, width, colour, label


def _chart(ctx: DrillContext, attempts: Sequence[Attempt]) -> dict[str, Any]:
    start = ctx.started_at
    span = max(ctx.ended_at - start, 1.0)
    seconds = max(1, math.ceil(span))
    acks: dict[int, int] = defaultdict(int)
    errors: dict[int, int] = defaultdict(int)
    for a in attempts:
        second = min(max(int(a.t_done - start), 0), seconds - 1)
        (acks if a.acknowledged else errors)[second] += 1
    peak = max([*acks.values(), *errors.values(), 1])
    plot_w = _WIDTH - _LEFT - 10
    step = plot_w / seconds

    def x(t: float) -> float:
        return round(_LEFT + (t - start) / span * plot_w, 2)

    def y(value: float) -> float:
        return round(_TOP + _PLOT_H - value / peak * _PLOT_H, 2)

    bars = [
        _Bar(
            round(_LEFT + s * step, 2),
            y(count),
            round(max(step - 1, 0.5), 2),
            round(count / peak * _PLOT_H, 2),
            f"{s}s: {count} acks",
        )
        for s, count in sorted(acks.items())
    ]
    error_points = " ".join(
        f"{round(_LEFT + (s + 0.5) * step, 2)},{y(errors.get(s, 0))}" for s in range(seconds)
    )
    sites = sorted({c.primary for c in ctx.timeline if c.primary} | {a.site for a in attempts})
    colours = {site: _PALETTE[i % len(_PALETTE)] for i, site in enumerate(sites)}
    lanes = []
    by_tenant: dict[str, list[PrimaryChange]] = defaultdict(list)
    for change in sorted(ctx.timeline, key=lambda c: c.t):
        by_tenant[change.tenant].append(change)
    lanes_top = _TOP + _PLOT_H + 40
    for index, tenant in enumerate(sorted(by_tenant)):
        changes = by_tenant[tenant]
        segments = []
        for i, change in enumerate(changes):
            begin = max(change.t, start)
            end = changes[i + 1].t if i + 1 < len(changes) else ctx.ended_at
            if end <= begin:
                continue
            colour = colours.get(change.primary or "", "#bbbbbb")
            label = f"{change.primary or 'none'} (epoch {change.epoch})"
            segments.append((x(begin), round(x(end) - x(begin), 2), colour, label))
        lanes.append(_Lane(tenant, lanes_top + index * (_LANE_H + 4), tuple(segments)))
    height = lanes_top + len(lanes) * (_LANE_H + 4) + 30
    ticks = [
        (round(_LEFT + s * step, 2), s)
        for s in range(0, seconds + 1, max(1, math.ceil(seconds / 10)))
    ]
    return {
        "width": _WIDTH,
        "height": height,
        "left": _LEFT,
        "top": _TOP,
        "plot_h": _PLOT_H,
        "plot_w": plot_w,
        "lane_h": _LANE_H,
        "lanes_top": lanes_top,
        "peak": peak,
        "bars": bars,
        "error_points": error_points,
        "lanes": lanes,
        "legend": sorted(colours.items()),
        "ticks": ticks,
        "fault_x": x(ctx.fault_at) if ctx.fault_at is not None else None,
        "detected_x": x(ctx.detected_at) if ctx.detected_at is not None else None,
    }


def _environment() -> Environment:
    return Environment(
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(report: Mapping[str, Any], ctx: DrillContext, attempts: Sequence[Attempt]) -> str:
    template_text = resources.files("failover.drill").joinpath("report.html").read_text("utf-8")
    template = _environment().from_string(template_text)
    return template.render(
        report=report,
        chart=_chart(ctx, attempts),
        report_json=json.dumps(report, ensure_ascii=False, indent=2),
    )


# --------------------------------------------------------------------------- storage


def new_report_dir(root: Path, scenario: str, now: datetime | None = None) -> Path:
    """``root/<UTC timestamp>-<scenario>``, made unique if two drills start in one second."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = root / f"{stamp}-{scenario}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


def write_report(
    directory: Path,
    report: Mapping[str, Any],
    ctx: DrillContext,
    attempts: Sequence[Attempt],
) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path, html_path = directory / REPORT_JSON, directory / REPORT_HTML
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")
    html_path.write_text(render_html(report, ctx, attempts), "utf-8")
    return json_path, html_path


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    scenario: str
    target: str
    started_at: str | None
    ok: bool
    outcome: str
    counts: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "scenario": self.scenario,
            "target": self.target,
            "started_at": self.started_at,
            "ok": self.ok,
            "outcome": self.outcome,
            **self.counts,
        }


_SUMMARY_FIELDS = (
    "acknowledged_writes",
    "lost_acknowledged_writes",
    "lost_updates",
    "resurrected_deletes",
    "duplicate_writes",
    "split_brain_violations",
    "quarantined_entries",
    "digest_mismatches",
    "unconverged_copies",
    "invariant_violations",
    "detection_seconds",
    "rto_seconds",
)


def report_paths(root: Path) -> list[Path]:
    """The report files under ``root``, newest first (the folder names sort by time); none
    is read, so a page of them costs its own reads only."""
    if not root.is_dir():
        return []
    return sorted(root.glob(f"*/{REPORT_JSON}"), reverse=True)


def read_report(folder: Path) -> tuple[ReportSummary, dict[str, Any]] | None:
    """One saved run's summary and whole report; None when it cannot be read or is no
    report."""
    try:
        data = json.loads((folder / REPORT_JSON).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    summary = ReportSummary(
        path=folder,
        scenario=str(data.get("scenario", "?")),
        target=str(data.get("target", "?")),
        started_at=data.get("started_at"),
        ok=bool(data.get("ok")),
        outcome=str(data.get("outcome", "?")),
        counts={k: data.get(k) for k in _SUMMARY_FIELDS},
    )
    return summary, data


def list_reports(root: Path) -> list[ReportSummary]:
    """Every readable report under ``root``, newest first (the folder names sort by time)."""
    return [found[0] for path in report_paths(root) if (found := read_report(path.parent))]
