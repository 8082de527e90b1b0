"""Reading a resident CSV: encoding, header, and each row checked on its own.

Pure: no database. `parse` yields the header, then batches of rows that passed
every check of their own (candidates) and rows that did not (rejected, with a
reason per column). The importer adds the checks that need the database
(duplicates, households) and writes the rows.

Encodings: UTF-8 (with or without BOM) or CP932 (Shift_JIS as Windows writes it,
what municipal systems export), given or detected from the first 64 KiB; a line
that does not decode is rejected with its line number. Line numbers are physical
lines of the file (a quoted cell may span lines), the header being line 1.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, BinaryIO

from residents.csvio.columns import BY_FIELD, STATUS_BY_LABEL, Column, column_for
from residents.registry import fields
from residents.search.normalize import address_key, name_key
from yui.changelog.bulk_insert import encode_members

ENCODINGS = ("auto", "utf-8", "utf-8-sig", "cp932", "shift_jis")
SAMPLE_BYTES = 64 * 1024
#: characters a spreadsheet reads as the start of a formula; export prefixes "'"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


@dataclass(slots=True)
class RowError:
    line: int
    column: str
    reason: str


#: the resident's values a candidate carries, in this order; dates as ordinal days
VALUE_FIELDS = (
    "resident_no",
    "relationship",
    "family_name",
    "given_name",
    "family_kana",
    "given_kana",
    "name_key",
    "kana_key",
    "birth_date",
    "sex",
    "nationality",
    "status",
    "status_on",
    "became_resident_on",
    "address_since",
    "state_since",
    "town_code",
    "town_name",
    "block",
    "building",
    "address_key",
    "latitude",
    "longitude",
    "phone",
    "email",
    "language",
    "dv_block",
)
DATE_FIELDS = frozenset(
    {"birth_date", "status_on", "became_resident_on", "address_since", "state_since"}
)
RESIDENT_NO = VALUE_FIELDS.index("resident_no")
RELATIONSHIP = VALUE_FIELDS.index("relationship")
STATUS = VALUE_FIELDS.index("status")
DV_BLOCK = VALUE_FIELDS.index("dv_block")
_CELL_SEPARATOR = "\x1f"  # no valid cell holds a control character

#: a row that passed its own checks: (line, 世帯番号, values in VALUE_FIELDS order, the
#: cells joined by U+001F, the values' change-log JSON members — see
#: yui.changelog.bulk_insert.Encoded — made here, in the parser process, while the writer is
#: busy). A plain tuple: a batch crosses to the writer process and plain tuples pickle
#: five times faster than objects.
Candidate = tuple[int, str, tuple[Any, ...], str, str]


def candidate_cells(candidate: Candidate) -> list[str]:
    return candidate[3].split(_CELL_SEPARATOR)


def candidate_values(candidate: Candidate) -> dict[str, Any]:
    """The values by name, dates as dates (for tests and for reading one row)."""
    return {
        name: date.fromordinal(value) if name in DATE_FIELDS and value is not None else value
        for name, value in zip(VALUE_FIELDS, candidate[2], strict=True)
    }


@dataclass(slots=True)
class Rejected:
    line: int
    cells: list[str]
    errors: list[RowError]


@dataclass(slots=True)
class Header:
    encoding: str
    names: list[str]
    columns: list[Column | None]


@dataclass(slots=True)
class Batch:
    candidates: list[Candidate] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    #: bytes of the file read so far (for a progress bar)
    position: int = 0


class FileError(Exception):
    """The file as a whole cannot be read as a resident CSV (nothing is imported)."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("; ".join(f"line {e.line}: {e.reason}" for e in errors))
        self.errors = errors


def detect_encoding(sample: bytes) -> str:
    """UTF-8 when the sample decodes as UTF-8 (BOM or not), else CP932, else refuse."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileError(
            [
                RowError(
                    1,
                    "",
                    "UTF-16 のファイルは読めません。UTF-8 か Shift_JIS (CP932) で保存してください / "
                    "UTF-16 is not supported: save as UTF-8 or Shift_JIS (CP932)",
                )
            ]
        )
    # Cut at the last newline so that a character split by the sample's end does not count.
    cut = sample.rfind(b"\n")
    head = sample if cut < 0 or len(sample) < SAMPLE_BYTES else sample[: cut + 1]
    for encoding in ("utf-8", "cp932"):
        try:
            head.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    raise FileError(
        [
            RowError(
                1,
                "",
                "文字コードが UTF-8 でも Shift_JIS (CP932) でもありません / the file is neither "
                "UTF-8 nor Shift_JIS (CP932)",
            )
        ]
    )


class _Lines:
    """Decoded lines of a binary file, remembering which did not decode and how far it read."""

    def __init__(self, binary: Iterable[bytes], encoding: str) -> None:
        self.binary = binary
        self.encoding = "utf-8-sig" if encoding == "utf-8-sig" else encoding
        self.bad: set[int] = set()
        self.position = 0

    def __iter__(self) -> Iterator[str]:
        encoding = self.encoding
        for number, raw in enumerate(self.binary, start=1):
            self.position += len(raw)
            try:
                yield raw.decode(encoding if number == 1 else encoding.removesuffix("-sig"))
            except UnicodeDecodeError:
                self.bad.add(number)
                yield raw.decode(encoding, "replace")


def _unescape(cell: str) -> str:
    """Undo the export's CSV-injection guard: "'=1+2" was written for "=1+2"."""
    if len(cell) > 1 and cell[0] == "'" and cell[1] in FORMULA_START:
        return cell[1:]
    return cell


def read_header(names: list[str], *, allow_extra_columns: bool, encoding: str) -> Header:
    columns = [column_for(name) for name in names]
    errors: list[RowError] = []
    unknown = [name for name, column in zip(names, columns, strict=True) if column is None]
    if unknown and not allow_extra_columns:
        errors.append(
            RowError(
                1,
                ", ".join(unknown),
                f"知らない列があります: {', '.join(unknown)}（文字コードの指定違いの可能性もあります）/ "
                f"unknown columns: {', '.join(unknown)} (or the wrong encoding); "
                "--allow-extra-columns ignores them",
            )
        )
    seen: dict[str, str] = {}
    for name, column in zip(names, columns, strict=True):
        if column is None:
            continue
        if column.field in seen:
            errors.append(
                RowError(
                    1,
                    name,
                    f"列 {column.name} が2回あります（{seen[column.field]}, {name}） / column "
                    f"{column.name} appears twice",
                )
            )
        seen[column.field] = name
    missing = [
        column.name for column in BY_FIELD.values() if column.required and column.field not in seen
    ]
    if missing:
        errors.append(
            RowError(
                1,
                ", ".join(missing),
                f"必須の列がありません: {', '.join(missing)} / missing required columns: "
                f"{', '.join(missing)}",
            )
        )
    if errors:
        raise FileError(errors)
    return Header(encoding, names, columns)


def parse(
    binary: BinaryIO,
    *,
    encoding: str = "auto",
    allow_extra_columns: bool = False,
    batch_size: int = 5000,
) -> Iterator[Header | Batch]:
    """The header, then batches of checked rows. Raises FileError for a file-wide problem."""
    if encoding not in ENCODINGS:
        raise FileError([RowError(0, "", f"encoding は {', '.join(ENCODINGS)} のいずれかです")])
    if encoding == "auto":
        sample = binary.read(SAMPLE_BYTES)
        encoding = detect_encoding(sample)
        binary.seek(0)
    elif encoding == "shift_jis":
        encoding = "cp932"  # what Windows and municipal systems mean by Shift_JIS
    lines = _Lines(binary, encoding)
    reader = csv.reader(iter(lines), strict=True)
    try:
        names = next(reader, None)
    except csv.Error as error:
        raise FileError([RowError(1, "", f"CSVとして読めません / not a CSV: {error}")]) from None
    if not names or not any(cell.strip() for cell in names):
        raise FileError([RowError(1, "", "見出し行がありません / the file is empty (no header)")])
    if 1 in lines.bad:
        raise FileError(
            [
                RowError(
                    1,
                    "",
                    f"見出し行が {encoding} として読めません。文字コードを確認してください / the "
                    f"header does not decode as {encoding}: check the encoding",
                )
            ]
        )
    header = read_header(
        [name.strip() for name in names], allow_extra_columns=allow_extra_columns, encoding=encoding
    )
    yield header
    check = RowChecker(header)
    batch = Batch()
    last_line = reader.line_num
    while True:
        try:
            cells = next(reader, None)
        except csv.Error as error:
            raise FileError(
                [RowError(reader.line_num, "", f"CSVの構造が壊れています / broken CSV: {error}")]
            ) from None
        if cells is None:
            break
        first_line, last_line = last_line + 1, reader.line_num
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue  # a blank line
        if lines.bad and any(number in lines.bad for number in range(first_line, last_line + 1)):
            batch.rejected.append(
                Rejected(
                    first_line,
                    cells,
                    [
                        RowError(
                            first_line,
                            "",
                            f"{encoding} として読めない文字があります / bytes that are not {encoding}",
                        )
                    ],
                )
            )
        else:
            result = check(first_line, cells)
            if isinstance(result, Rejected):
                batch.rejected.append(result)
            else:
                batch.candidates.append(result)
        if len(batch.candidates) + len(batch.rejected) >= batch_size:
            batch.position = lines.position
            yield batch
            batch = Batch()
    batch.position = lines.position
    yield batch


def _optional_date(value: str, label: str, today: date) -> date | None:
    text = value.strip()
    if not text:
        return None
    return fields.check_date_range(fields.parse_date(text, label), label, today_is=today)


def _required_date(value: str, label: str, today: date) -> date:
    text = value.strip()
    if not text:
        raise ValueError(f"{label.split(' / ')[0]}が空です / {label.split(' / ')[-1]} is empty")
    return fields.check_date_range(fields.parse_date(text, label), label, today_is=today)


def _names(value: str, family_label: str, given_label: str, check: Any) -> tuple[str, str]:
    family, given = fields.split_full(value)
    return (
        check(family, required=True, label=family_label),
        check(given, required=False, label=given_label),
    )


def _status(value: str) -> str:
    label = value.strip()
    status = STATUS_BY_LABEL.get(label.upper() if label.isascii() else label)
    if status is None:
        raise ValueError(
            f"住民状態は 住民・転出・死亡 のいずれかです: {label!r} / status is 住民, 転出 or 死亡"
        )
    return status


#: (field, check, arguments, value when the column is absent); checks raise ValueError
_PLAN: tuple[tuple[str, Any, tuple[Any, ...], Any], ...] = (
    ("resident_no", fields.record_number, ("宛名番号 / resident number",), None),
    ("household_no", fields.record_number, ("世帯番号 / household number",), None),
    ("name", _names, ("氏 / family name", "名 / given name", fields.name_part), None),
    (
        "kana",
        _names,
        ("氏の振り仮名 / family reading", "名の振り仮名 / given reading", fields.kana_part),
        None,
    ),
    ("birth_date", _required_date, ("生年月日 / date of birth",), None),
    ("sex", fields.parse_sex, (), None),
    ("relationship", fields.relationship, (), None),
    ("nationality", fields.text_field, ("国籍・地域 / nationality", 60), ""),
    ("became_resident_on", _optional_date, ("住民となった年月日 / became a resident on",), None),
    ("address_since", _optional_date, ("住定年月日 / at this address since",), None),
    ("status", _status, (), "active"),
    ("status_on", _optional_date, ("消除年月日 / removed on",), None),
    ("town_code", fields.town_code, (), ""),
    ("town_name", fields.text_field, ("町字 / town", 80), None),
    ("block", fields.text_field, ("番地 / block", 40), ""),
    ("building", fields.text_field, ("方書 / building", 80), ""),
    ("latitude", fields.coordinate, ("緯度 / latitude", 20, 46), None),
    ("longitude", fields.coordinate, ("経度 / longitude", 122, 154), None),
    ("phone", fields.phone, (), ""),
    ("email", fields.email, (), ""),
    ("language", fields.language, (), "ja"),
    ("dv_block", fields.flag, ("支援措置 / DV-support block",), False),
)
_TODAY_ARGUMENT = {_required_date, _optional_date}


class RowChecker:
    """Checks one row on its own and builds the resident's values."""

    def __init__(self, header: Header) -> None:
        self.header = header
        self.width = len(header.names)
        self.index: dict[str, int] = {
            column.field: position
            for position, column in enumerate(header.columns)
            if column is not None
        }
        today = fields.today()
        self.plan = [
            (
                name,
                self.index.get(name),
                check,
                (*arguments, today) if check in _TODAY_ARGUMENT else arguments,
                absent,
            )
            for name, check, arguments, absent in _PLAN
        ]

    def _column(self, name: str) -> str:
        position = self.index.get(name)
        return self.header.names[position] if position is not None else BY_FIELD[name].name

    def __call__(self, line: int, cells: list[str]) -> Candidate | Rejected:
        if len(cells) != self.width:
            return Rejected(
                line,
                cells,
                [
                    RowError(
                        line,
                        "",
                        f"列の数が違います（{len(cells)} 列、見出しは {self.width} 列） / "
                        f"{len(cells)} cells where the header has {self.width}",
                    )
                ],
            )
        if "'" in "".join(cells):
            cells = [_unescape(cell) for cell in cells]
        errors: list[RowError] = []
        names = self.header.names
        values: dict[str, Any] = {}
        for name, position, check, arguments, absent in self.plan:
            if position is None:
                values[name] = absent
                continue
            try:
                values[name] = check(cells[position], *arguments)
            except ValueError as error:
                errors.append(RowError(line, names[position], str(error)))
                values[name] = absent
        birth_date: date | None = values["birth_date"]
        status = values["status"]
        if birth_date is not None:
            for name, label in (
                ("became_resident_on", "住民となった年月日"),
                ("address_since", "住定年月日"),
                ("status_on", "消除年月日"),
            ):
                value = values[name]
                if value is not None and value < birth_date:
                    errors.append(
                        RowError(
                            line,
                            self._column(name),
                            f"{label}が生年月日より前です / {name} is before the date of birth",
                        )
                    )
        if status != "active" and values["status_on"] is None:
            status_on_column = self._column("status_on")
            if not any(error.column == status_on_column for error in errors):
                errors.append(
                    RowError(
                        line,
                        self._column("status"),
                        "転出・死亡には消除年月日が必要です / a moved-out or deceased resident "
                        "needs the date (消除年月日)",
                    )
                )
        if errors:
            return Rejected(line, cells, errors)
        family, given = values.pop("name")
        family_kana, given_kana = values.pop("kana")
        household_no = values.pop("household_no")
        state_since = values["address_since"] or values["became_resident_on"] or birth_date
        if status != "active" and values["status_on"] < state_since:
            return Rejected(
                line,
                cells,
                [
                    RowError(
                        line,
                        self._column("status_on"),
                        "消除年月日が住定年月日より前です / removed before the address began",
                    )
                ],
            )
        values.update(
            family_name=family,
            given_name=given,
            family_kana=family_kana,
            given_kana=given_kana,
            name_key=name_key(family, given),
            kana_key=name_key(family_kana, given_kana),
            sex=str(values["sex"]),
            state_since=state_since,
            status_on=values["status_on"] if status != "active" else None,
            address_key=address_key(values["town_name"], values["block"]),
        )
        members = encode_members(values)  # exactly the VALUE_FIELDS, dates as dates
        for name in DATE_FIELDS:
            if values[name] is not None:
                values[name] = values[name].toordinal()
        return (
            line,
            household_no,
            tuple([values[name] for name in VALUE_FIELDS]),
            _CELL_SEPARATOR.join(cells),
            members,
        )
