"""`yui supplies …`: what staff script against the site's database — stock levels,
receipts, issues, transfers and adjustments, the shelters' occupancy, the needs and
shortfalls, the seed catalogue and the ledger check.

The CLI acts as staff of the site it runs on (an operator with the site's database):
every movement is recorded and audited under `--actor` (default: cli:<user>), through
the same service functions as the API, so the same rules refuse the same input.
Exit codes: 0 done, 1 failed (or the check found a mismatch), 2 refused input (nothing
was written).
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from supplies.access import Reach
from supplies.catalogue import service as catalogue
from supplies.evacuees import service as evacuees
from supplies.needs import service as needs
from supplies.places import service as places
from supplies.requests import cli as requests_cli
from supplies.stock import service as stock
from supplies.stock.models import AdjustmentReason
from supplies.stock.schemas import (
    AdjustmentIn,
    AdjustmentLineIn,
    IssueIn,
    PickLineIn,
    ReceiptIn,
    ReceiptLineIn,
    TransferIn,
)
from yui.db import schema
from yui.db.database import Database
from yui.db.unit_of_work import UnitOfWork
from yui.errors import YuiError
from yui.settings import SettingsError, load_settings
from yui.tenancy.service import get_tenant

app = typer.Typer(
    help="物資供給 / relief supplies: stock, receipts, issues, transfers, shelters",
    no_args_is_help=True,
)
console = Console()
errors = Console(stderr=True)
EVERYWHERE = Reach(everywhere=True, places=frozenset())

TenantOption = Annotated[str, typer.Option("--tenant", help="地方公共団体コード, e.g. 041009")]
ActorOption = Annotated[
    str | None, typer.Option("--actor", help="監査ログの実行者 / who acts (default: cli:<user>)")
]
PlaceOption = Annotated[str, typer.Option("--place", help="場所コード / place code, e.g. D-01")]
ItemOption = Annotated[str, typer.Option("--item", help="品目コード / item code, e.g. water-2l")]
QuantityOption = Annotated[str, typer.Option("--quantity", help="数量 / quantity (e.g. 100, 2.5)")]
IdOption = Annotated[
    str | None,
    typer.Option("--id", help="移動ID（UUID、再実行しても一度だけ） / movement id (idempotent)"),
]
NoteOption = Annotated[str, typer.Option("--note", help="メモ / note")]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON で出力 / print JSON")]


def _actor(given: str | None) -> str:
    return given or f"cli:{getpass.getuser()}"


def _fail(message: str, code: int) -> typer.Exit:
    errors.print(f"[bold red]エラー / error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _quantity(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise _fail(f"数量が数ではありません / not a number: {text!r}", 2) from None


@contextmanager
def _unit_of_work(command: typer.Context, tenant: str) -> Iterator[UnitOfWork]:
    """The tenant's unit of work on the site's database (migrated); domain errors and
    refused input become a message and an exit code, and nothing is committed."""
    try:
        settings = load_settings()
    except SettingsError as error:
        raise _fail(str(error), 2) from None
    db = Database(settings.effective_database_url)
    try:
        db.migrate(schema.history_of(command))
        get_tenant(db, tenant)
        with db.unit_of_work(tenant) as uow:
            yield uow
    except ValidationError as error:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in problem['loc'])}: {problem['msg']}"
            for problem in error.errors()
        )
        raise _fail(f"入力が正しくありません / invalid input: {reasons}", 2) from None
    except YuiError as error:
        raise _fail(error.detail, 2 if error.status in (400, 404, 409, 422) else 1) from None
    finally:
        db.dispose()


def _done(uow: UnitOfWork, recorded: stock.Recorded, as_json: bool) -> None:
    uow.commit()
    movement = recorded.movement
    lines = stock.lines_of(uow.session, [movement.id])[movement.id]
    if as_json:
        print(
            json.dumps(
                {
                    "id": movement.id,
                    "kind": movement.kind,
                    "created": recorded.created,
                    "lines": [
                        {
                            "place_id": line.place_id,
                            "item": item.code,
                            "lot": lot.id,
                            "expires_on": lot.expires_on.isoformat() if lot.expires_on else None,
                            "quantity": str(line.quantity),
                        }
                        for line, item, lot in lines
                    ],
                },
                ensure_ascii=False,
            )
        )
        return
    state = "記録しました / recorded" if recorded.created else "記録済み / already recorded"
    console.print(f"[green]{state}[/]: {movement.kind} {movement.id}")
    for line, item, lot in lines:
        expiry = lot.expires_on.isoformat() if lot.expires_on else "-"
        console.print(
            f"  {item.code} {line.quantity:+} {item.unit_ja} (lot {lot.id[:8]}, {expiry})"
        )


def _fields(movement_id: str | None, note: str) -> dict[str, Any]:
    return {"id": movement_id, "note": note}


@app.command("seed-catalogue")
def seed_catalogue(ctx: typer.Context, tenant: TenantOption, actor: ActorOption = None) -> None:
    """標準の品目一覧を読み込む（未登録のコードだけ） / load the seed catalogue."""
    with _unit_of_work(ctx, tenant) as uow:
        added = catalogue.seed(uow.session, actor=_actor(actor))
        uow.commit()
        console.print(f"{len(added)} 品目を追加しました / items added")


@app.command("stock")
def stock_levels(
    ctx: typer.Context,
    tenant: TenantOption,
    place: Annotated[str | None, typer.Option("--place", help="場所コード / place")] = None,
    item: Annotated[str | None, typer.Option("--item", help="品目コード / item")] = None,
    as_json: JsonOption = False,
) -> None:
    """在庫（場所・品目ごと） / stock levels per place and item."""
    with _unit_of_work(ctx, tenant) as uow:
        place_ids = [places.get(uow.session, place).id] if place else None
        item_ids = [catalogue.by_code(uow.session, item).id] if item else None
        levels = stock.levels(uow.session, place_ids=place_ids, item_ids=item_ids)
    if as_json:
        rows = [
            {
                "place": level.place_code,
                "item": level.item_code,
                "quantity": str(level.quantity),
                "unit": level.unit_ja,
                "earliest_expiry": level.earliest_expiry.isoformat()
                if level.earliest_expiry
                else None,
                "lots": level.lots,
            }
            for level in levels
        ]
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("場所 / place", "品目 / item", "数量 / quantity", "最短期限 / earliest expiry")
    for level in levels:
        expiry = level.earliest_expiry.isoformat() if level.earliest_expiry else "-"
        table.add_row(
            level.place_code,
            f"{level.item_code} {level.name_ja}",
            f"{level.quantity.normalize():f} {level.unit_ja}",
            expiry,
        )
    console.print(table)


@app.command("receive")
def receive(
    ctx: typer.Context,
    tenant: TenantOption,
    place: PlaceOption,
    item: ItemOption,
    quantity: QuantityOption,
    expires_on: Annotated[
        str | None, typer.Option("--expires", help="期限 / expiry (YYYY-MM-DD)")
    ] = None,
    lot_code: Annotated[str, typer.Option("--lot", help="ロット番号 / maker's lot")] = "",
    source: Annotated[str, typer.Option("--source", help="入手元 / where it came from")] = "",
    movement_id: IdOption = None,
    note: NoteOption = "",
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """受入 / receive stock into a place."""
    with _unit_of_work(ctx, tenant) as uow:
        expiry = date.fromisoformat(expires_on) if expires_on else None
        line = ReceiptLineIn(
            item=item, quantity=_quantity(quantity), expires_on=expiry, lot_code=lot_code
        )
        body = ReceiptIn(place=place, source=source, lines=[line], **_fields(movement_id, note))
        _done(uow, stock.receive(uow.session, body, EVERYWHERE, actor=_actor(actor)), as_json)


@app.command("issue")
def issue(
    ctx: typer.Context,
    tenant: TenantOption,
    place: PlaceOption,
    item: ItemOption,
    quantity: QuantityOption,
    movement_id: IdOption = None,
    note: NoteOption = "",
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """払出（期限の早い順） / issue to people, first expired first out."""
    with _unit_of_work(ctx, tenant) as uow:
        line = PickLineIn(item=item, quantity=_quantity(quantity))
        body = IssueIn(place=place, lines=[line], **_fields(movement_id, note))
        _done(uow, stock.issue(uow.session, body, EVERYWHERE, actor=_actor(actor)), as_json)


@app.command("transfer")
def transfer(
    ctx: typer.Context,
    tenant: TenantOption,
    from_place: Annotated[str, typer.Option("--from", help="移送元 / from place code")],
    to_place: Annotated[str, typer.Option("--to", help="移送先 / to place code")],
    item: ItemOption,
    quantity: QuantityOption,
    movement_id: IdOption = None,
    note: NoteOption = "",
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """移送（期限の早い順） / transfer between places, first expired first out."""
    with _unit_of_work(ctx, tenant) as uow:
        line = PickLineIn(item=item, quantity=_quantity(quantity))
        body = TransferIn(
            from_place=from_place, to_place=to_place, lines=[line], **_fields(movement_id, note)
        )
        _done(uow, stock.transfer(uow.session, body, EVERYWHERE, actor=_actor(actor)), as_json)


@app.command("adjust")
def adjust(
    ctx: typer.Context,
    tenant: TenantOption,
    place: PlaceOption,
    reason: Annotated[AdjustmentReason, typer.Option("--reason", help="理由 / reason")],
    item: ItemOption,
    quantity: QuantityOption,
    lot: Annotated[str | None, typer.Option("--lot", help="ロットID / lot id")] = None,
    movement_id: IdOption = None,
    note: NoteOption = "",
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """在庫調整（破損・期限切れ・紛失・発見・棚卸） / adjust with a reason."""
    with _unit_of_work(ctx, tenant) as uow:
        line = AdjustmentLineIn(item=item, lot=lot, quantity=_quantity(quantity))
        body = AdjustmentIn(place=place, reason=reason, lines=[line], **_fields(movement_id, note))
        _done(uow, stock.adjust(uow.session, body, EVERYWHERE, actor=_actor(actor)), as_json)


@app.command("shelters")
def shelters(ctx: typer.Context, tenant: TenantOption, as_json: JsonOption = False) -> None:
    """避難所の一覧と現在の避難者数 / shelters and the people in them now."""
    with _unit_of_work(ctx, tenant) as uow:
        listed = places.listed(uow.session, EVERYWHERE, kind="shelter")
        occupancies = evacuees.occupancies(uow.session, listed)
    if as_json:
        rows = [
            {
                "code": o.shelter.code,
                "name": o.shelter.name,
                "kind": o.shelter.kind,
                "open": o.shelter.is_open,
                "people": o.people,
                "capacity_night": o.shelter.capacity_night,
                "makeup": {category.value: n for category, n in o.makeup.items() if n},
            }
            for o in occupancies
        ]
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(
        "コード / code", "名称 / name", "状態 / state", "人数 / people", "定員(夜) / night"
    )
    for o in occupancies:
        state = "開設 / open" if o.shelter.is_open else "閉鎖 / closed"
        table.add_row(
            o.shelter.code, o.shelter.name, state, str(o.people), str(o.shelter.capacity_night)
        )
    console.print(table)


@app.command("needs")
def needs_report(
    ctx: typer.Context,
    tenant: TenantOption,
    on: Annotated[
        str | None, typer.Option("--on", help="計画する日（既定: 今日） / the day, YYYY-MM-DD")
    ] = None,
    days: Annotated[int, typer.Option("--days", min=1, max=30, help="何日分 / days")] = 1,
    shelter: Annotated[
        str | None,
        typer.Option("--shelter", help="避難所コード（既定: 開設中すべて） / one shelter"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """必要量と不足（開設中の避難所ごと・合計、基準表による） / needs and shortfalls per open
    shelter and in total: what the depots cannot cover is what to ask the prefecture for."""
    try:
        day = date.fromisoformat(on) if on else None
    except ValueError:
        raise _fail(f"日付が正しくありません / not a date (YYYY-MM-DD): {on!r}", 2) from None
    with _unit_of_work(ctx, tenant) as uow:
        if shelter is not None:
            listed = [places.shelter(uow.session, shelter, EVERYWHERE)]
        else:
            listed = [
                s for s in places.listed(uow.session, EVERYWHERE, kind="shelter") if s.is_open
            ]
        report = needs.needs(
            uow.session, listed, on=day or stock.local_date(datetime.now(UTC)), days=days
        )
    if as_json:
        print(json.dumps(report.model_dump(mode="json"), ensure_ascii=False))
        return
    console.print(f"{report.on.isoformat()} から {report.days} 日分 / {report.days} day(s) from")
    for line in report.shelters:
        console.print(f"  {line.shelter_code} {line.name}: {line.people} 人 / people")
    table = Table(
        "必要 / need",
        "単位 / unit",
        "必要量 / required",
        "不足 / short",
        "拠点在庫 / at depots",
        "要請する量 / uncovered",
    )
    for total in report.totals:
        table.add_row(
            f"{total.label_ja} / {total.label_en}",
            total.unit,
            f"{total.required:f}",
            f"{total.shortfall:f}",
            f"{total.at_depots:f}",
            f"{total.uncovered:f}",
        )
    console.print(table)
    console.print(
        f"トイレの不足 / toilets short: {report.toilets_shortfall}; "
        f"居住面積の不足 / floor short: {report.floor_m2_shortfall:f} m²"
    )


@app.command("check")
def check(ctx: typer.Context, tenant: TenantOption) -> None:
    """在庫残高を移動記録から再計算して照合 / recompute the balances from the ledger."""
    with _unit_of_work(ctx, tenant) as uow:
        count, mismatches = stock.verify_balances(uow.session)
    for mismatch in mismatches[:50]:
        errors.print(
            f"place {mismatch.place_id} lot {mismatch.lot_id}: kept {mismatch.kept}, "
            f"ledger {mismatch.ledger}"
        )
    if mismatches:
        raise _fail(f"{len(mismatches)} 件の不一致 / balances differ from the ledger", 1)
    console.print(f"[green]一致 / ok[/]: {count} 残高 / balances")


# requests, the allocation suggestion and EDXL-RM between municipalities: `yui supplies requests …`
app.add_typer(requests_cli.app, name="requests")
