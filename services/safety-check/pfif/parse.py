"""Untrusted PFIF 1.2–1.4 bytes → validated person and note records, or every problem.

XML is read by the alert intake's loader (`yui.hazard_alerts.parse.load_xml`): defusedxml
with no DTD at all (so no entity, internal or external: billion laughs and XXE stop at
`<!DOCTYPE`), nothing fetched, no XInclude, the size capped at 1 MiB before parsing
(a larger file is split, as the site's body limit would refuse it anyway). A file is taken whole or
not at all: every problem is listed (record, field, reason) and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

from safety_check.pfif.fields import (
    AGE,
    DATE_OF_BIRTH,
    DATE_TIME,
    MAX_LONG,
    MAX_RECORD_ID,
    MAX_SHORT,
    MULTILINE,
    NAMESPACES,
    NOTE_FIELDS,
    PERSON_FIELDS,
    RECORD_ID,
    RENAMED,
    SET_ON_IMPORT,
    SEXES,
    STATUSES,
)
from yui.errors import InvalidInput
from yui.hazard_alerts.model import AlertError
from yui.hazard_alerts.parse import MAX_ALERT_BYTES, load_xml
from yui.text import control_character_problem

#: the largest PFIF file read: the alert intake's cap
MAX_PFIF_BYTES = MAX_ALERT_BYTES
#: at most this many problems are listed
MAX_PROBLEMS = 100


@dataclass
class NoteRecord:
    fields: dict[str, str]

    @property
    def record_id(self) -> str:
        return self.fields["note_record_id"]


@dataclass
class PersonRecord:
    fields: dict[str, str]
    notes: list[NoteRecord] = field(default_factory=list)

    @property
    def record_id(self) -> str:
        return self.fields["person_record_id"]


@dataclass
class Document:
    version: str
    persons: list[PersonRecord]
    #: notes outside any person (a notes-only file)
    notes: list[NoteRecord]


@dataclass(frozen=True)
class Problem:
    record: str
    field: str
    reason: str


def refuse(problems: list[Problem]) -> InvalidInput:
    shown = problems[:MAX_PROBLEMS]
    return InvalidInput(
        f"PFIF を取り込めません（問題 {len(problems)} 件） / the PFIF file cannot be imported "
        f"({len(problems)} problems)",
        errors=[{"record": p.record, "field": p.field, "reason": p.reason} for p in shown],
    )


def load(data: bytes) -> Element:
    """The alert intake's loader: the same refusals, in one place."""
    try:
        return load_xml(data)
    except AlertError as error:
        raise InvalidInput(
            f"PFIF を読めません: {error.reason_ja} / cannot read the PFIF file: {error.reason_en}"
        ) from None


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def parse(data: bytes) -> Document:
    root = load(data)
    namespace, local = _split(root.tag)
    version = NAMESPACES.get(namespace)
    if version is None or local != "pfif":
        raise InvalidInput(
            "PFIF 1.2–1.4 の文書ではありません（ルート要素 pfif と名前空間 http://zesty.ca/pfif/1.x が"
            f"必要） / not a PFIF 1.2–1.4 document (root {local!r} in {namespace or 'no namespace'!r})"
        )
    problems: list[Problem] = []
    persons: list[PersonRecord] = []
    notes: list[NoteRecord] = []
    for index, child in enumerate(root, start=1):
        child_namespace, child_local = _split(child.tag) if isinstance(child.tag, str) else ("", "")
        if child_namespace != namespace:
            continue  # an extension in another namespace (or a comment): not ours to read
        where = f"{child_local}[{index}]"
        if child_local == "person":
            person = _person(child, namespace, where, problems)
            if person is not None:
                persons.append(person)
        elif child_local == "note":
            note = _note(child, namespace, where, "", problems)
            if note is not None:
                notes.append(note)
        else:
            problems.append(Problem(where, child_local, "未知の要素 / unknown element"))
    if problems:
        raise refuse(problems)
    return Document(version=version, persons=persons, notes=notes)


def _fields(
    element: Element, namespace: str, allowed: tuple[str, ...], where: str, problems: list[Problem]
) -> tuple[dict[str, str], list[Element]]:
    values: dict[str, str] = {}
    nested: list[Element] = []
    for child in element:
        if not isinstance(child.tag, str):
            continue
        child_namespace, name = _split(child.tag)
        if child_namespace != namespace:
            continue
        if name == "note" and "note_record_id" not in allowed:
            nested.append(child)
            continue
        name = RENAMED.get(name, name)
        if name not in allowed:
            problems.append(Problem(where, name, "PFIF にない項目 / not a PFIF field"))
            continue
        if len(child):
            problems.append(
                Problem(where, name, "項目に要素は入れられません / a field holds text only")
            )
            continue
        text = (child.text or "").strip()
        if name == "description" and text.lower().startswith("description:"):
            text = text[len("description:") :].strip()  # 1.2's other, labelled
        if name in values:
            problems.append(Problem(where, name, "項目が重複しています / the field appears twice"))
        values[name] = text
        _check(name, text, where, problems)
    for name in SET_ON_IMPORT:
        values.pop(name, None)
    return {k: v for k, v in values.items() if v}, nested


def _check(name: str, text: str, where: str, problems: list[Problem]) -> None:
    def bad(reason: str) -> None:
        problems.append(Problem(where, name, reason))

    problem = control_character_problem(text, multiline=name in MULTILINE)
    if problem is not None:
        bad(problem)
        return
    longest = MAX_LONG if name in MULTILINE else MAX_SHORT
    if name.endswith("record_id"):
        longest = MAX_RECORD_ID
        if text and not RECORD_ID.match(text):
            bad("記録IDは 「ドメイン/固有の文字列」 です / a record id is domain/unique-string")
    if len(text) > longest:
        bad(f"{longest} 文字を超えています / longer than {longest} characters")
    if not text:
        return
    if name in ("source_date", "expiry_date") and not DATE_TIME.match(text):
        bad("日時は YYYY-MM-DDThh:mm:ssZ（UTC）です / a time is YYYY-MM-DDThh:mm:ssZ (UTC)")
    elif name == "date_of_birth" and not DATE_OF_BIRTH.match(text):
        bad("生年月日は YYYY, YYYY-MM, YYYY-MM-DD です / a birth date is YYYY[-MM[-DD]]")
    elif name == "age" and not AGE.match(text):
        bad("年齢は数か範囲（35-45）です / an age is a number or a range (35-45)")
    elif name == "sex" and text not in SEXES:
        bad("性別は female, male, other です / sex is female, male or other")
    elif name == "status" and text not in STATUSES:
        bad(f"PFIF の状態ではありません: {text} / not a PFIF status: {text}")
    elif name == "author_made_contact" and text not in ("true", "false"):
        bad("true か false です / true or false")


def _person(
    element: Element, namespace: str, where: str, problems: list[Problem]
) -> PersonRecord | None:
    values, nested = _fields(element, namespace, PERSON_FIELDS, where, problems)
    record_id = values.get("person_record_id", "")
    if not record_id:
        problems.append(Problem(where, "person_record_id", "必須です / required"))
        return None
    person = PersonRecord(values)
    for index, child in enumerate(nested, start=1):
        note = _note(child, namespace, f"{where}/note[{index}]", record_id, problems)
        if note is not None:
            person.notes.append(note)
    return person


def _note(
    element: Element, namespace: str, where: str, person_id: str, problems: list[Problem]
) -> NoteRecord | None:
    values, _ = _fields(element, namespace, NOTE_FIELDS, where, problems)
    if person_id:
        given = values.setdefault("person_record_id", person_id)
        if given != person_id:
            problems.append(
                Problem(
                    where,
                    "person_record_id",
                    "囲む人物の記録IDと違います / not the enclosing person's",
                )
            )
    for required in ("note_record_id", "person_record_id"):
        if not values.get(required):
            problems.append(Problem(where, required, "必須です / required"))
            return None
    return NoteRecord(values)


def pfif_time(moment: datetime) -> str:
    """A time as PFIF writes it: UTC, whole seconds, Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
