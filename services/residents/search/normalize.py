"""Search keys: names and addresses folded so that equivalent spellings meet.

One function folds both what is stored and what is searched for, so a key column
compared by prefix finds a resident however the name was typed:

- NFKC (full-width Latin and digits become half-width, half-width katakana become
  full-width, ｶﾞ becomes ガ, compatibility forms are expanded);
- katakana become hiragana, and small kana become their large forms
  (ァ→あ, ッ→つ, ョ→よ), so サトウ, さとう, ｻﾄｳ and ｻﾄｰ-like variants meet;
- spaces (half- and full-width) and name separators (・, =) are dropped;
- the common 異体字 of family names fold to their usual form (髙→高, 﨑→崎, 邊→辺);
- Latin letters are case-folded.

Keys are compared by code point (SQLite's BINARY collation, PostgreSQL's "C"), so a
prefix search is a range `key >= p AND key < successor(p)` that a B-tree index serves
on both databases, whatever the server's locale.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import jaconv

# Katakana → hiragana for the whole block that has hiragana counterparts (ァ..ヶ).
_KATA_TO_HIRA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}
# Small kana → large kana (hiragana, after the step above); jaconv's table, applied by
# str.translate so that folding a million names stays cheap.
_SMALL = "ぁぃぅぇぉっゃゅょゎゕゖ"
_SMALL_TO_LARGE = str.maketrans(_SMALL, jaconv.enlarge_smallkana(_SMALL))
# 異体字 that are common in family names; the register keeps the true form, the key
# the usual one, so 高橋 finds 髙橋 and 山崎 finds 山﨑.
_ITAIJI = str.maketrans(
    {
        "髙": "高",
        "﨑": "崎",
        "嵜": "崎",
        "邊": "辺",
        "邉": "辺",
        "齋": "斎",
        "齊": "斉",
        "濵": "浜",
        "濱": "浜",
        "澤": "沢",
        "廣": "広",
        "櫻": "桜",
        "國": "国",
        "嶋": "島",
        "冨": "富",
        "德": "徳",
        "惠": "恵",
        "眞": "真",
        "實": "実",
        "藏": "蔵",
        "瀨": "瀬",
        "槇": "槙",
        "曾": "曽",
        "栁": "柳",
        "萬": "万",
    }
)
_DROP = re.compile(r"[\s・=＝·‧]+")

#: what a key column can hold at most (the schema's width)
KEY_LENGTH = 120


def fold(text: str) -> str:
    """The search key of a name or a query (see the module's description)."""
    text = unicodedata.normalize("NFKC", text)
    text = _DROP.sub("", text)
    text = text.translate(_ITAIJI).translate(_KATA_TO_HIRA).translate(_SMALL_TO_LARGE)
    return text.casefold()[:KEY_LENGTH]


def name_key(family: str, given: str) -> str:
    return fold(family + given)


_HIRAGANA_ONLY = re.compile(r"^[\u3041-\u309f\u30fc]+$")


def is_kana(key: str) -> bool:
    """True when a folded query is a reading (hiragana and ー only), not a written name."""
    return bool(_HIRAGANA_ONLY.match(key))


# --- addresses -----------------------------------------------------------------------

_KANJI_DIGITS = {
    "〇": 0,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CHOME = re.compile(r"([〇一二三四五六七八九十百]+)丁目")
_DASHES = re.compile(r"(?<=\d)[\-‐‑‒–—―−ー－ｰ─━](?=\d)")
_UNITS = re.compile(r"(?<=\d)(?:丁目|番地の|番地|番の|番|号|の)")
_TRAILING = re.compile(r"-+$")


def _kanji_number(text: str) -> int:
    """一 → 1, 十二 → 12, 二十三 → 23, 百五 → 105 (enough for 丁目 numbers)."""
    total, current = 0, 0
    for char in text:
        if char == "百":
            total += (current or 1) * 100
            current = 0
        elif char == "十":
            total += (current or 1) * 10
            current = 0
        else:
            current = current * 10 + _KANJI_DIGITS[char]
    return total + current


@functools.lru_cache(maxsize=65536)
def address_key(town: str, block: str = "") -> str:
    """The key of an address in the municipality: 町字 and 番地, building excluded.

    一番町一丁目2番3号, 一番町1丁目2-3 and 一番町１－２－３ all become 一番町1-2-3.
    Only numbers before 丁目 are read as kanji numerals (一番町 is a town name).
    """
    text = unicodedata.normalize("NFKC", f"{town}{block}")
    text = re.sub(r"\s+", "", text)
    text = _CHOME.sub(lambda match: f"{_kanji_number(match.group(1))}丁目", text)
    text = _DASHES.sub("-", text)
    text = _UNITS.sub("-", text)
    text = re.sub(r"-{2,}", "-", text)
    text = _TRAILING.sub("", text)
    return text.translate(_KATA_TO_HIRA).casefold()[:KEY_LENGTH]


def successor(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with `prefix`.

    `key >= prefix AND key < successor(prefix)` is the prefix match an index serves;
    None means "no upper bound" (an empty prefix, or only U+10FFFF characters).
    """
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            upper = last + 1
            if 0xD800 <= upper <= 0xDFFF:  # surrogates cannot be stored; skip past them
                upper = 0xE000
            return prefix[:-1] + chr(upper)
        prefix = prefix[:-1]
    return None
