"""The CSV columns: names of 住民記録システム標準仕様書 where it has the item.

Import reads a header in any order, matching names after NFKC and without spaces;
each column also answers to a few common spellings of municipal systems and to its
English field name. Export writes the names of COLUMNS, in that order.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str  # the header written on export
    field: str  # Yui's field
    required: bool
    english: str
    aliases: tuple[str, ...] = ()
    standard: bool = True  # an item of 住民記録システム標準仕様書; False: a Yui extension


COLUMNS: tuple[Column, ...] = (
    Column("宛名番号", "resident_no", True, "resident number", ("住民番号", "個人番号_宛名")),
    Column("世帯番号", "household_no", True, "household number"),
    Column("氏名", "name", True, "name (family and given, space between)", ("氏名_漢字",)),
    Column(
        "氏名の振り仮名",
        "kana",
        True,
        "name reading in kana",
        (
            "氏名_フリガナ",
            "氏名フリガナ",
            "氏名(フリガナ)",
            "フリガナ",
            "カナ氏名",
            "氏名_カナ",
            "ふりがな",
        ),
    ),
    Column("生年月日", "birth_date", True, "date of birth"),
    Column("性別", "sex", True, "sex (男/女)", ("男女の別",)),
    Column("続柄", "relationship", True, "relationship to the head", ("世帯主との続柄",)),
    Column("世帯主氏名", "head_name", False, "name of the head (export only; ignored on import)"),
    Column(
        "国籍・地域", "nationality", False, "nationality (foreign residents)", ("国籍", "国籍等")
    ),
    Column("住民となった年月日", "became_resident_on", False, "became a resident on", ("住民日",)),
    Column("住定年月日", "address_since", False, "at this address since", ("住定日",)),
    Column("住民状態", "status", False, "status (住民/転出/死亡)", ("住民区分", "状態")),
    Column(
        "消除年月日", "status_on", False, "removed on (転出・死亡の日)", ("消除日", "異動年月日")
    ),
    Column("町字コード", "town_code", False, "町字 code (ABR 町字ID)", ("町字ID",)),
    Column("町字", "town_name", True, "town (町字)", ("住所_町字", "町名", "大字・町丁目")),
    Column("番地", "block", False, "block and number", ("住所_番地", "番地・住居番号", "番地等")),
    Column("方書", "building", False, "building and room", ("住所_方書",)),
    Column("緯度", "latitude", False, "latitude", standard=False),
    Column("経度", "longitude", False, "longitude", standard=False),
    Column("電話番号", "phone", False, "phone", ("連絡先電話番号",), standard=False),
    Column("メールアドレス", "email", False, "e-mail", ("電子メールアドレス",), standard=False),
    Column("希望言語", "language", False, "preferred language (BCP 47)", ("言語",), standard=False),
    Column(
        "支援措置", "dv_block", False, "DV-support block (1/0)", ("支援措置対象", "DV等支援措置")
    ),
)

BY_FIELD = {column.field: column for column in COLUMNS}

STATUS_LABELS = {"active": "住民", "moved_out": "転出", "deceased": "死亡"}
STATUS_BY_LABEL = {
    "住民": "active",
    "": "active",
    "ACTIVE": "active",
    "転出": "moved_out",
    "MOVED_OUT": "moved_out",
    "死亡": "deceased",
    "DECEASED": "deceased",
}


def header_key(text: str) -> str:
    """How header names are compared: NFKC, no spaces or BOM, case-folded."""
    return "".join(unicodedata.normalize("NFKC", text).replace("\ufeff", "").split()).casefold()


_LOOKUP: dict[str, Column] = {}
for _column in COLUMNS:
    for _name in (_column.name, _column.field, *_column.aliases):
        _LOOKUP[header_key(_name)] = _column


def column_for(header: str) -> Column | None:
    return _LOOKUP.get(header_key(header))
