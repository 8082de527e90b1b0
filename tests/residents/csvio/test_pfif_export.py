"""PFIF 1.4 export: the exact document, and what markup characters become in it."""

from __future__ import annotations

import re
from xml.etree import ElementTree

from residents.csvio import exporter
from tests.residents.conftest import Office

PFIF = "{http://zesty.ca/pfif/1.4}"

#: the document as the export has always written it (other systems compare it byte for byte)
EXPECTED = """<?xml version="1.0" encoding="UTF-8"?>
<pfif:pfif xmlns:pfif="http://zesty.ca/pfif/1.4">
  <pfif:person>
    <pfif:person_record_id>r&amp;d.example/person.{first}</pfif:person_record_id>
    <pfif:entry_date>{now}</pfif:entry_date>
    <pfif:author_name>&lt;仙台&amp;市&gt;</pfif:author_name>
    <pfif:source_name>"宮城県"&lt;仙台&amp;市&gt; 住民基本台帳</pfif:source_name>
    <pfif:source_date>{now}</pfif:source_date>
    <pfif:full_name>佐藤 花子</pfif:full_name>
    <pfif:given_name>花子</pfif:given_name>
    <pfif:family_name>佐藤</pfif:family_name>
    <pfif:alternate_names>サトウ ハナコ</pfif:alternate_names>
    <pfif:sex>female</pfif:sex>
    <pfif:date_of_birth>1980-05-06</pfif:date_of_birth>
    <pfif:home_neighborhood>一番町一丁目</pfif:home_neighborhood>
    <pfif:home_city>&lt;仙台&amp;市&gt;</pfif:home_city>
    <pfif:home_state>"宮城県"</pfif:home_state>
    <pfif:home_country>JP</pfif:home_country>
  </pfif:person>
  <pfif:person>
    <pfif:person_record_id>r&amp;d.example/person.{second}</pfif:person_record_id>
    <pfif:entry_date>{now}</pfif:entry_date>
    <pfif:author_name>&lt;仙台&amp;市&gt;</pfif:author_name>
    <pfif:source_name>"宮城県"&lt;仙台&amp;市&gt; 住民基本台帳</pfif:source_name>
    <pfif:source_date>{now}</pfif:source_date>
    <pfif:full_name>鈴木 一郎</pfif:full_name>
    <pfif:given_name>一郎</pfif:given_name>
    <pfif:family_name>鈴木</pfif:family_name>
    <pfif:alternate_names>スズキ イチロウ</pfif:alternate_names>
    <pfif:sex>male</pfif:sex>
    <pfif:date_of_birth>1975-01-02</pfif:date_of_birth>
    <pfif:home_neighborhood>二番町</pfif:home_neighborhood>
    <pfif:home_city>&lt;仙台&amp;市&gt;</pfif:home_city>
    <pfif:home_state>"宮城県"</pfif:home_state>
    <pfif:home_country>JP</pfif:home_country>
  </pfif:person>
</pfif:pfif>
"""


def test_pfif_document_is_unchanged_and_escapes_markup(office: Office) -> None:
    first = office.register(resident_no="P00001")
    second = office.register(
        resident_no="P00002",
        family_name="鈴木",
        given_name="一郎",
        family_kana="スズキ",
        given_kana="イチロウ",
        birth_date="1975-01-02",
        sex="male",
        address={"town_code": "0010002", "town_name": "二番町", "block": "1"},
    )
    document = b"".join(
        exporter.export_pfif(
            office.db,
            office.code,
            actor="staff1",
            domain="r&d.example",
            municipality="<仙台&市>",
            prefecture='"宮城県"',
        )
    ).decode()

    now = re.search(r"<pfif:entry_date>([^<]+)</pfif:entry_date>", document)
    assert now is not None
    assert document == EXPECTED.format(first=first["id"], second=second["id"], now=now.group(1))
    # the text a reader gets back is the text given: nothing lost to escaping
    root = ElementTree.fromstring(document)
    person = root.findall(f"{PFIF}person")[0]
    assert person.findtext(f"{PFIF}home_city") == "<仙台&市>"
    assert person.findtext(f"{PFIF}source_name") == '"宮城県"<仙台&市> 住民基本台帳'
