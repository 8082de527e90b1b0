"""Alert intake: CAP 1.2/1.1 and JMA XML into one model, refusals, and `covers()`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.shared_fixtures import shared_fixtures_dir
from yui.hazard_alerts import (
    MAX_ALERT_BYTES,
    Alert,
    AlertError,
    AlertKind,
    AlertSource,
    Area,
    MsgType,
    Severity,
    Status,
    area_covers,
    covers,
    parse_alert,
)


def fixtures_dir() -> Path:
    return shared_fixtures_dir()


def load(relative: str) -> Alert:
    return parse_alert((fixtures_dir() / "cap" / relative).read_bytes())


def refused(data: bytes) -> AlertError:
    with pytest.raises(AlertError) as info:
        parse_alert(data)
    return info.value


# --- every fixture -------------------------------------------------------------------


def test_every_positive_fixture_parses() -> None:
    cap_dir = fixtures_dir() / "cap"
    files = sorted([*cap_dir.glob("*.xml"), *cap_dir.glob("*.cap"), *cap_dir.glob("jma/*.xml")])
    assert len(files) >= 15, files  # 9 CAP + 6 JMA per SOURCES.md
    failures: dict[str, str] = {}
    for path in files:
        try:
            alert = parse_alert(path.read_bytes())
        except AlertError as exc:
            failures[path.name] = str(exc)
            continue
        expected = AlertSource.JMA if path.parent.name == "jma" else AlertSource.CAP
        assert alert.source is expected, path.name
        assert alert.identifier and alert.sender, path.name
        assert alert.sent.utcoffset() is not None, path.name
        assert alert.languages, path.name
    assert failures == {}


def test_every_negative_fixture_is_refused() -> None:
    files = sorted((fixtures_dir() / "cap" / "negative").iterdir())
    assert len(files) >= 3, files
    accepted = []
    for path in files:
        try:
            parse_alert(path.read_bytes())
        except AlertError:
            continue
        accepted.append(path.name)
    assert accepted == []


@pytest.mark.parametrize(
    ("name", "reasons"),
    [
        ("invalid.cap", ["missing required element scope"]),
        ("Fiji_Water_Shortage_Suva.xml", ["unknown element reference", "malformed OID"]),
        ("xee.cap", ["DTD"]),
    ],
)
def test_negative_fixture_names_its_reason(name: str, reasons: list[str]) -> None:
    error = refused((fixtures_dir() / "cap" / "negative" / name).read_bytes())
    message = str(error)
    assert message.startswith("警報XMLを解析できません: ")
    assert " / cannot parse alert XML: " in message
    for reason in reasons:
        assert reason in error.reason_en


# --- CAP fixtures, concretely -----------------------------------------------------------


def test_cap_thunderstorm_warning() -> None:
    alert = load("Oasis_ThunderstormWarning.xml")
    assert (alert.status, alert.msg_type, alert.kind) == (
        Status.ACTUAL,
        MsgType.ALERT,
        AlertKind.STORM,
    )
    assert alert.severity is Severity.SEVERE
    assert alert.sent == datetime(2003, 6, 17, 21, 57, tzinfo=UTC)
    assert alert.expires == datetime(2003, 6, 17, 23, 0, tzinfo=UTC)
    assert alert.effective == alert.sent  # CAP: no <effective> means "as of <sent>"
    (area,) = alert.areas
    assert area.codes == (("SAME", "006109"), ("SAME", "006009"), ("SAME", "006003"))
    assert area.polygons[0][0] == (38.47, -120.14) and len(area.polygons[0]) == 5


def test_cap_earthquake_update_with_circle() -> None:
    alert = load("Oasis_EarthquakeReport.xml")
    assert alert.msg_type is MsgType.UPDATE
    assert alert.kind is AlertKind.EARTHQUAKE
    assert alert.references == ("trinet@caltech.edu,TRI13970876.1,2003-06-11T20:30:00-07:00",)
    assert alert.areas[0].circles == ((32.9525, -115.5527, 0.0),)


def test_cap_two_languages_share_one_area() -> None:
    alert = load("Oasis_AmberAlert.xml")
    assert alert.languages == ("en-US", "es-US")
    assert alert.headline == "Amber Alert in Los Angeles County"  # English before Spanish
    assert alert.kind is AlertKind.OTHER
    assert [a.name for a in alert.areas] == ["Los Angeles County"]  # same geocode, deduplicated


def test_cap_iso_8859_1() -> None:
    alert = load("earthquake-iso8859-1.cap")
    assert alert.headline is not None and "Usulután" in alert.headline
    assert alert.kind is AlertKind.EARTHQUAKE
    assert alert.severity is Severity.UNKNOWN


def test_cap_prefixed_fire_with_circle() -> None:
    alert = load("australia.cap")
    assert alert.kind is AlertKind.FIRE
    assert alert.languages == ("en-AU",)
    assert alert.areas[0].circles == ((-35.3888, 147.0598, 25.0),)


def test_cap_exercise_tsunami_watch() -> None:
    alert = load("Myanmar-Tsunami-MultiLanguage.xml")
    assert alert.status is Status.EXERCISE and not alert.is_actual
    assert alert.kind is AlertKind.TSUNAMI_WATCH  # parameter "warning priority: Watch"
    assert alert.languages == ("my", "en-US")  # the block without <language> is en-US
    assert alert.headline == "Tsunami Alert"
    assert alert.instruction is not None and "\r" in alert.instruction  # &#13; kept


def test_cap_test_flood_restricted() -> None:
    alert = load("Philippines-Flood-MultiLanguage.xml")
    assert (alert.status, alert.kind, alert.scope) == (Status.TEST, AlertKind.FLOOD, "Restricted")
    assert alert.severity is Severity.MODERATE
    assert alert.languages == ("en-US", "tl")


def test_cap_exercise_tsunami_warning_with_odd_offset() -> None:
    alert = load("tsunami.xml")
    assert alert.status is Status.EXERCISE
    assert alert.kind is AlertKind.TSUNAMI_WARNING
    assert alert.sent.utcoffset() == timedelta(hours=6, minutes=30)
    assert alert.areas[0].name == "Rakhine coastal area"  # whitespace trimmed


# --- JMA fixtures, concretely -----------------------------------------------------------


def test_jma_vxse51_intensity_flash() -> None:
    alert = load("jma/20210217140808_0_VXSE51_010000.xml")
    assert alert.source is AlertSource.JMA and alert.status is Status.ACTUAL
    assert alert.kind is AlertKind.EARTHQUAKE_INTENSITY
    assert alert.max_intensity == "3"
    assert [(a.name, a.max_intensity) for a in alert.areas] == [
        ("宮城県中部", "3"),
        ("福島県浜通り", "3"),
    ]
    assert alert.areas[0].codes == (("地震情報／細分区域", "222"), ("地震情報／都道府県等", "04"))
    assert alert.languages == ("ja",)


def test_jma_vxse53_hypocentre_and_intensity() -> None:
    alert = load("jma/20210216140226_0_VXSE53_010000.xml")
    assert alert.kind is AlertKind.EARTHQUAKE_INTENSITY
    assert alert.max_intensity == "1"
    assert alert.severity is Severity.MINOR
    assert alert.magnitude == 4.1
    assert alert.hypocenter is not None
    assert (alert.hypocenter.name, alert.hypocenter.lat, alert.hypocenter.lon) == (
        "福島県沖",
        37.5,
        141.6,
    )
    assert alert.hypocenter.depth_km == 50
    assert {a.name for a in alert.areas} == {
        "宮城県南部",
        "宮城県中部",
        "福島県中通り",
        "福島県浜通り",
    }
    assert alert.incident == "20210216225935"


def test_jma_vxse52_exercise() -> None:
    alert = load("jma/32-35_01_02_100514_VXSE52.xml")
    assert alert.status is Status.EXERCISE  # 訓練
    assert alert.kind is AlertKind.EARTHQUAKE_HYPOCENTER
    assert alert.magnitude == 6.6
    assert alert.hypocenter is not None and alert.hypocenter.name == "駿河湾"
    assert alert.areas == ()


def test_jma_vtse41_tsunami_advisory() -> None:
    alert = load("jma/20231009064018_06274659_VTSE41.xml")
    assert alert.status is Status.ACTUAL
    assert alert.kind is AlertKind.TSUNAMI_ADVISORY
    assert alert.msg_type is MsgType.ALERT
    assert alert.severity is Severity.MODERATE
    assert [(a.name, a.codes, a.kind) for a in alert.areas] == [
        ("伊豆諸島", (("津波予報区", "320"),), AlertKind.TSUNAMI_ADVISORY),
        ("小笠原諸島", (("津波予報区", "321"),), AlertKind.TSUNAMI_ADVISORY),
    ]
    assert alert.magnitude is None  # "NaN" (M不明)
    assert alert.sent == datetime(2023, 10, 8, 21, 40, 17, tzinfo=UTC)


def test_jma_vtse41_exercise_cancellation() -> None:
    alert = load("jma/32-39_13_07_191025_VTSE41.xml")
    assert alert.status is Status.EXERCISE
    assert alert.msg_type is MsgType.CANCEL  # every area 津波注意報解除
    assert alert.kind is AlertKind.TSUNAMI_ADVISORY  # what is being lifted
    assert [a.name for a in alert.areas] == [
        "千葉県内房",
        "東京湾内湾",
        "伊豆諸島",
        "相模湾・三浦半島",
        "静岡県",
    ]
    assert alert.headline is not None and alert.headline.startswith("＊＊＊これは訓練です＊＊＊")


def test_jma_vxse42_delivery_test() -> None:
    alert = load("jma/54_01_01_100514_VXSE42.xml")
    assert alert.status is Status.TEST  # 試験
    assert alert.kind is AlertKind.EARTHQUAKE_EARLY_WARNING
    assert alert.description == "緊急地震速報のテスト電文です。"


# --- covers() -----------------------------------------------------------------------------


def test_covers_cap_polygon() -> None:
    alert = load("Oasis_ThunderstormWarning.xml")
    assert covers(alert, 38.49, -119.93)
    assert covers(alert, 38.47, -120.14)  # a vertex counts as inside
    assert not covers(alert, 38.0, -120.5)
    assert not covers(alert, 38.62, -120.14)  # inside the bounding box, outside the polygon


def test_covers_cap_circle() -> None:
    alert = load("australia.cap")  # 25 km around -35.3888,147.0598
    assert covers(alert, -35.40, 147.10)  # ~4 km away
    assert not covers(alert, -35.0, 147.06)  # ~43 km away


def test_covers_geometry_less_cap_area_is_false() -> None:
    assert not covers(load("Oasis_HomelandAlert.xml"), 38.9, -77.0)


def test_covers_jma_areas_approximately() -> None:
    quake = load("jma/20210217140808_0_VXSE51_010000.xml")
    assert covers(quake, 38.268, 140.872)  # Sendai, 宮城県中部
    assert covers(quake, 37.05, 140.89)  # Iwaki, 福島県浜通り
    assert not covers(quake, 35.69, 139.70)  # Shinjuku
    tsunami = load("jma/20231009064018_06274659_VTSE41.xml")
    assert covers(tsunami, 33.11, 139.79)  # Hachijo-jima, 伊豆諸島
    assert covers(tsunami, 27.09, 142.19)  # Chichi-jima, 小笠原諸島
    assert not covers(tsunami, 35.69, 139.70)
    lifted = load("jma/32-39_13_07_191025_VTSE41.xml")
    assert covers(lifted, 34.99, 139.87)  # Tateyama, 千葉県内房
    assert not covers(load("jma/32-35_01_02_100514_VXSE52.xml"), 34.8, 138.5)  # no areas


def test_area_covers_concave_polygon_and_prefecture_names() -> None:
    # A "U" shape: the notch between the arms is outside.
    u = ((0.0, 0.0), (0.0, 3.0), (3.0, 3.0), (3.0, 2.0), (1.0, 2.0), (1.0, 1.0), (3.0, 1.0),
         (3.0, 0.0), (0.0, 0.0))  # fmt: skip
    area = Area(name="U", polygons=(u,))
    assert area_covers(area, 0.5, 1.5)
    assert area_covers(area, 2.5, 0.5)
    assert not area_covers(area, 2.0, 1.5)
    assert area_covers(Area(name="宮城"), 38.27, 140.87)  # EEW's short prefecture name
    assert area_covers(Area(name="宮城県北部"), 38.7, 141.0)  # falls back to the prefecture
    assert not area_covers(Area(name="Atlantis"), 0.0, 0.0)
    with pytest.raises(ValueError):
        area_covers(area, 91.0, 0.0)


# --- security -----------------------------------------------------------------------------

_WATCHED: list[tuple[str, tuple[Any, ...]]] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Audit hooks cannot be removed; this one only records while a test is watching.
    if _WATCHED is not None and (
        event == "open" or event.startswith(("socket.", "urllib.", "http.client."))
    ):
        _WATCHED.append((event, args))


sys.addaudithook(_audit)


@contextmanager
def watching_io() -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """Record every file open and socket/URL use in the block."""
    global _WATCHED
    seen: list[tuple[str, tuple[Any, ...]]] = []
    _WATCHED = seen
    try:
        yield seen
    finally:
        _WATCHED = None


def refused_without_io(data: bytes) -> AlertError:
    """Parse `data` expecting a refusal, and prove no file was opened and no socket used."""
    refused(data)  # warm-up: any lazy import happens here, not in the watched call
    with watching_io() as seen:
        error = refused(data)
    assert seen == []
    return error


def test_io_watcher_is_not_blind(tmp_path: Path) -> None:
    # Guards the security tests below against passing vacuously.
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    with watching_io() as seen:
        secret.read_text()
    assert [event for event, _ in seen] == ["open"]


def test_billion_laughs_is_refused() -> None:
    lol = "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )  # expands to 10**9 "lol"s
    doc = (
        '<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY lol0 "lol">' + lol + "]>"
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol9;</identifier></alert>'
    )
    error = refused_without_io(doc.encode())
    assert "DTD" in error.reason_en


def test_external_entities_are_refused_without_io(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-ALERT-PAYLOAD")
    doc = (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE alert [<!ENTITY file SYSTEM "{secret.as_uri()}">'
        '<!ENTITY net SYSTEM "http://127.0.0.1:9/x"><!ENTITY % p SYSTEM "http://127.0.0.1:9/p"> %p;]>\n'
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&file;&net;</identifier>'
        "</alert>"
    )
    error = refused_without_io(doc.encode())
    assert "TOP-SECRET" not in str(error)


def test_xxe_fixture_is_refused_without_io() -> None:
    refused_without_io((fixtures_dir() / "cap" / "negative" / "xee.cap").read_bytes())


def test_any_dtd_is_refused() -> None:
    thunder = (fixtures_dir() / "cap" / "Oasis_ThunderstormWarning.xml").read_bytes()
    with_doctype = thunder.replace(b"<alert ", b"<!DOCTYPE alert>\n<alert ", 1)
    assert b"<!DOCTYPE" in with_doctype
    assert "DTD" in refused(with_doctype).reason_en


def test_undeclared_entity_is_refused() -> None:
    doc = (
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier></alert>'
    )
    assert "well-formed" in refused(doc).reason_en


def test_xinclude_is_refused_without_io() -> None:
    thunder = (fixtures_dir() / "cap" / "Oasis_ThunderstormWarning.xml").read_bytes()
    doc = thunder.replace(
        b"<identifier>",
        b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd"/>'
        b"<identifier>",
        1,
    )
    assert "XInclude" in refused_without_io(doc).reason_en


def test_oversized_input_is_refused() -> None:
    doc = b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">' + b" " * MAX_ALERT_BYTES
    assert "too large" in refused(doc + b"</alert>").reason_en


@pytest.mark.parametrize("data", [b"", b"   ", b"not xml", b"<a><b></a>"])
def test_garbage_is_refused(data: bytes) -> None:
    refused(data)


def test_other_xml_formats_are_refused() -> None:
    edxl = fixtures_dir() / "edxl-rm" / "RequestResource.1.xml"
    if edxl.exists():
        assert "neither CAP" in refused(edxl.read_bytes()).reason_en
    assert "neither CAP" in refused(b"<alert/>").reason_en  # CAP needs its namespace
    cap10 = b'<alert xmlns="http://www.incident.com/cap/1.0"/>'
    assert "neither CAP" in refused(cap10).reason_en


# --- encodings ----------------------------------------------------------------------------


def _thunder() -> str:
    path = fixtures_dir() / "cap" / "Oasis_ThunderstormWarning.xml"
    return path.read_text(encoding="utf-8")


def test_shift_jis_declared_encoding_is_transcoded() -> None:
    text = _thunder().replace('encoding = "UTF-8"', 'encoding="Shift_JIS"')
    text = text.replace("SEVERE THUNDERSTORM WARNING</headline>", "雷雨警報（テスト）</headline>")
    alert = parse_alert(text.encode("shift_jis"))
    assert alert.headline == "雷雨警報（テスト）"


def test_unknown_or_lying_encoding_is_refused() -> None:
    text = _thunder()
    assert (
        "unknown declared encoding"
        in refused(text.replace('encoding = "UTF-8"', 'encoding="x-klingon"').encode()).reason_en
    )
    lying = text.replace('encoding = "UTF-8"', 'encoding="Shift_JIS"').replace(
        "WARNING</headline>", "警報\udcff</headline>"
    )
    refused(lying.encode("utf-8", errors="surrogateescape"))


# --- CAP validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("<status>Actual</status>", "<status>Real</status>", "invalid status 'Real'"),
        ("<msgType>Alert</msgType>", "<msgType>Notice</msgType>", "invalid msgType"),
        ("<scope>Public</scope>", "<scope>Everyone</scope>", "invalid scope"),
        ("<severity>Severe</severity>", "<severity>Bad</severity>", "invalid severity"),
        ("<category>Met</category>", "<category>Weather</category>", "invalid category"),
        ("2003-06-17T14:57:00-07:00", "2003-06-17T21:57:00Z", "invalid sent time"),
        ("2003-06-17T14:57:00-07:00", "2003-06-17T14:57:00", "invalid sent time"),
        ("KSTO1055887203", "KSTO 1055887203", "contains a space"),
        ("<event>SEVERE THUNDERSTORM</event>", "", "missing required element event"),
        ("38.62,-119.89 38.47,-120.14", "38.62,-119.89", "closed polygon"),
        ("38.47,-120.14 38.34", "38.47,-120.14 98.34", "invalid coordinate"),
        ("<scope>Public</scope>", "<scope>Public</scope><scope>Public</scope>", "more than one"),
        ("<sender>KSTO@NWS.NOAA.GOV</sender>", "", "missing required element sender"),
        (
            "<headline>SEVERE",
            "<headlines>x</headlines><headline>SEVERE",
            "unknown element headlines",
        ),
    ],
)
def test_cap_invalid_values_are_refused_with_reason(old: str, new: str, reason: str) -> None:
    text = _thunder()
    assert old in text
    assert reason in refused(text.replace(old, new, 1).encode()).reason_en


def test_cap_out_of_order_is_refused() -> None:
    text = (
        _thunder()
        .replace("<status>Actual</status> \n", "")
        .replace("<scope>Public</scope>", "<scope>Public</scope><status>Actual</status>")
    )
    assert "out of order" in refused(text.encode()).reason_en


def test_cap_11_is_accepted() -> None:
    text = _thunder().replace("emergency:cap:1.2", "emergency:cap:1.1")
    alert = parse_alert(text.encode())
    assert alert.kind is AlertKind.STORM and alert.source is AlertSource.CAP


def test_cap_without_info_is_accepted() -> None:
    doc = (
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x1</identifier>'
        "<sender>a@b</sender><sent>2024-01-01T00:00:00+09:00</sent><status>System</status>"
        "<msgType>Ack</msgType><scope>Public</scope></alert>"
    )
    alert = parse_alert(doc.encode())
    assert (alert.status, alert.msg_type, alert.kind, alert.areas) == (
        Status.SYSTEM,
        MsgType.ACK,
        AlertKind.OTHER,
        (),
    )


# --- JMA validation and the telegrams without fixtures -----------------------------------


def _jma(title: str, status: str, body: str, info_type: str = "発表") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Report xmlns="http://xml.kishou.go.jp/jmaxml1/">'
        f"<Control><Title>{title}</Title><DateTime>2024-01-01T07:10:20Z</DateTime>"
        f"<Status>{status}</Status><EditorialOffice>気象庁本庁</EditorialOffice>"
        "<PublishingOffice>気象庁</PublishingOffice></Control>"
        '<Head xmlns="http://xml.kishou.go.jp/jmaxml1/informationBasis1/">'
        f"<Title>{title}</Title><ReportDateTime>2024-01-01T16:10:00+09:00</ReportDateTime>"
        "<TargetDateTime>2024-01-01T16:10:00+09:00</TargetDateTime><EventID>20240101161000</EventID>"
        f"<InfoType>{info_type}</InfoType><Serial>1</Serial><InfoKind>x</InfoKind>"
        "<InfoKindVersion>1.0_0</InfoKindVersion><Headline><Text>見出し</Text></Headline></Head>"
        '<Body xmlns="http://xml.kishou.go.jp/jmaxml1/body/seismology1/"'
        ' xmlns:jmx_eb="http://xml.kishou.go.jp/jmaxml1/elementBasis1/">'
        f"{body}</Body></Report>"
    ).encode()


def test_jma_major_tsunami_warning() -> None:
    item = (
        "<Item><Area><Name>{name}</Name><Code>{code}</Code></Area><Category><Kind><Name>k</Name>"
        "<Code>{kind}</Code></Kind><LastKind><Name>l</Name><Code>00</Code></LastKind></Category></Item>"
    )
    body = (
        "<Tsunami><Forecast>"
        + item.format(name="宮城県", code="220", kind="52")
        + item.format(name="福島県", code="250", kind="51")
        + item.format(name="千葉県九十九里・外房", code="300", kind="71")
        + "</Forecast></Tsunami>"
    )
    alert = parse_alert(_jma("津波警報・注意報・予報a", "通常", body))
    assert alert.kind is AlertKind.TSUNAMI_MAJOR_WARNING
    assert alert.severity is Severity.EXTREME
    assert [(a.name, a.kind) for a in alert.areas] == [
        ("宮城県", AlertKind.TSUNAMI_MAJOR_WARNING),
        ("福島県", AlertKind.TSUNAMI_WARNING),
    ]
    assert covers(alert, 38.27, 140.87)


def test_jma_earthquake_early_warning() -> None:
    area = (
        "<Area><Name>{name}</Name><Code>{code}</Code><Category><Kind><Name>緊急地震速報（警報）"
        "</Name><Code>11</Code></Kind></Category><ForecastInt><From>{int}</From><To>{int}</To>"
        "</ForecastInt></Area>"
    )
    body = (
        "<Earthquake><OriginTime>2024-01-01T16:10:09+09:00</OriginTime><Hypocenter><Area>"
        "<Name>石川県能登地方</Name><jmx_eb:Coordinate>+37.5+137.3-10000/</jmx_eb:Coordinate>"
        '</Area></Hypocenter><jmx_eb:Magnitude type="Mj">7.4</jmx_eb:Magnitude></Earthquake>'
        "<Intensity><Forecast><ForecastInt><From>6+</From><To>over</To></ForecastInt>"
        "<Pref><Name>石川</Name><Code>9170</Code>"
        + area.format(name="石川県能登", code="390", int="6+")
        + area.format(name="石川県加賀", code="391", int="5-")
        + "</Pref></Forecast></Intensity>"
    )
    alert = parse_alert(_jma("緊急地震速報（警報）", "通常", body))
    assert alert.kind is AlertKind.EARTHQUAKE_EARLY_WARNING
    assert alert.max_intensity == "6+"
    assert alert.severity is Severity.EXTREME
    assert [(a.name, a.max_intensity) for a in alert.areas] == [
        ("石川県能登", "6+"),
        ("石川県加賀", "5-"),
    ]
    assert alert.magnitude == 7.4
    assert covers(alert, 37.39, 136.9)  # Wajima, via 石川県's approximate box


def test_jma_cancellation_info_type() -> None:
    alert = parse_alert(_jma("震度速報", "通常", "<Text>取り消します</Text>", info_type="取消"))
    assert alert.msg_type is MsgType.CANCEL


@pytest.mark.parametrize(
    ("title", "status", "body", "reason"),
    [
        ("震度速報", "本番", "", "Control/Status"),
        ("長周期地震動に関する観測情報", "通常", "", "unsupported telegram"),
        (
            "震度速報",
            "通常",
            "<Intensity><Observation><MaxInt>8</MaxInt></Observation></Intensity>",
            "invalid intensity",
        ),
    ],
)
def test_jma_invalid_is_refused(title: str, status: str, body: str, reason: str) -> None:
    assert reason in refused(_jma(title, status, body)).reason_en


def test_alert_error_is_a_value_error_and_bilingual() -> None:
    error = refused(b"<x/>")
    assert isinstance(error, ValueError)
    ja, _, en = str(error).partition(" / ")
    assert ja.startswith("警報XMLを解析できません") and en.startswith("cannot parse alert XML")
