"""`yui replication …`: status, verify, quarantine, keys (wired into `yui` by the CLI root).

Commands that ask other sites sign their requests as this site (its replication key,
from the same settings as its node); the sites come from the topology file.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.console import Console
from rich.table import Table

from replication.protocol.client import PeerClient, PeerError
from replication.protocol.signing import generate_site_keys
from replication.protocol.wire import NodeStatus
from replication.replica import quarantine as quarantined
from replication.setup import site_key, topology_peers
from replication.verify.copies import verify_tenant
from yui.db import schema
from yui.db.database import Database
from yui.errors import YuiError
from yui.settings import Settings, SettingsError, load_settings
from yui.tls import client_verify

app = typer.Typer(help="複製 / replication between sites", no_args_is_help=True)
quarantine_app = typer.Typer(help="隔離されたエントリ / quarantined entries", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")


def _fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[bold red]エラー / error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        raise _fail(str(error), 2) from None


@contextmanager
def _database(command: typer.Context) -> Iterator[Database]:
    db = Database(_settings().effective_database_url)
    try:
        db.migrate(schema.history_of(command))
        yield db
    except YuiError as error:
        raise _fail(error.detail, 2 if error.status in (400, 404, 409, 422) else 1) from None
    finally:
        db.dispose()


def _with_client(work: Callable[[PeerClient, list[str]], Awaitable[T]]) -> T:
    settings = _settings()
    peers = topology_peers(settings)
    if not peers.urls:
        raise _fail("YUI_TOPOLOGY_FILE: the sites to ask are named in the topology file", 2)

    # this site's certificate (YUI_TLS_*): the sites verify it (mutual TLS) and it verifies
    # them against the platform's CA only; the environment's proxies are never used
    verify = client_verify(settings.tls_files)

    async def run() -> T:
        async with httpx.AsyncClient(timeout=60.0, trust_env=False, verify=verify) as http:
            client = PeerClient(site_key(settings), peers, http)
            return await work(client, sorted(peers.urls))

    return asyncio.run(run())


async def _statuses(client: PeerClient, sites: list[str]) -> dict[str, NodeStatus | str]:
    async def one(site: str) -> NodeStatus | str:
        try:
            return await client.node_status(site)
        except (PeerError, httpx.HTTPError) as error:
            return f"{type(error).__name__}: {error}"

    answers = await asyncio.gather(*(one(site) for site in sites))
    return dict(zip(sites, answers, strict=True))


@app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False) -> None:
    """各テナントの遅延と同期集合 / lag (entries, seconds) per tenant and replica, and the ISR."""
    answers = _with_client(_statuses)
    if as_json:
        print(
            json.dumps(
                {
                    s: a if isinstance(a, str) else a.model_dump(mode="json")
                    for s, a in answers.items()
                },
                ensure_ascii=False,
            )
        )
        return
    table = Table(
        "テナント / tenant",
        "主系 / primary",
        "複製 / replica",
        "ISR",
        "確認済 / acked",
        "遅延(件) / lag",
        "遅延(秒) / lag s",
        "状態 / state",
    )
    for site, answer in answers.items():
        if isinstance(answer, str):
            table.add_row("-", site, "-", "-", "-", "-", "-", f"[red]unreachable: {answer}[/]")
            continue
        for tenant in answer.tenants:
            for replica in tenant.replicas:
                table.add_row(
                    tenant.tenant,
                    f"{site} (epoch {tenant.epoch}, {tenant.mode})",
                    replica.replica,
                    "✓" if replica.in_sync else "✗",
                    str(replica.acked_seq if replica.acked_seq is not None else "?")
                    + f"/{tenant.head_seq}",
                    "?" if replica.lag_entries is None else str(replica.lag_entries),
                    "?" if replica.lag_seconds is None else f"{replica.lag_seconds:.2f}",
                    replica.state + (f" ({replica.detail})" if replica.detail else ""),
                )
            if tenant.fenced:
                table.add_row(
                    tenant.tenant, site, "-", "-", "-", "-", "-", f"[red]fenced: {tenant.fenced}[/]"
                )
    console.print(table)


@app.command("verify")
def verify(
    tenant: Annotated[str, typer.Option("--tenant", help="自治体コード / tenant code")],
    wait: Annotated[float, typer.Option(help="seconds a replica may take to reach the seq")] = 60.0,
) -> None:
    """全コピーのダイジェストを比較 / compare the digest of every copy at one seq."""

    async def work(client: PeerClient, sites: list[str]) -> Any:
        answers = await _statuses(client, sites)
        for site, answer in answers.items():
            if isinstance(answer, NodeStatus):
                for placed in answer.tenants:
                    if placed.tenant == tenant:
                        replicas = [r.replica for r in placed.replicas]
                        return await verify_tenant(client, tenant, site, replicas, wait)
        raise _fail(
            f"テナント {tenant} の主系が見つかりません / no site is the primary of {tenant}"
        )

    report = _with_client(work)
    table = Table("サイト / site", "役割 / role", "seq", "ダイジェスト / digest", "行 / rows")
    for copy in report.copies:
        if copy.digest is None:
            table.add_row(copy.site, copy.role, "-", f"[red]{copy.error}[/]", "-")
        else:
            rows = sum(t.rows for t in copy.digest.tables.values())
            table.add_row(
                copy.site, copy.role, str(copy.digest.seq), copy.digest.digest[:16], str(rows)
            )
    console.print(table)
    for difference in report.differences:
        console.print(f"[red]差異 / difference:[/] {difference}")
    if not report.ok:
        raise typer.Exit(1)
    console.print(f"一致 / every copy equal at seq {report.seq}")


@quarantine_app.command("list")
def quarantine_list(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", help="自治体コード")] = None,
    resolved: Annotated[bool, typer.Option("--resolved", help="include resolved entries")] = False,
    all_sites: Annotated[bool, typer.Option("--all-sites", help="ask every site")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
) -> None:
    """隔離されたエントリ / entries kept aside, with their reason."""
    rows: list[dict[str, Any]]
    if all_sites:
        if tenant is None:
            raise _fail("--all-sites needs --tenant", 2)

        async def work(client: PeerClient, sites: list[str]) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            for site in sites:
                try:
                    entries = await client.quarantine(site, tenant, resolved)
                except (PeerError, httpx.HTTPError) as error:
                    errors.print(f"{site}: {error}")
                    continue
                found += [entry.model_dump(mode="json") for entry in entries]
            return found

        rows = _with_client(work)
    else:
        site = _settings().site
        with _database(ctx) as db:
            rows = [
                {
                    "id": r["id"],
                    "tenant": r["tenant_id"],
                    "site": site,
                    "seq": r["seq"],
                    "epoch": r["epoch"],
                    "table": r["table_name"],
                    "op": r["op"],
                    "pk": r["pk"],
                    "row": r["row"],
                    "reason_code": r["reason_code"],
                    "reason": r["reason"],
                    "source_site": r["source_site"],
                    "resolved_at": r["resolved_at"],
                    "resolution": r["resolution"],
                }
                for r in quarantined.listing(db, tenant, include_resolved=resolved)
            ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, default=str))
        return
    table = Table("id", "site", "tenant", "seq", "epoch", "table", "op", "reason", "resolved")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["site"],
            row["tenant"],
            str(row["seq"]),
            str(row["epoch"]),
            row["table"],
            row["op"],
            f"{row['reason_code']}: {row['reason']}",
            str(row["resolution"] or "") if row["resolved_at"] else "",
        )
    console.print(table)


@quarantine_app.command("resolve")
def quarantine_resolve(
    ctx: typer.Context,
    entry_id: Annotated[int, typer.Argument(help="id from `quarantine list`")],
    by: Annotated[str, typer.Option("--by", help="who reconciled it")],
    note: Annotated[str, typer.Option("--note", help="how it was reconciled")],
) -> None:
    """照合済みにする / mark an entry of this site reconciled (it stays, with the note)."""
    with _database(ctx) as db:
        quarantined.resolve(db, entry_id, by, note)
    console.print(f"解決済み / resolved: {entry_id}")


@app.command("keygen")
def keygen(
    directory: Annotated[Path, typer.Option("--dir", help="where the keys go")],
    sites: Annotated[list[str], typer.Argument(help="site names")],
) -> None:
    """サイト鍵の生成 / an Ed25519 key per site (kept if present) and trusted-sites.toml."""
    paths = generate_site_keys(directory, sites)
    for site, path in paths.items():
        console.print(f"{site}: {path}")
    console.print(f"YUI_REPLICATION_TRUST_FILE={directory / 'trusted-sites.toml'}")


# --------------------------------------------------------------------------- backups

backup_app = typer.Typer(
    help="バックアップ / encrypted backups in other sites' S3 buckets", no_args_is_help=True
)


def _plan() -> Any:
    from replication.backup.plan import backup_plan

    try:
        plan = backup_plan(_settings())
    except ValueError as error:
        raise _fail(f"YUI_BACKUP_TARGETS: {error}", 2) from None
    if plan is None:
        raise _fail("YUI_BACKUP_TARGETS is empty: no bucket to back up to", 2)
    return plan


Tenant = Annotated[str, typer.Option("--tenant", help="自治体コード / tenant code")]


@backup_app.command("create")
def backup_create(
    ctx: typer.Context,
    tenant: Tenant,
    job: Annotated[
        bool,
        typer.Option(
            "--job", help="ジョブとして主系のワーカーで / as a job of the primary's worker"
        ),
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="with --job: wait until it is done")] = False,
    timeout: Annotated[float, typer.Option(min=1, help="--wait: seconds")] = 600,
) -> None:
    """今すぐバックアップ / a snapshot and the log since the last backup, now (here, or
    with --job as a background job that the tenant's primary runs and a failover resumes)."""
    from replication.backup.acked import NotOurs
    from replication.backup.archive import NotAcknowledged, create_backup

    plan = _plan()
    if job or wait:
        _backup_job(ctx, tenant, wait, timeout)
        return
    try:
        with _database(ctx) as db:
            made = create_backup(db, tenant, plan.master, plan.buckets, _settings().site)
    except NotOurs as error:
        raise _fail(
            f"{error}。主系のサイトで実行してください / run this at its primary", 2
        ) from None
    except NotAcknowledged as error:
        raise _fail(str(error), 1) from None
    for manifest in made:
        console.print(
            f"{manifest.kind} {manifest.first}–{manifest.last}: {manifest.name} ({manifest.size} B)"
        )
    console.print(f"→ {', '.join(str(b.target) for b in plan.buckets)}")


def _backup_job(ctx: typer.Context, tenant: str, wait: bool, timeout: float) -> None:
    from replication.backup.job import enqueue_backup
    from yui.jobs.service import wait_finished

    with _database(ctx) as db:
        job_id = enqueue_backup(db, tenant, _settings().site)
        console.print(f"ジョブ / job {job_id} (backup, {tenant})")
        if not wait:
            return
        done = wait_finished(
            db,
            tenant,
            job_id,
            timeout=timeout,
            progress=lambda j: console.print(f"  {j.state}: {j.step}/2"),
        )
    if done.state != "done":
        raise _fail(f"バックアップに失敗しました / the backup failed: {done.last_error}", 1)
    console.print(f"held seq {done.results[-1]['held']}: {done.results[-1]['snapshot'] or '-'}")


@backup_app.command("list")
def backup_list(
    tenant: Tenant,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
) -> None:
    """バックアップ一覧 / the backups of a tenant, per bucket."""
    from replication.backup.archive import list_backups

    plan = _plan()
    found = {
        str(b.target): [m.data() for m in list_backups(b, plan.master, tenant)]
        for b in plan.buckets
    }
    if as_json:
        print(json.dumps(found, ensure_ascii=False))
        return
    table = Table("bucket", "kind", "seq", "as of", "bytes", "object")
    for bucket, manifests in found.items():
        for m in manifests:
            table.add_row(
                bucket,
                m["kind"],
                f"{m['first']}–{m['last']}",
                m["as_of"],
                str(m["size"]),
                m["name"],
            )
    console.print(table)


@backup_app.command("verify")
def backup_verify(tenant: Tenant) -> None:
    """全オブジェクトを検証 / download, hash-check and decrypt every object of every bucket."""
    from replication.backup.archive import verify as verify_bucket

    plan = _plan()
    failed = False
    for bucket in plan.buckets:
        result = verify_bucket(bucket, plan.master, tenant)
        if result.error:
            failed = True
            console.print(f"[red]{result.bucket}: {result.error}[/]")
        for checked in result.objects:
            mark = "[green]ok[/]" if checked.error is None else f"[red]{checked.error}[/]"
            console.print(f"{result.bucket} {checked.manifest.name}: {mark}")
            failed = failed or checked.error is not None
    if failed:
        raise typer.Exit(1)


@backup_app.command("restore")
def backup_restore(
    ctx: typer.Context,
    tenant: Tenant,
    into: Annotated[str, typer.Option("--into", help="database URL to restore into")],
    seq: Annotated[int | None, typer.Option("--seq", help="restore to this seq")] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="restore to this moment (ISO 8601)")
    ] = None,
    bucket: Annotated[int, typer.Option("--bucket", help="which target (0 = first)")] = 0,
) -> None:
    """時点復元 / rebuild the tenant as it was at a seq or a moment, in another database."""
    from datetime import datetime

    from replication.backup.archive import TargetNotEmpty, restore
    from replication.backup.crypto import BackupCorrupted
    from replication.verify.digest import tenant_digest

    plan = _plan()
    moment = datetime.fromisoformat(at) if at else None
    if moment is not None and moment.tzinfo is None:
        raise _fail("--at needs a time zone (e.g. 2026-11-22T06:00:00+09:00)", 2)
    target = Database(into)
    try:
        target.migrate(schema.history_of(ctx))
        restored = restore(plan.buckets[bucket], plan.master, tenant, target, seq=seq, at=moment)
        digest = tenant_digest(target, tenant)
    except BackupCorrupted as error:
        raise _fail(
            f"バックアップが壊れています。何も復元していません / the backup is damaged; nothing "
            f"was restored: {error}"
        ) from None
    except TargetNotEmpty as error:
        raise _fail(str(error), 2) from None
    finally:
        target.dispose()
    console.print(
        f"復元 / restored {tenant} at seq {restored.seq} (snapshot {restored.snapshot_seq} "
        f"+ {restored.entries_applied} entries); digest {digest.digest}",
        highlight=False,
    )
    console.print(restored.summary(), highlight=False)
