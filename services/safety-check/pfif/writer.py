"""PFIF 1.4 XML out, with a streaming writer that escapes every text (as the registry's
export writes its persons): fields in PFIF 1.4's order, empty ones left out."""

from __future__ import annotations

import io
from xml.sax.saxutils import XMLGenerator
from xml.sax.xmlreader import AttributesNSImpl

from safety_check.pfif.fields import NOTE_FIELDS, PERSON_FIELDS

NO_ATTRIBUTES = AttributesNSImpl({}, {})


class PfifWriter:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.buffer = io.StringIO()
        self.xml = XMLGenerator(self.buffer, encoding="UTF-8", short_empty_elements=False)

    def _drain(self) -> bytes:
        written = self.buffer.getvalue().encode()
        self.buffer.seek(0)
        self.buffer.truncate()
        return written

    def _open(self, name: str, indent: str) -> None:
        self.xml.ignorableWhitespace(indent)
        self.xml.startElementNS((self.namespace, name), f"pfif:{name}", NO_ATTRIBUTES)
        self.xml.ignorableWhitespace("\n")

    def _close(self, name: str, indent: str) -> None:
        self.xml.ignorableWhitespace(indent)
        self.xml.endElementNS((self.namespace, name), f"pfif:{name}")
        self.xml.ignorableWhitespace("\n")

    def _fields(self, fields: dict[str, str], order: tuple[str, ...], indent: str) -> None:
        for name in order:
            value = fields.get(name, "")
            if value:
                self.xml.ignorableWhitespace(indent)
                self.xml.startElementNS((self.namespace, name), f"pfif:{name}", NO_ATTRIBUTES)
                self.xml.characters(value)
                self.xml.endElementNS((self.namespace, name), f"pfif:{name}")
                self.xml.ignorableWhitespace("\n")

    def start(self) -> bytes:
        self.xml.startDocument()
        self.xml.startPrefixMapping("pfif", self.namespace)
        self.xml.startElementNS((self.namespace, "pfif"), "pfif:pfif", NO_ATTRIBUTES)
        self.xml.ignorableWhitespace("\n")
        return self._drain()

    def person(self, fields: dict[str, str], notes: list[dict[str, str]]) -> bytes:
        self._open("person", "  ")
        self._fields(fields, PERSON_FIELDS, "    ")
        for note in notes:
            self._open("note", "    ")
            self._fields(note, NOTE_FIELDS, "      ")
            self._close("note", "    ")
        self._close("person", "  ")
        return self._drain()

    def note(self, fields: dict[str, str]) -> bytes:
        self._open("note", "  ")
        self._fields(fields, NOTE_FIELDS, "    ")
        self._close("note", "  ")
        return self._drain()

    def end(self) -> bytes:
        self.xml.endElementNS((self.namespace, "pfif"), "pfif:pfif")
        self.xml.ignorableWhitespace("\n")
        self.xml.endPrefixMapping("pfif")
        self.xml.endDocument()
        return self._drain()
