"""CSV import and export: encodings, headers, per-row errors, all or nothing, formulas."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from residents.csvio.importer import ImportOptions, import_file, import_stream
from residents.csvio.parser import FileError
from residents.registry.models import Household, Resident
from residents.settings import ResidentsSettings
from tests.residents.conftest import HEADER, Office, audit_actions, csv_bytes, log_entries
from yui.changelog.encoding import to_json
from yui.db.database import Database

GOOD = [
    "100001,H1,佐藤　花子,サトウ　ハナコ,1980-05-06,女,世帯主,一番町一丁目,2-3,,090-1111-2222,0",
    "100002,H1,佐藤　太郎,さとう　たろう,令和2年4月1日,男,子,一番町一丁目,2-3,,,0",
    "100003,H2,髙橋　一郎,ﾀｶﾊｼ ｲﾁﾛｳ,S45.03.01,男,世帯主,二番町,5-1,コーポ二番町101,,0",
]


def _upload(office: Office, data: bytes, **params: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = office.client.post(
        f"{office.api}/imports/residents",
        content=data,
        params=params,
        headers={**office.staff, "Content-Type": "text/csv"},
    )
    return response.status_code, response.json()


def _count(db: Database, code: str) -> tuple[int, int]:
    with db.unit_of_work(code, read_only=True) as uow:
        residents = uow.session.execute(select(func.count()).select_from(Resident)).scalar_one()
        households = uow.session.execute(select(func.count()).select_from(Household)).scalar_one()
    return residents, households


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_import_in_each_encoding(office: Office, encoding: str) -> None:
    status, body = _upload(office, csv_bytes(*GOOD, encoding=encoding))
    assert status == 200, body
    expected = "utf-8" if encoding == "utf-8" else encoding
    assert body["encoding"] == expected
    assert (body["imported"], body["households_created"], body["rejected"]) == (3, 2, 0)
    found = office.client.get(
        f"{office.api}/residents", params={"q": "たかはし"}, headers=office.staff
    ).json()["items"]
    assert [(i["family_kana"], i["birth_date"], i["address"]) for i in found] == [
        ("タカハシ", "1970-03-01", "二番町5-1 コーポ二番町101")
    ]


def test_import_is_change_logged_as_one_transaction(office: Office) -> None:
    before = len(log_entries(office.db, office.code))
    status, _ = _upload(office, csv_bytes(*GOOD))
    assert status == 200
    entries = log_entries(office.db, office.code)[before:]
    tables = [e.table_name for e in entries]
    assert tables.count("residents") == 3 and tables.count("residents_households") == 2
    assert tables.index("residents_households") < tables.index("residents")  # parents first
    assert "audit_log" in tables
    assert [e.seq for e in entries] == list(range(before + 1, before + 1 + len(entries)))  # no gap
    assert {e.tx_seq for e in entries} == {entries[0].seq}  # one transaction for a replica
    row = next(e.row for e in entries if e.table_name == "residents")
    assert row is not None and row["resident_no"] == "100001" and row["birth_date"] == "1980-05-06"
    assert set(row) >= {
        "id",
        "tenant_id",
        "household_id",
        "name_key",
        "kana_key",
        "created_at",
        "version",
    }


def test_each_imported_row_is_logged_as_the_database_holds_it(office: Office) -> None:
    """The import's change-log rows (JSON made partly in the parser process) say exactly
    what the ORM's change capture would say of the stored rows: a replica rebuilds them."""
    before = len(log_entries(office.db, office.code))
    status, _ = _upload(
        office,
        csv_bytes(*GOOD, "100004,H3,鈴木　二郎,スズキ　ジロウ,1990-01-02,男,世帯主,三番町,1,,,1"),
    )
    assert status == 200
    logged = {
        e.pk["id"]: e.row
        for e in log_entries(office.db, office.code)[before:]
        if e.table_name == "residents"
    }
    with office.db.unit_of_work(office.code, read_only=True) as uow:
        stored = {
            resident.id: {
                column.name: to_json(getattr(resident, column.name))
                for column in Resident.__table__.columns
            }
            for resident in uow.session.execute(select(Resident)).scalars()
        }
    assert len(logged) == 4 and set(logged) <= set(stored)
    for key, row in logged.items():
        assert row is not None
        # timestamps: the same instant (SQLite returns them without the zone)
        for name in ("created_at", "updated_at"):
            assert datetime.fromisoformat(row.pop(name)) == datetime.fromisoformat(
                stored[key].pop(name)
            ).replace(tzinfo=UTC)
        assert row == stored[key]
    assert any(row["dv_block"] and row["dv_block_since"] for row in logged.values())


def test_bad_rows_are_reported_and_nothing_is_written(office: Office) -> None:
    before = (_count(office.db, office.code), len(log_entries(office.db, office.code)))
    rows = [
        *GOOD,
        "100004,H3,山田　一,ヤマダ　ハジメ,2023-02-30,男,世帯主,三番町,1,,,0",  # line 5: impossible date
        "100001,H3,山田　二,ヤマダ　ジ,1990-01-01,男,子,三番町,1,,,0",  # line 6: duplicate 宛名番号
        "100005,H3,=cmd|' /C calc'!A0,ヤマダ,1990-01-01,男,子,三番町,1,,,0",  # line 7: formula in a name
        "100006,H1,佐藤　次郎,サトウ　ジロウ,1999-01-01,男,世帯主,一番町一丁目,2-3,,,0",  # line 8: 2nd head
        "100007,H4,鈴木　一,スズキ,1990-01-01,男",  # line 9: too few cells
    ]
    status, body = _upload(office, csv_bytes(*rows))
    assert status == 422 and body["type"].endswith("/invalid-file")
    problems = {(e["line"], e["column"]) for e in body["errors"]}
    assert {(5, "生年月日"), (6, "宛名番号"), (7, "氏名"), (8, "続柄"), (9, "")} <= problems
    reason = next(e["reason"] for e in body["errors"] if e["line"] == 5)
    assert "存在しない日付" in reason and "does not exist" in reason
    assert _count(office.db, office.code) == before[0]  # no resident, no household
    new_entries = log_entries(office.db, office.code)[before[1] :]
    # only the audit entry that says the import was refused (and the audit head)
    assert {e.table_name for e in new_entries} == {"audit_log", "audit_heads"}
    assert "resident.import_refused" in audit_actions(office)


def test_skip_invalid_keeps_the_valid_rows(office: Office, tmp_path: Path) -> None:
    data = csv_bytes(*GOOD, "100004,H3,山田　一,ヤマダ　ハジメ,2023-02-30,男,世帯主,三番町,1,,,0")
    rejects = io.BytesIO()
    report = import_stream(
        office.db,
        office.code,
        io.BytesIO(data),
        actor="t",
        options=ImportOptions(skip_invalid=True),
        rejects=rejects,
    )
    assert report.committed and (report.imported, report.rejected) == (3, 1)
    text = rejects.getvalue().decode()
    header, line = text.splitlines()
    assert header.startswith("行 / line,エラー / errors,宛名番号")
    assert line.startswith("5,") and "2023-02-30" in line
    assert _count(office.db, office.code)[0] == 3
    # the same file again: every row is now a duplicate of a registered resident
    status, body = _upload(office, csv_bytes(*GOOD))
    assert status == 422 and all("既に登録" in e["reason"] for e in body["errors"])


def test_duplicates_across_batches(office: Office) -> None:
    rows = [
        f"2{n:05d},HB{n},佐藤　{chr(0x4E00 + n)},サトウ,1980-01-01,女,世帯主,一番町,1,,,0"
        for n in range(250)
    ]
    rows.append("200007,HBX,佐藤　重複,サトウ,1980-01-01,女,世帯主,一番町,1,,,0")
    report = import_stream(
        office.db,
        office.code,
        io.BytesIO(csv_bytes(*rows)),
        actor="t",
        options=ImportOptions(batch_size=100),
    )
    assert not report.committed
    assert [(e.line, e.column) for e in report.errors] == [(252, "宛名番号")]
    assert "前の行と重複" in report.errors[0].reason


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("宛名番号,世帯番号,氏名\r\n1,H1,佐藤\r\n".encode(), "必須の列がありません"),
        (csv_bytes(*GOOD, header=HEADER + ",本籍").replace(b",0\r\n", b",0,X\r\n"), "知らない列"),
        (csv_bytes(*GOOD, encoding="utf-16"), "UTF-16"),
        (
            csv_bytes(*GOOD[:2], encoding="euc_jp"),
            "",
        ),  # EUC-JP: not UTF-8; as CP932 the header is garbage
        (b"", "empty"),
        (b"\x00\x01\x02\xff\xfe\xfd" * 10, ""),
        (csv_bytes(*GOOD, header=HEADER.replace("方書", "氏名")), "2回"),
    ],
)
def test_files_that_cannot_be_imported(office: Office, data: bytes, message: str) -> None:
    status, body = _upload(office, data)
    assert status == 422, body
    assert body["type"].endswith("/invalid-file")
    assert message in " ".join(e["reason"] for e in body["errors"])
    assert _count(office.db, office.code) == (0, 0)


def test_extra_columns_can_be_ignored_on_request(office: Office) -> None:
    data = csv_bytes(*[row + ",X" for row in GOOD], header=HEADER + ",本籍")
    status, body = _upload(office, data, allow_extra_columns=True)
    assert status == 200 and body["imported"] == 3


def test_a_line_in_the_wrong_encoding_is_rejected_with_its_number(office: Office) -> None:
    data = csv_bytes(
        *GOOD
    ) + "100009,H9,鈴木　一,スズキ　ハジメ,1990-01-01,男,世帯主,三番町,1,,,0\r\n".encode("cp932")
    status, body = _upload(office, data, encoding="utf-8")
    assert status == 422
    assert [e["line"] for e in body["errors"]] == [5] and "utf-8" in body["errors"][0]["reason"]


def test_formula_cells_are_stored_as_text_and_exported_escaped(office: Office) -> None:
    row = '100010,H10,佐藤　花子,サトウ　ハナコ,1980-05-06,女,世帯主,一番町,1,=HYPERLINK("http://x"),+81-90-1234-5678,0'
    status, body = _upload(office, csv_bytes(row))
    assert status == 200, body
    exported = office.client.get(f"{office.api}/exports/residents.csv", headers=office.staff)
    line = exported.text.splitlines()[1]
    assert "'=HYPERLINK" in line and "'+81-90-1234-5678" in line
    # what we export imports back unchanged (the apostrophe is ours, it is removed)
    found = office.client.get(
        f"{office.api}/residents", params={"q": "さとう"}, headers=office.staff
    ).json()["items"]
    detail = office.client.get(
        f"{office.api}/residents/{found[0]['id']}", headers=office.staff
    ).json()
    assert (
        detail["address"]["building"] == '=HYPERLINK("http://x")'
        and detail["phone"] == "+81-90-1234-5678"
    )


def test_export_imports_back_into_another_tenant(office: Office) -> None:
    from tests.support.factories import CHIYODA, tenant

    assert _upload(office, csv_bytes(*GOOD))[0] == 200
    exported = office.client.get(
        f"{office.api}/exports/residents.csv", params={"encoding": "cp932"}, headers=office.staff
    )
    assert exported.headers["content-type"].startswith("text/csv")
    tenant(office.db, CHIYODA, "千代田区")
    report = import_stream(office.db, CHIYODA, io.BytesIO(exported.content), actor="t")
    assert report.committed and report.imported == 3 and report.encoding == "cp932"


def test_a_200_mb_upload_is_refused_before_it_is_read(office: Office) -> None:
    big = b"x" * (200 * 1024 * 1024)
    response = office.client.post(
        f"{office.api}/imports/residents",
        content=big,
        headers={**office.staff, "Content-Type": "text/csv"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_the_file_size_limit_of_the_cli_import(office: Office, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(csv_bytes(*(GOOD * 40)))
    with pytest.raises(FileError, match="over the limit"):
        import_file(
            office.db,
            office.code,
            path,
            actor="t",
            settings=ResidentsSettings(max_import_bytes=1024),
        )
    assert _count(office.db, office.code) == (0, 0)
