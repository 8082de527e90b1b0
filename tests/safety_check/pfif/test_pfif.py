"""PFIF: every shared sample imports (1.2–1.4), records are matched by id and domain,
export → import round-trips every field, nothing under a DV block is ever exported,
bad input is refused whole, only staff and administrators may use it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from assembly.cli.main import app as yui
from residents.directory.service import Directory
from safety_check.pfif.fields import PFIF_14
from safety_check.pfif.models import PfifNote, PfifPerson, load_fields
from safety_check.pfif.parse import parse
from safety_check.pfif.service import ImportCounts, import_pfif, plan_export, write_export
from tests.residents.conftest import audit_actions
from tests.safety_check.conftest import Office, open_campaign, report, report_payload
from tests.support.factories import CHIYODA, SENDAI, sign_in, tenant, user
from tests.support.shared_fixtures import shared_fixtures_dir
from yui.db.database import Database

SECRET = {"family_name": "秘匿", "given_name": "花", "family_kana": "ヒトク", "given_kana": "ハナ"}
OSAKA = "271004"


def samples() -> list[Path]:
    folder = shared_fixtures_dir() / "pfif"
    found = sorted([*folder.glob("*.xml"), *folder.glob("extracted/*.xml")])
    assert len(found) >= 8, found  # the folder as shipped: five files and three extracted
    return found


def _import(db: Database, code: str, data: bytes) -> ImportCounts:
    with db.unit_of_work(code) as uow:
        counts = import_pfif(uow.session, data, domain=f"{code}.residents.yui", actor="test")
        uow.commit()
    return counts


def _stored(db: Database, code: str) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    with db.unit_of_work(code, read_only=True) as uow:
        persons = {
            p.record_id: load_fields(p.fields_json) for p in uow.session.scalars(select(PfifPerson))
        }
        notes = {
            n.record_id: load_fields(n.fields_json) for n in uow.session.scalars(select(PfifNote))
        }
    return persons, notes


def _export(db: Database, code: str) -> bytes:
    plan = plan_export(db, Directory(db), code, domain=f"{code}.residents.yui", actor="test")
    return b"".join(write_export(plan))


def _records(xml: bytes) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    document = parse(xml)
    assert document.version == "1.4"
    persons = {p.record_id: p.fields for p in document.persons}
    notes = {n.record_id: n.fields for p in document.persons for n in p.notes}
    notes.update({n.record_id: n.fields for n in document.notes})
    return persons, notes


def test_every_shared_sample_imports_and_round_trips(db: Database) -> None:
    for code, name in ((SENDAI, "仙台市"), (CHIYODA, "千代田区"), (OSAKA, "大阪市")):
        tenant(db, code, name)
    for sample in samples():
        counts = _import(db, SENDAI, sample.read_bytes())
        assert (
            counts.persons_created
            + counts.persons_kept
            + counts.persons_replaced
            + (counts.notes_created + counts.notes_kept)
            > 0
        ), sample.name
    persons, notes = _stored(db, SENDAI)
    assert set(persons) == {"test.google.com/person.21009"}
    assert set(notes) == {
        f"test.google.com/note.{n}" for n in ("27009", "31095", "40121", "50121", "218")
    }
    # 1.2's fields under their 1.4 names; whitespace stripped; entry_date never from a file
    one_two = _import(
        db, CHIYODA, (shared_fixtures_dir() / "pfif" / "test.pfif-1.2.xml").read_bytes()
    )
    assert (one_two.version, one_two.persons_created, one_two.notes_created) == ("1.2", 1, 4)
    person = _stored(db, CHIYODA)[0]["test.google.com/person.21009"]
    assert person["given_name"] == "_test_first_name" and person["family_name"] == "_test_last_name"
    assert person["home_city"] == "_test_home_city" and person["description"] == "_test_description"
    assert "entry_date" not in person
    assert _stored(db, CHIYODA)[1]["test.google.com/note.31095"]["author_made_contact"] == "true"

    # export → import → export: every field PFIF carries comes back (entry_date is the holder's)
    first = _export(db, SENDAI)
    assert b'xmlns:pfif="http://zesty.ca/pfif/1.4"' in first and PFIF_14 in first.decode()
    exported_persons, exported_notes = _records(first)
    stored_persons, stored_notes = _stored(db, SENDAI)
    assert {k: _no_entry(v) for k, v in exported_persons.items()} == stored_persons
    assert {k: _no_entry(v) for k, v in exported_notes.items()} == stored_notes
    counts = _import(db, OSAKA, first)
    assert (counts.persons_created, counts.notes_created) == (1, 5)
    assert _stored(db, OSAKA) == _stored(db, SENDAI)
    second_persons, second_notes = _records(_export(db, OSAKA))
    assert {k: _no_entry(v) for k, v in second_persons.items()} == stored_persons
    assert {k: _no_entry(v) for k, v in second_notes.items()} == stored_notes

    # matching: the same file again changes nothing; a later source_date replaces a person;
    # notes never change; records of our own domain are never taken from a file
    again = _import(db, OSAKA, first)
    assert (again.persons_kept, again.notes_kept, again.persons_created) == (1, 5, 0)
    newer = first.replace(
        b"<pfif:source_date>2000-01-01T00:00:00Z", b"<pfif:source_date>2001-01-01T00:00:00Z"
    )
    newer = newer.replace(b"_test_home_city", b"_moved_city").replace(b"_test_text", b"_edited")
    replaced = _import(db, OSAKA, newer)
    assert (replaced.persons_replaced, replaced.notes_kept) == (1, 5)
    osaka_persons, osaka_notes = _stored(db, OSAKA)
    assert osaka_persons["test.google.com/person.21009"]["home_city"] == "_moved_city"
    assert osaka_notes["test.google.com/note.27009"] == stored_notes["test.google.com/note.27009"]
    own = first.replace(b"test.google.com/", f"{OSAKA}.residents.yui/".encode())
    mine = _import(db, OSAKA, own)
    assert mine.own_records == 6 and mine.persons_created == mine.notes_created == 0


def _no_entry(fields: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in fields.items() if k != "entry_date"}


def test_our_records_round_trip_and_nothing_under_a_dv_block_is_exported(office: Office) -> None:
    hanako = office.register()
    blocked = office.register(**SECRET, birth_date="1975-01-01")
    drilled = office.register(
        family_name="訓練", given_name="次郎", family_kana="クンレン", given_kana="ジロウ"
    )
    live, drill = open_campaign(office), open_campaign(office, kind="drill")
    assert (
        report(
            office,
            live["id"],
            report_payload(hanako["id"], status="at_shelter", shelter="一番町小学校"),
        ).status_code
        == 201
    )
    assert (
        report(office, live["id"], report_payload(blocked["id"], status="needs_help")).status_code
        == 201
    )
    assert report(office, drill["id"], report_payload(drilled["id"])).status_code == 201
    office.block(blocked["id"])
    # someone elsewhere posted the blocked resident, and a note about her record here
    posted = _pfif(
        f"""<pfif:person><pfif:person_record_id>pf.example.org/person.1</pfif:person_record_id>
        <pfif:full_name>秘匿 花</pfif:full_name><pfif:date_of_birth>1975-01-01</pfif:date_of_birth>
        <pfif:note><pfif:note_record_id>pf.example.org/note.1</pfif:note_record_id>
        <pfif:text>いまは山形の親戚の家</pfif:text></pfif:note></pfif:person>
        <pfif:note><pfif:note_record_id>pf.example.org/note.2</pfif:note_record_id>
        <pfif:person_record_id>{SENDAI}.residents.yui/person.{blocked["id"]}</pfif:person_record_id>
        <pfif:text>山形にいる</pfif:text></pfif:note>"""
    )
    imported = office.client.post(
        f"{office.api}/safety/pfif/import",
        content=posted,
        headers={**office.staff, "Content-Type": "application/xml"},
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["persons_created"] == 1 and imported.json()["notes_created"] == 2

    exported = office.client.get(f"{office.api}/safety/pfif/export", headers=office.staff)
    assert exported.status_code == 200, exported.text
    text = exported.text
    for secret in (
        blocked["id"],
        "秘匿",
        "ヒトク",
        "山形",
        "pf.example.org",
        drilled["id"],
        "訓練",
        "一番町小学校",
        "090",
    ):
        assert secret not in text, secret
    persons, notes = _records(exported.content)
    assert set(persons) == {f"{SENDAI}.residents.yui/person.{hanako['id']}"}
    person = persons[f"{SENDAI}.residents.yui/person.{hanako['id']}"]
    assert person["full_name"] == "佐藤 花子" and person["date_of_birth"] == "1980-05-06"
    [note] = notes.values()
    assert note["status"] == "believed_alive" and note["author_made_contact"] == "true"
    assert "safety.pfif_export" in audit_actions(office) and "safety.pfif_import" in audit_actions(
        office
    )

    # another municipality takes our export: every field comes back in its own export
    tenant(office.db, CHIYODA, "千代田区")
    user(office.db, CHIYODA, "staff2", "staff")
    chiyoda = sign_in(office.client, CHIYODA, "staff2")
    taken = office.client.post(
        f"/api/v1/{CHIYODA}/safety/pfif/import",
        content=exported.content,
        headers={**chiyoda, "Content-Type": "application/xml"},
    )
    assert taken.status_code == 200 and taken.json()["persons_created"] == 1, taken.text
    back = office.client.get(f"/api/v1/{CHIYODA}/safety/pfif/export", headers=chiyoda)
    again_persons, again_notes = _records(back.content)
    assert {k: _no_entry(v) for k, v in again_persons.items()} == {
        k: _no_entry(v) for k, v in persons.items()
    }
    assert {k: _no_entry(v) for k, v in again_notes.items()} == {
        k: _no_entry(v) for k, v in notes.items()
    }


def _pfif(body: str, namespace: str = PFIF_14) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<pfif:pfif xmlns:pfif="{namespace}">{body}</pfif:pfif>'.encode()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<pfif:pfif xmlns:pfif="http://zesty.ca/pfif/1.4"><pfif:person>
<pfif:person_record_id>a.example/p.1</pfif:person_record_id><pfif:full_name>&lol3;</pfif:full_name>
</pfif:person></pfif:pfif>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<pfif:pfif xmlns:pfif="http://zesty.ca/pfif/1.4"><pfif:person>
<pfif:person_record_id>a.example/p.1</pfif:person_record_id><pfif:full_name>&x;</pfif:full_name>
</pfif:person></pfif:pfif>"""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bad_input_is_refused_whole_and_only_staff_and_admins_may(office: Office) -> None:
    url = f"{office.api}/safety/pfif/import"
    xml = {"Content-Type": "application/xml"}
    good = _pfif(
        "<pfif:person><pfif:person_record_id>a.example/p.1</pfif:person_record_id></pfif:person>"
    )
    bad: list[tuple[bytes, str]] = [
        (b"<pfif:pfif xmlns:pfif='http://zesty.ca/pfif/1.4'><pfif:person>", "XML"),
        (BILLION_LAUGHS, "DTD"),
        (EXTERNAL, "DTD"),
        (b"", "empty"),
        (_pfif("<pfif:person/>", "http://example.org/not-pfif"), "PFIF"),
        (
            _pfif("<pfif:person><pfif:full_name>x</pfif:full_name></pfif:person>"),
            "person_record_id",
        ),
        (
            _pfif(
                "<pfif:person><pfif:person_record_id>no-domain</pfif:person_record_id></pfif:person>"
            ),
            "domain",
        ),
        (
            _pfif(
                "<pfif:person><pfif:person_record_id>a.example/p.2</pfif:person_record_id><pfif:shoe_size>42</pfif:shoe_size></pfif:person>"
            ),
            "shoe_size",
        ),
        (
            _pfif(
                "<pfif:person><pfif:person_record_id>a.example/p.3</pfif:person_record_id><pfif:source_date>yesterday</pfif:source_date></pfif:person>"
            ),
            "source_date",
        ),
        (
            _pfif(
                "<pfif:note><pfif:note_record_id>a.example/n.1</pfif:note_record_id><pfif:person_record_id>a.example/p.1</pfif:person_record_id><pfif:status>fine</pfif:status></pfif:note>"
            ),
            "status",
        ),
        (
            _pfif(
                "<pfif:person><pfif:person_record_id>a.example/p.4</pfif:person_record_id><pfif:full_name>a\x01b</pfif:full_name></pfif:person>"
            ),
            "XML",
        ),
        # a good record beside a bad one: nothing is written
        (
            good[: -len("</pfif:pfif>")]
            + b"<pfif:person><pfif:sex>x</pfif:sex></pfif:person></pfif:pfif>",
            "sex",
        ),
    ]
    before = audit_actions(office)
    for data, reason in bad:
        refused = office.client.post(url, content=data, headers={**office.staff, **xml})
        assert refused.status_code == 422, (reason, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    huge = office.client.post(
        url, content=good + b" " * (10 * 1024 * 1024), headers={**office.staff, **xml}
    )
    assert huge.status_code == 413
    assert audit_actions(office) == before
    with office.db.unit_of_work(SENDAI, read_only=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(PfifPerson)) == 0

    for headers in (office.auditor, office.shelter, office.headers("depot1", "depot"), {}):
        assert office.client.post(url, content=good, headers={**headers, **xml}).status_code in (
            401,
            403,
        )
        assert office.client.get(
            f"{office.api}/safety/pfif/export", headers=headers
        ).status_code in (401, 403)
    assert office.client.post(url, content=good, headers={**office.admin, **xml}).status_code == 200
    assert (
        office.client.get(f"{office.api}/safety/pfif/export", headers=office.admin).status_code
        == 200
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_command_line(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant(db)
    monkeypatch.setenv("YUI_DATABASE_URL", database_url)
    monkeypatch.setenv("YUI_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    sample = shared_fixtures_dir() / "pfif" / "test.pfif-1.4.xml"

    def run(*args: str) -> Any:
        return runner.invoke(yui, ["safety", "pfif", *args])  # as the composition root mounts it

    done = run("import", "--tenant", SENDAI, str(sample), "--actor", "ops")
    assert done.exit_code == 0, done.output
    assert '"persons_created": 1' in done.output
    out = tmp_path / "out.xml"
    exported = run("export", "--tenant", SENDAI, "-o", str(out), "--actor", "ops")
    assert exported.exit_code == 0, exported.output
    assert "test.google.com/person.21009" in out.read_text()

    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<pfif:pfif")
    refused = run("import", "--tenant", SENDAI, str(broken))
    assert refused.exit_code == 2 and "XML" in refused.output
    big = tmp_path / "big.xml"
    big.write_bytes(b" " * (10 * 1024 * 1024))
    too_big = run("import", "--tenant", SENDAI, str(big))
    assert too_big.exit_code == 2 and "大きすぎます" in too_big.output
    assert run("import", "--tenant", SENDAI, str(tmp_path / "none.xml")).exit_code == 2
    assert run("export", "--tenant", SENDAI, "--domain", "Bad Domain!").exit_code == 2
