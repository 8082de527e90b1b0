"""Search keys and field rules (no database)."""

from __future__ import annotations

from datetime import date

import pytest

from residents.registry import fields
from residents.search.normalize import address_key, fold, is_kana, name_key, successor


@pytest.mark.parametrize(
    "spelling",
    [
        "さとう はなこ",
        "サトウハナコ",
        "ｻﾄｳ ﾊﾅｺ",
        "サトウ　ハナコ",
        " さとう　 はなこ ",
        "サトウ・ハナコ",
    ],
)
def test_readings_meet(spelling: str) -> None:
    assert fold(spelling) == "さとうはなこ"
    assert is_kana(fold(spelling))


def test_written_names_meet() -> None:
    assert name_key("髙橋", "一郎") == name_key("高橋", "一郎") == fold("高橋 一郎")
    assert name_key("山﨑", "") == fold("山崎")
    assert fold("Ｓｍｉｔｈ　Ｊｏｈｎ") == fold("smith john") == "smithjohn"
    assert fold("ｶﾞｯｺｳ") == fold("ガッコウ") == "がつこう"  # small kana fold to large
    assert not is_kana(fold("佐藤"))
    assert fold("①") == "1"  # NFKC


def test_addresses_meet() -> None:
    expected = "一番町1-2-3"
    assert address_key("一番町一丁目", "2番3号") == expected
    assert address_key("一番町1丁目", "2-3") == expected
    assert address_key("一番町１－２－３") == expected
    assert address_key("一番町一丁目", "２ー３") == expected
    assert address_key("本町二十三丁目", "5番地の2") == "本町23-5-2"
    assert address_key("コーポ") == "こーぽ"  # ー inside words is kept


def test_successor_bounds_a_prefix() -> None:
    upper = successor("さとう")
    assert upper is not None
    for key in ("さとう", "さとうはなこ", "さとう\U0010ffff"):
        assert "さとう" <= key < upper
    assert not ("さとえ" < upper)
    assert successor("") is None
    assert successor("\U0010ffff") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-02-28", date(2023, 2, 28)),
        ("2023/2/8", date(2023, 2, 8)),
        ("20230228", date(2023, 2, 28)),
        ("２０２３－０２－２８", date(2023, 2, 28)),
        ("令和5年2月28日", date(2023, 2, 28)),
        ("R5.2.28", date(2023, 2, 28)),
        ("平成元年1月8日", date(1989, 1, 8)),
        ("S45.03.01", date(1970, 3, 1)),
    ],
)
def test_dates(text: str, expected: date) -> None:
    assert fields.parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    ["2023-02-30", "令和5年2月30日", "平成32年1月1日", "昭和64年2月1日", "2023-13-01", "yesterday"],
)
def test_impossible_dates(text: str) -> None:
    with pytest.raises(ValueError, match="date"):
        fields.parse_date(text)


def test_names_cannot_start_a_formula() -> None:
    for bad in ("=1+2", "+81", "-x", "@SUM(A1)", "佐藤\t太", "佐藤<script>"):
        with pytest.raises(ValueError):
            fields.name_part(bad, required=True)
    assert fields.name_part("O'Brien", required=True) == "O'Brien"
    assert fields.name_part("Jean-Luc", required=True) == "Jean-Luc"
    assert fields.name_part("佐々木", required=True) == "佐々木"
