"""The drill report: JSON fields, RTO per tenant, the HTML page with its inline chart."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from failover.drill.checker import CopyRow, check
from failover.drill.loadgen import Attempt
from failover.drill.report import (
    DrillContext,
    PrimaryChange,
    build_report,
    list_reports,
    new_report_dir,
    percentile,
    write_report,
)

T1, T2, T3 = "041009", "271004", "131016"
T0 = 1_800_000_000.0  # the drill's start (Unix time)
REQUIRED = {
    "scenario",
    "target",
    "mode",
    "tenants_affected",
    "detection_seconds",
    "rto_seconds",
    "acknowledged_writes",
    "lost_acknowledged_writes",
    "duplicate_writes",
    "split_brain_violations",
    "quarantined_entries",
    "digest_mismatches",
}


def _attempt(tenant: str, n: int, t: float, site: str, status: int | None) -> Attempt:
    return Attempt(
        t=T0 + t,
        t_done=T0 + t + 0.02,
        tenant=tenant,
        id=f"{tenant}-{n}",
        n=n,
        attempt=1,
        site=site,
        status=status,
        served_by=site if status else None,
        epoch=(5 if site == "aws-tokyo" else 9) if status else None,
        final=status is not None,
    )


def _drill() -> tuple[DrillContext, list[Attempt]]:
    """aws-tokyo is killed at t=3 s; T1 and T2 move to gcp-osaka at t=4.5 s and t=5 s."""
    attempts: list[Attempt] = []
    n = 0
    for tenant in (T1, T2, T3):
        for tick in range(20):
            t = tick * 0.5
            n += 1
            if tenant == T3:
                attempts.append(_attempt(tenant, n, t, "sakura-ishikari", 201))
            elif t < 3:
                attempts.append(_attempt(tenant, n, t, "aws-tokyo", 201))
            elif t < (4.5 if tenant == T1 else 5.0):
                attempts.append(_attempt(tenant, n, t, "aws-tokyo", None))
            else:
                attempts.append(_attempt(tenant, n, t, "gcp-osaka", 201))
    timeline = [
        PrimaryChange(T0, T1, "aws-tokyo", 5),
        PrimaryChange(T0, T2, "aws-tokyo", 5),
        PrimaryChange(T0, T3, "sakura-ishikari", 6),
        PrimaryChange(T0 + 4.4, T1, "gcp-osaka", 9),
        PrimaryChange(T0 + 4.9, T2, "gcp-osaka", 9),
    ]
    ctx = DrillContext(
        scenario="site-kill",
        target="aws-tokyo",
        mode="sync",
        started_at=T0,
        ended_at=T0 + 10.5,
        fault_at=T0 + 3.0,
        detected_at=T0 + 3.8,
        affected=(T1, T2),
        tenants=(T1, T2, T3),
        timeline=timeline,
        load={"rate": 6, "duration": 10},
        notes=["a note <with markup>"],
    )
    return ctx, attempts


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0
    assert percentile([1.0, 2.0], 50) == 1.0 and percentile([1.0, 2.0], 99) == 2.0


def test_the_report_has_every_field_and_rto_per_tenant() -> None:
    ctx, attempts = _drill()
    copies = {
        "gcp-osaka": {
            t: [CopyRow(a.tenant, a.id) for a in attempts if a.acknowledged and a.tenant == t]
            for t in (T1, T2)
        },
        "sakura-ishikari": {T3: [CopyRow(a.tenant, a.id) for a in attempts if a.tenant == T3]},
    }
    primaries = {T1: "gcp-osaka", T2: "gcp-osaka", T3: "sakura-ishikari"}
    result = check(attempts, copies, primaries=primaries)
    report = build_report(ctx, attempts, result)
    assert REQUIRED <= set(report)
    assert report["tenants_affected"] == [T1, T2]
    assert report["detection_seconds"] == 0.8
    # first acks at gcp-osaka: T1 at 4.5 s, T2 at 5.0 s (+ 20 ms answer) after the fault at 3 s
    assert report["rto_seconds"]["per_tenant"] == {T1: 1.52, T2: 2.02}
    assert report["rto_seconds"]["p50"] == 1.52
    assert report["rto_seconds"]["p99"] == 2.02 and report["rto_seconds"]["max"] == 2.02
    assert report["rto_seconds"]["not_recovered"] == []
    assert report["acknowledged_writes"] == sum(1 for a in attempts if a.acknowledged)
    assert report["lost_acknowledged_writes"] == 0 and report["ok"] is True
    assert report["split_brain_violations"] == 0
    assert report["load"]["unacknowledged_writes"] == 7  # failed once, never retried
    assert report["placements"][-1]["primary"] == "gcp-osaka"
    json.dumps(report)  # serialisable as it is


def test_a_tenant_that_never_came_back_has_no_rto() -> None:
    ctx, attempts = _drill()
    ctx.timeline = [c for c in ctx.timeline if c.primary != "gcp-osaka"]  # no failover seen
    report = build_report(ctx, attempts, check(attempts, {}))
    assert report["rto_seconds"]["per_tenant"] == {T1: None, T2: None}
    assert report["rto_seconds"]["p50"] is None
    assert report["rto_seconds"]["not_recovered"] == [T1, T2]
    # lost nothing, yet the tenants were down for the rest of the drill: not ok
    (recovered,) = [e for e in report["expectations"] if "took writes again" in e["name"]]
    assert recovered["ok"] is False and T1 in recovered["detail"]
    assert report["ok"] is False


def test_report_files_html_chart_and_listing(tmp_path: Path) -> None:
    ctx, attempts = _drill()
    result = check(attempts, {"gcp-osaka": {T1: [], T2: []}}, primaries={T1: "gcp-osaka"})
    report = build_report(ctx, attempts, result)
    folder = new_report_dir(tmp_path / "drills", "site-kill", datetime(2026, 11, 22, tzinfo=UTC))
    assert folder.name == "20261122T000000Z-site-kill"
    again = new_report_dir(tmp_path / "drills", "site-kill", datetime(2026, 11, 22, tzinfo=UTC))
    assert again.name == "20261122T000000Z-site-kill-2"
    json_path, html_path = write_report(folder, report, ctx, attempts)
    assert json.loads(json_path.read_text())["scenario"] == "site-kill"
    html = html_path.read_text()
    assert '<svg id="timeline"' in html and 'class="acks"' in html and 'class="errors"' in html
    assert html.count('class="primary"') == 5  # one segment per placement period
    assert "gcp-osaka (epoch 9)" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no CDN
    assert "<script src" not in html
    assert "a note &lt;with markup&gt;" in html  # escaped
    assert "不合格 / FAIL" in html  # lost writes: the acknowledged ones are missing
    listed = list_reports(tmp_path / "drills")
    assert [r.path for r in listed] == [folder]
    assert listed[0].counts["lost_acknowledged_writes"] == report["lost_acknowledged_writes"] > 0
    assert list_reports(tmp_path / "nothing") == []
