"""Field rules shared by the HTTP schemas and the CSV import.

Each function takes what a person typed and returns the value to store, or raises
ValueError with a message in Japanese, then English. Dates accept the Western
calendar (2023-02-28, 2023/2/28, 20230228) and the Japanese one (令和5年2月28日,
R5.2.28, 平成元年1月8日); an impossible date (2023-02-30) is refused.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta, timezone

from residents.registry.models import Sex
from yui.text import control_character_problem

JST = timezone(timedelta(hours=9), "JST")
#: the oldest birth date the register accepts
EARLIEST = date(1868, 1, 1)


def _ja(label: str) -> str:
    return label.split(" / ")[0]


def _en(label: str) -> str:
    return label.split(" / ")[-1]


def today() -> date:
    """Today in Japan: 異動日 and 届出日 are Japanese calendar days."""
    return datetime.now(JST).date()


# --- names -----------------------------------------------------------------------------

_NAME_INNER = {"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Nd", "Zs"}
_NAME_MARKS = set("・'’-.=")


_NAME_FAST = re.compile(r"^[^\W\d_][^\W_]*(?:[ ・'’.=-][^\W_]+)*$")


def name_part(value: str, *, required: bool, label: str = "氏名 / name") -> str:
    """A family or given name in the register's characters: letters first, no symbols.

    Names begin with a letter (kanji, kana or Latin), so no name can start a
    spreadsheet formula (=, +, -, @).
    """
    text = value.strip()
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if "\u3000" in text or "  " in text:
        text = re.sub(r"[ \u3000]+", " ", text)
    if text and len(text) <= 50 and _NAME_FAST.match(text):
        return text
    if not text:
        if required:
            raise ValueError(f"{_ja(label)}が空です / {_en(label)} is empty")
        return ""
    if len(text) > 50:
        raise ValueError(f"{_ja(label)}は50文字までです / {_en(label)} is over 50 characters")
    if not unicodedata.category(text[0]).startswith("L"):
        raise ValueError(
            f"{_ja(label)}は文字で始めてください / {_en(label)} must begin with a letter"
        )
    for char in text:
        if unicodedata.category(char) not in _NAME_INNER and char not in _NAME_MARKS:
            raise ValueError(
                f"{_ja(label)}に使えない文字 {char!r} があります / "
                f"{_en(label)} has a character that is not allowed: {char!r}"
            )
    return text


_KANA = re.compile(r"^[\u30a1-\u30fa\u30fc\u3041-\u3096\u309d\u309e\u30fd\u30fe ・]+$")
_HIRA_TO_KATA = {code: code + 0x60 for code in range(0x3041, 0x3097)}


def kana_part(value: str, *, required: bool, label: str = "氏名の振り仮名 / name reading") -> str:
    """A reading in kana, stored as full-width katakana (ｻﾄｳ, さとう → サトウ)."""
    text = value.strip()
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    if "  " in text or "\t" in text:
        text = re.sub(r"\s+", " ", text)
    text = text.translate(_HIRA_TO_KATA)
    if text and len(text) <= 50 and _KANA.match(text):
        return text
    if not text:
        if required:
            raise ValueError(f"{_ja(label)}が空です / {_en(label)} is empty")
        return ""
    if len(text) > 50:
        raise ValueError(f"{_ja(label)}は50文字までです / {_en(label)} is over 50 characters")
    raise ValueError(
        f"{_ja(label)}はカタカナかひらがなで書いてください / {_en(label)} must be kana"
    )


def split_full(value: str) -> tuple[str, str]:
    """'佐藤　花子' → ('佐藤', '花子'): family and given name split at the first space."""
    text = value.replace("\u3000", " ").strip()
    family, _, given = text.partition(" ")
    return family.strip(), given.strip()


# --- dates ------------------------------------------------------------------------------

_ERAS = {
    "明治": date(1868, 1, 25),
    "大正": date(1912, 7, 30),
    "昭和": date(1926, 12, 25),
    "平成": date(1989, 1, 8),
    "令和": date(2019, 5, 1),
}
_ERA_LETTERS = {"M": "明治", "T": "大正", "S": "昭和", "H": "平成", "R": "令和"}
_WESTERN = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_ERA = re.compile(
    r"^(明治|大正|昭和|平成|令和|[MTSHR])\.?\s*(元|\d{1,2})[.年/-](\d{1,2})[.月/-](\d{1,2})日?$"
)


def parse_date(value: str, label: str = "日付 / date") -> date:
    """A calendar date from the forms municipal systems write; impossible dates refused."""
    if len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass  # the slow path says what is wrong
    text = unicodedata.normalize("NFKC", value).strip().upper()
    english = _en(label)
    match = _WESTERN.match(text) or _COMPACT.match(text)
    era_name: str | None = None
    if match:
        year, month, day = (int(part) for part in match.groups())
    elif era_match := _ERA.match(text):
        era, era_year, month_text, day_text = era_match.groups()
        era_name = _ERA_LETTERS.get(era, era)
        year = _ERAS[era_name].year + (1 if era_year == "元" else int(era_year)) - 1
        month, day = int(month_text), int(day_text)
    else:
        raise ValueError(
            f"{_ja(label)}の形式が正しくありません（例: 2023-02-28, 令和5年2月28日）: {value!r} / "
            f"{english} is not a date (e.g. 2023-02-28): {value!r}"
        )
    try:
        parsed = date(year, month, day)
    except ValueError:
        raise ValueError(
            f"{_ja(label)}が存在しない日付です: {value!r} / {english} does not exist: {value!r}"
        ) from None
    if era_name is not None:
        starts = _ERAS[era_name]
        names = list(_ERAS)
        following = names.index(era_name) + 1
        ends = _ERAS[names[following]] if following < len(names) else None
        if parsed < starts or (ends is not None and parsed >= ends):
            raise ValueError(
                f"{_ja(label)}は{era_name}の期間外です: {value!r} / {english} is outside the era: "
                f"{value!r}"
            )
    return parsed


def check_date_range(
    value: date, label: str, *, not_after_today: bool = True, today_is: date | None = None
) -> date:
    if value < EARLIEST:
        raise ValueError(f"{_ja(label)}が古すぎます / {_en(label)} is too early: {value}")
    if not_after_today and value > (today_is or today()):
        raise ValueError(f"{_ja(label)}が未来の日付です / {_en(label)} is in the future: {value}")
    return value


# --- other fields -----------------------------------------------------------------------

_SEX = {
    "男": Sex.MALE,
    "1": Sex.MALE,
    "M": Sex.MALE,
    "MALE": Sex.MALE,
    "女": Sex.FEMALE,
    "2": Sex.FEMALE,
    "F": Sex.FEMALE,
    "FEMALE": Sex.FEMALE,
}
SEX_LABELS = {Sex.MALE: "男", Sex.FEMALE: "女"}


def parse_sex(value: str) -> Sex:
    if value in _SEX:
        return _SEX[value]
    key = unicodedata.normalize("NFKC", value).strip().upper()
    if key not in _SEX:
        raise ValueError(f"性別は 男 か 女 です: {value!r} / sex is 男 (male) or 女 (female)")
    return _SEX[key]


_NUMBER = re.compile(r"^[0-9A-Za-z-]{1,20}$")


def record_number(value: str, label: str) -> str:
    """宛名番号, 世帯番号: 1–20 letters, digits or hyphens (full-width accepted)."""
    text = value.strip()
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    if not _NUMBER.match(text):
        raise ValueError(
            f"{_ja(label)}は英数字とハイフン1〜20文字です: {value!r} / {_en(label)} is 1-20 "
            "letters, digits or hyphens"
        )
    return text


_RELATIONSHIP = re.compile(r"^[\w・の]{1,20}$")


def relationship(value: str) -> str:
    """続柄 as written in the register: 世帯主, 妻, 子, 子の妻, 母, 同居人, 縁故者, …"""
    text = value.strip()
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    if not _RELATIONSHIP.match(text) or not unicodedata.category(text[0]).startswith("L"):
        raise ValueError(f"続柄が正しくありません: {value!r} / invalid relationship (続柄)")
    return text


_PHONE = re.compile(r"^\+?[0-9][0-9-]{5,18}$")


_PHONE_SIMPLE = re.compile(r"^0[0-9]{1,4}-[0-9]{1,4}-[0-9]{3,4}$")


def _no_controls(value: str, label: str, *, multiline: bool = False) -> None:
    """The kernel's rule for text, for values that do not come through a request schema
    (CSV cells) and for the normalising fields below, which would otherwise turn a control
    character into a separator or strip it."""
    reason = control_character_problem(value, multiline=multiline)
    if reason is not None:
        raise ValueError(f"{_ja(label)}: {reason}")


def phone(value: str) -> str:
    _no_controls(value, "電話番号 / phone")
    if not value or _PHONE_SIMPLE.match(value):
        return value
    text = unicodedata.normalize("NFKC", value).strip().replace("(", "-").replace(")", "-")
    text = re.sub(r"[\s‐−ー]", "-", text).strip("-")
    text = re.sub(r"-{2,}", "-", text)
    if text and not _PHONE.match(text):
        raise ValueError(f"電話番号が正しくありません: {value!r} / invalid phone number")
    return text


_EMAIL = re.compile(r"^[^@\s=+\-][^@\s]{0,63}@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


def email(value: str) -> str:
    _no_controls(value, "メールアドレス / e-mail")
    text = value.strip()
    if text and (len(text) > 254 or not _EMAIL.match(text)):
        raise ValueError(f"メールアドレスが正しくありません: {value!r} / invalid e-mail address")
    return text


_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")


def language(value: str) -> str:
    """A BCP 47 language tag; empty means Japanese."""
    text = value.strip() or "ja"
    if text == "ja":
        return text
    if not _LANGUAGE.match(text):
        raise ValueError(
            f"言語はBCP 47の言語タグです（例: ja, en, vi）: {value!r} / language is a BCP 47 tag"
        )
    return text


_TOWN_CODE = re.compile(r"^[0-9]{0,12}$")


def town_code(value: str) -> str:
    text = value.strip()
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    if not _TOWN_CODE.match(text):
        raise ValueError(
            f"町字コードは12桁までの数字です: {value!r} / 町字 code is up to 12 digits"
        )
    return text


#: invisible characters that reorder or hide text (not control characters, refused too)
_INVISIBLE = re.compile("[\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")


def text_field(
    value: str, label: str, max_length: int, *, required: bool = False, multiline: bool = False
) -> str:
    """Text (町字, 番地, 方書, 国籍): one line unless `multiline` (a note: tab and newline
    allowed), no control or invisible characters."""
    _no_controls(value, label, multiline=multiline)
    text = value.strip()
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if required and not text:
        raise ValueError(f"{_ja(label)}が空です / {_en(label)} is empty")
    if len(text) > max_length:
        raise ValueError(
            f"{_ja(label)}は{max_length}文字までです / {_en(label)} is over {max_length} characters"
        )
    if _INVISIBLE.search(text):
        raise ValueError(f"{_ja(label)}に制御文字があります / {_en(label)} has control characters")
    return text


def coordinate(value: str, label: str, low: float, high: float) -> float | None:
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text if text.isascii() else unicodedata.normalize("NFKC", text))
    except ValueError:
        raise ValueError(f"{_ja(label)}は数値です: {value!r} / {_en(label)} is a number") from None
    if not low <= number <= high:
        raise ValueError(
            f"{_ja(label)}は{low}〜{high}です / {_en(label)} is between {low} and {high}"
        )
    return number


def flag(value: str, label: str) -> bool:
    if value == "0" or not value:
        return False
    text = unicodedata.normalize("NFKC", value).strip().lower()
    if text in ("", "0", "false", "no", "なし", "無", "否"):
        return False
    if text in ("1", "true", "yes", "あり", "有", "要", "○", "〇"):
        return True
    english = _en(label)
    raise ValueError(f"{_ja(label)}は 1 か 0 です: {value!r} / {english} is 1 or 0")
