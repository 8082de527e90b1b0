"""EDXL-RM 1.0 RequestResource and CommitResource, in and out (OASIS Emergency Data
Exchange Language Resource Messaging).

In: untrusted bytes are loaded by the kernel's safe XML loader (`yui.hazard_alerts.parse.
load_xml`: defusedxml, no DTD, no entity, nothing fetched, size capped), then read into a
`ResourceMessage`. Anything we cannot read is refused whole, with the reason (日本語 /
English) and the element at fault: a half-read request must never become a shipment.

Out: `render` writes the same structure back (a message rendered and read again is equal).

How a municipality is named (our convention inside the standard): a
``rmsg:ContactInformation`` whose ``rm:AdditionalContactInformation`` is a CIQ xPIL party
with ``<xpil:Identifier xpil:Type="LGCode">`` holding its 全国地方公共団体コード. The
contact role ``Recipient`` names the municipality a message is for; ``Requester``
(RequestResource) or ``Owner`` (CommitResource) the one that sent it. Items of our
catalogue travel as ``rmsg:TypeStructure`` with the value list ``urn:yui:supplies:item``
and the item's code; other typing (NIMS, Sahana) is kept as it came, for staff to map.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from xml.etree import ElementTree
from xml.etree.ElementTree import Element

from yui.errors import InvalidInput
from yui.hazard_alerts.model import AlertError
from yui.hazard_alerts.parse import load_xml

__all__ = [
    "ITEM_LIST_URN",
    "Contact",
    "EdxlError",
    "Kind",
    "ResourceLine",
    "ResourceMessage",
    "Schedule",
    "parse",
    "render",
]

MSG_NS = "urn:oasis:names:tc:emergency:EDXL:RM:1.0:msg"
RM_NS = "urn:oasis:names:tc:emergency:EDXL:RM:1.0"
XPIL_NS = "urn:oasis:names:tc:ciq:xpil:3"
ITEM_LIST_URN = "urn:yui:supplies:item"
LG_CODE_TYPE = "LGCode"
RECIPIENT = "Recipient"
_LG_CODE = re.compile(r"^\d{6}$")
#: a message holds at most this many resource lines (a real one holds a few dozen)
MAX_LINES = 2000


class EdxlError(InvalidInput):
    slug = "edxl-rm-invalid"
    title = "EDXL-RM メッセージを読めません / Cannot read the EDXL-RM message"


class Kind(StrEnum):
    REQUEST = "RequestResource"
    COMMIT = "CommitResource"


@dataclass(frozen=True, slots=True)
class Contact:
    role: str
    description: str = ""
    location: str = ""
    #: 全国地方公共団体コード when the contact is a municipality
    lg_code: str | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    kind: str  # RequestedArrival, Committed, EstimatedArrival, ...
    at: datetime | None = None
    location: str = ""


@dataclass(frozen=True, slots=True)
class ResourceLine:
    element_id: str
    quantity: int | None
    name: str = ""
    resource_id: str = ""
    type_urn: str = ""
    type_value: str = ""
    #: what TypeInfo said, as text (NIMS typing and the like)
    type_info: str = ""
    #: CommitResource: which requested line this answers, and how (Accept, Decline, ...)
    answers: str = ""
    response: str = ""
    schedules: tuple[Schedule, ...] = ()

    @property
    def item_code(self) -> str | None:
        """Our catalogue's item code, when the line is typed by our item list."""
        return self.type_value if self.type_urn == ITEM_LIST_URN else None


@dataclass(frozen=True, slots=True)
class ResourceMessage:
    kind: Kind
    message_id: str
    sent_at: datetime
    lines: tuple[ResourceLine, ...]
    originating_id: str = ""
    preceding_id: str = ""
    incident_id: str = ""
    contacts: tuple[Contact, ...] = field(default=())

    def party(self, role: str) -> str | None:
        """The municipality code of the contact with ``role``, if any."""
        for contact in self.contacts:
            if contact.role == role and contact.lg_code:
                return contact.lg_code
        return None

    @property
    def recipient(self) -> str | None:
        return self.party(RECIPIENT)

    @property
    def sender(self) -> str | None:
        return self.party("Requester" if self.kind == Kind.REQUEST else "Owner")


# --------------------------------------------------------------------------- reading


def parse(data: bytes) -> ResourceMessage:
    """Untrusted bytes → a RequestResource or CommitResource, or `EdxlError` saying why."""
    try:
        root = load_xml(data)
    except AlertError as error:
        raise EdxlError(f"{error.reason_ja} / {error.reason_en}") from None
    local = _local(root.tag)
    if _ns(root.tag) != MSG_NS or local not in {kind.value for kind in Kind}:
        raise EdxlError(
            f"EDXL-RM 1.0 の RequestResource でも CommitResource でもありません（{root.tag}） / "
            f"not an EDXL-RM 1.0 RequestResource or CommitResource ({root.tag})"
        )
    kind = Kind(local)
    declared = _text(root, "MessageContentType", MSG_NS)
    if declared and declared != kind.value:
        raise EdxlError(
            f"MessageContentType {declared!r} がルート要素 {kind} と違います / "
            f"MessageContentType {declared!r} does not match the root element {kind}"
        )
    message_id = _required(root, "MessageID")
    infos = root.findall(f"{{{MSG_NS}}}ResourceInformation")
    if not infos:
        raise EdxlError("ResourceInformation がありません / no ResourceInformation")
    if len(infos) > MAX_LINES:
        raise EdxlError(f"明細が多すぎます（上限 {MAX_LINES}） / over {MAX_LINES} lines")
    incident = root.find(f"{{{MSG_NS}}}IncidentInformation")
    return ResourceMessage(
        kind=kind,
        message_id=message_id,
        sent_at=_datetime(_required(root, "SentDateTime"), "SentDateTime"),
        originating_id=_text(root, "OriginatingMessageID", MSG_NS),
        preceding_id=_text(root, "PrecedingMessageID", MSG_NS),
        incident_id="" if incident is None else _text(incident, "IncidentID", RM_NS),
        contacts=tuple(_contact(c) for c in root.findall(f"{{{MSG_NS}}}ContactInformation")),
        lines=tuple(_line(info, n) for n, info in enumerate(infos, start=1)),
    )


def _line(info: Element, number: int) -> ResourceLine:
    element_id = _text(info, "ResourceInfoElementID", MSG_NS) or f"line-{number}"
    where = f"ResourceInformation {element_id}"
    resource = info.find(f"{{{MSG_NS}}}Resource")
    name = resource_id = type_urn = type_value = type_info = ""
    if resource is not None:
        name = _text(resource, "Name", MSG_NS)
        resource_id = _text(resource, "ResourceID", MSG_NS)
        structure = resource.find(f"{{{MSG_NS}}}TypeStructure")
        if structure is not None:
            type_urn = _text(structure, "ValueListURN", RM_NS)
            type_value = _text(structure, "Value", RM_NS)
        typed = resource.find(f"{{{MSG_NS}}}TypeInfo")
        if typed is not None:
            type_info = "; ".join(
                f"{_local(child.tag)}: {(child.text or '').strip()}"
                for child in typed
                if (child.text or "").strip()
            )
    response = info.find(f"{{{MSG_NS}}}ResponseInformation")
    quantity_text = None
    assignment = info.find(f"{{{MSG_NS}}}AssignmentInformation")
    if assignment is not None:
        quantity = assignment.find(f"{{{MSG_NS}}}Quantity")
        if quantity is not None:
            quantity_text = _text(quantity, "QuantityText", RM_NS)
    return ResourceLine(
        element_id=element_id,
        quantity=_quantity(quantity_text, where),
        name=name,
        resource_id=resource_id,
        type_urn=type_urn,
        type_value=type_value,
        type_info=type_info,
        answers=""
        if response is None
        else _text(response, "PrecedingResourceInfoElementID", RM_NS),
        response="" if response is None else _text(response, "ResponseType", RM_NS),
        schedules=tuple(
            _schedule(s, where) for s in info.findall(f"{{{MSG_NS}}}ScheduleInformation")
        ),
    )


def _schedule(element: Element, where: str) -> Schedule:
    at = _text(element, "DateTime", MSG_NS)
    location = element.find(f"{{{MSG_NS}}}Location")
    return Schedule(
        kind=_text(element, "ScheduleType", MSG_NS),
        at=_datetime(at, f"{where} ScheduleInformation/DateTime") if at else None,
        location="" if location is None else _text(location, "LocationDescription", RM_NS),
    )


def _contact(element: Element) -> Contact:
    location = element.find(f"{{{RM_NS}}}ContactLocation")
    lg_code = None
    for identifier in element.iter(f"{{{XPIL_NS}}}Identifier"):
        if identifier.get(f"{{{XPIL_NS}}}Type") == LG_CODE_TYPE:
            lg_code = (identifier.text or "").strip()
            if not _LG_CODE.match(lg_code):
                raise EdxlError(
                    f"地方公共団体コード {lg_code!r} は 6 桁の数字ではありません / the local "
                    f"government code {lg_code!r} is not six digits"
                )
    return Contact(
        role=_text(element, "ContactRole", RM_NS),
        description=_text(element, "ContactDescription", RM_NS),
        location="" if location is None else _text(location, "LocationDescription", RM_NS),
        lg_code=lg_code,
    )


def _quantity(text: str | None, where: str) -> int | None:
    if text is None or text == "":
        return None
    if not re.fullmatch(r"\d{1,9}", text):
        raise EdxlError(
            f"{where}: 数量 {text!r} は 0 以上の整数ではありません / the quantity {text!r} is "
            "not a whole number of at least 0"
        )
    return int(text)


def _datetime(text: str, where: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise EdxlError(
            f"{where}: 日時 {text!r} を読めません / cannot read the date-time {text!r}"
        ) from None
    # xs:dateTime may omit the zone (the public samples do): read as UTC, the
    # interchange's common reference, rather than as this server's local time
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _required(root: Element, name: str) -> str:
    value = _text(root, name, MSG_NS)
    if not value:
        raise EdxlError(f"{name} がありません / {name} is missing")
    return value


def _text(parent: Element, name: str, namespace: str) -> str:
    element = parent.find(f"{{{namespace}}}{name}")
    return "" if element is None or element.text is None else element.text.strip()


def _ns(tag: str) -> str:
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


# --------------------------------------------------------------------------- writing

ElementTree.register_namespace("rmsg", MSG_NS)
ElementTree.register_namespace("rm", RM_NS)
ElementTree.register_namespace("xpil", XPIL_NS)


def render(message: ResourceMessage) -> bytes:
    """The message as EDXL-RM 1.0 XML (UTF-8, with its declaration)."""
    root = Element(f"{{{MSG_NS}}}{message.kind.value}")
    _add(root, MSG_NS, "MessageID", message.message_id)
    _add(root, MSG_NS, "SentDateTime", message.sent_at.astimezone(UTC).isoformat())
    _add(root, MSG_NS, "MessageContentType", message.kind.value)
    if message.originating_id:
        _add(root, MSG_NS, "OriginatingMessageID", message.originating_id)
    if message.preceding_id:
        _add(root, MSG_NS, "PrecedingMessageID", message.preceding_id)
    if message.incident_id:
        incident = _add(root, MSG_NS, "IncidentInformation")
        _add(incident, RM_NS, "IncidentID", message.incident_id)
    for contact in message.contacts:
        element = _add(root, MSG_NS, "ContactInformation")
        if contact.description:
            _add(element, RM_NS, "ContactDescription", contact.description)
        _add(element, RM_NS, "ContactRole", contact.role)
        if contact.location:
            location = _add(element, RM_NS, "ContactLocation")
            _add(location, RM_NS, "LocationDescription", contact.location)
        if contact.lg_code:
            party = _add(element, RM_NS, "AdditionalContactInformation")
            identifiers = _add(party, XPIL_NS, "Identifiers")
            identifier = _add(identifiers, XPIL_NS, "Identifier", contact.lg_code)
            identifier.set(f"{{{XPIL_NS}}}Type", LG_CODE_TYPE)
    for line in message.lines:
        info = _add(root, MSG_NS, "ResourceInformation")
        _add(info, MSG_NS, "ResourceInfoElementID", line.element_id)
        if line.answers or line.response:
            response = _add(info, MSG_NS, "ResponseInformation")
            _add(response, RM_NS, "PrecedingResourceInfoElementID", line.answers)
            _add(response, RM_NS, "ResponseType", line.response)
        resource = _add(info, MSG_NS, "Resource")
        if line.resource_id:
            _add(resource, MSG_NS, "ResourceID", line.resource_id)
        if line.name:
            _add(resource, MSG_NS, "Name", line.name)
        if line.type_urn or line.type_value:
            structure = _add(resource, MSG_NS, "TypeStructure")
            _add(structure, RM_NS, "ValueListURN", line.type_urn)
            _add(structure, RM_NS, "Value", line.type_value)
        if line.quantity is not None:
            assignment = _add(info, MSG_NS, "AssignmentInformation")
            quantity = _add(assignment, MSG_NS, "Quantity")
            _add(quantity, RM_NS, "QuantityText", str(line.quantity))
        for schedule in line.schedules:
            element = _add(info, MSG_NS, "ScheduleInformation")
            _add(element, MSG_NS, "ScheduleType", schedule.kind)
            if schedule.at is not None:
                _add(element, MSG_NS, "DateTime", schedule.at.astimezone(UTC).isoformat())
            if schedule.location:
                location = _add(element, MSG_NS, "Location")
                _add(location, RM_NS, "LocationDescription", schedule.location)
    body: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


def _add(parent: Element, namespace: str, name: str, text: str | None = None) -> Element:
    element = ElementTree.SubElement(parent, f"{{{namespace}}}{name}")
    if text is not None:
        element.text = text
    return element
