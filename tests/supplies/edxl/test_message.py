"""EDXL-RM 1.0 in and out: every public sample reads; what we write reads back equal;
unsafe or malformed XML is refused whole, with the reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supplies.edxl.message import (
    ITEM_LIST_URN,
    Contact,
    EdxlError,
    Kind,
    ResourceLine,
    ResourceMessage,
    Schedule,
    parse,
    render,
)
from tests.support.shared_fixtures import shared_fixtures_dir


def samples() -> list[tuple[str, bytes]]:
    folder = shared_fixtures_dir() / "edxl-rm"
    files = sorted(folder.glob("*.xml"))
    assert len(files) == 10, files  # five of each kind (SOURCES.md)
    return [(path.name, path.read_bytes()) for path in files]


def test_every_public_sample_reads() -> None:
    for name, data in samples():
        message = parse(data)
        assert message.kind == Kind(name.partition(".")[0]), name
        assert message.sent_at.tzinfo is not None
        if message.kind == Kind.REQUEST:
            (line,) = message.lines
            assert line.quantity == 4 and "Track Dozer" in line.type_info
            assert line.type_urn == "http://nimsonline.org/2.0" and line.item_code is None
            assert message.party("Requester") is None  # no municipality code in these
        else:
            assert [line.resource_id for line in message.lines] == ["TD48", "TD7"]
            assert {line.response for line in message.lines} == {"Accept"}
            assert {line.answers for line in message.lines} == {"ResourceInfoElementID.1"}
            assert message.preceding_id.startswith("RequestResource.")
        assert message.recipient is None
        # and what we write of it reads back the same (TypeInfo is kept as text only)
        again = parse(render(message))
        assert again == _without_type_info(message), name
    one = parse(dict(samples())["RequestResource.1.xml"])
    assert one.incident_id == "uicds-incident-id"
    assert one.sent_at == datetime(2009, 6, 9, 13, 0, tzinfo=UTC)
    assert one.lines[0].schedules[0].location == "Arlington Waste Facility"
    assert one.contacts[0].role == "Requester"
    assert one.contacts[0].description == "Arlington Fire Station"


def _without_type_info(message: ResourceMessage) -> ResourceMessage:
    from dataclasses import replace

    return replace(message, lines=tuple(replace(line, type_info="") for line in message.lines))


text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
    max_size=20,
).map(str.strip)
when = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def messages(draw: st.DrawFn) -> ResourceMessage:
    kind = draw(st.sampled_from(list(Kind)))
    lines = tuple(
        ResourceLine(
            element_id=f"line-{n}",
            quantity=draw(st.none() | st.integers(min_value=0, max_value=10**9 - 1)),
            name=draw(text),
            resource_id=draw(text),
            type_urn=ITEM_LIST_URN,
            type_value=draw(st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True)),
            answers=f"line-{n}" if kind == Kind.COMMIT else "",
            response="Accept" if kind == Kind.COMMIT else "",
            schedules=(Schedule("RequestedArrival", draw(when), draw(text)),),
        )
        for n in range(draw(st.integers(min_value=1, max_value=4)))
    )
    return ResourceMessage(
        kind=kind,
        message_id=draw(st.from_regex(r"[A-Za-z0-9.:-]{1,40}", fullmatch=True)),
        sent_at=draw(when),
        lines=lines,
        originating_id=draw(text),
        incident_id=draw(text),
        contacts=(
            Contact("Requester" if kind == Kind.REQUEST else "Owner", draw(text), "", "041009"),
            Contact("Recipient", draw(text), draw(text), "040002"),
        ),
    )


@settings(max_examples=60, deadline=None)
@given(messages())
def test_what_we_write_reads_back_equal(message: ResourceMessage) -> None:
    again = parse(render(message))
    assert again == message
    assert again.sender == "041009" and again.recipient == "040002"


REQUEST = (
    '<rmsg:RequestResource xmlns:rmsg="urn:oasis:names:tc:emergency:EDXL:RM:1.0:msg" '
    'xmlns:rm="urn:oasis:names:tc:emergency:EDXL:RM:1.0">'
    "<rmsg:MessageID>m1</rmsg:MessageID><rmsg:SentDateTime>{sent}</rmsg:SentDateTime>"
    "<rmsg:ResourceInformation><rmsg:ResourceInfoElementID>1</rmsg:ResourceInfoElementID>"
    "<rmsg:AssignmentInformation><rmsg:Quantity><rm:QuantityText>{quantity}</rm:QuantityText>"
    "</rmsg:Quantity></rmsg:AssignmentInformation></rmsg:ResourceInformation>"
    "</rmsg:RequestResource>"
)


def test_unsafe_or_malformed_messages_are_refused_whole() -> None:
    assert parse(REQUEST.format(sent="2026-12-07T09:00:00+09:00", quantity="12").encode())
    refused = {
        "negative": REQUEST.format(sent="2026-12-07T09:00:00Z", quantity="-3"),
        "fractional": REQUEST.format(sent="2026-12-07T09:00:00Z", quantity="1.5"),
        "not a date": REQUEST.format(sent="yesterday", quantity="1"),
        "no lines": REQUEST.split("<rmsg:ResourceInformation>")[0] + "</rmsg:RequestResource>",
        "another standard": '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>',
        "not XML": "<rmsg:RequestResource",
        "entity": (
            '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            + REQUEST.format(sent="2026-12-07T09:00:00Z", quantity="&x;")
        ),
        "empty": "",
    }
    for case, data in refused.items():
        with pytest.raises(EdxlError) as error:
            parse(data.encode())
        assert " / " in error.value.detail, case  # 日本語 / English
    with pytest.raises(EdxlError, match="six digits"):
        parse(
            REQUEST.format(sent="2026-12-07T09:00:00Z", quantity="1")
            .replace(
                "<rmsg:ResourceInformation>",
                '<rmsg:ContactInformation xmlns:xpil="urn:oasis:names:tc:ciq:xpil:3">'
                "<rm:ContactRole>Recipient</rm:ContactRole><rm:AdditionalContactInformation>"
                '<xpil:Identifiers><xpil:Identifier xpil:Type="LGCode">12</xpil:Identifier>'
                "</xpil:Identifiers></rm:AdditionalContactInformation></rmsg:ContactInformation>"
                "<rmsg:ResourceInformation>",
                1,
            )
            .encode()
        )
