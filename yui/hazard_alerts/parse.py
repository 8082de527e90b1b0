"""Untrusted bytes → Alert, safely.

Security stance (docs/alerts.md): alert XML arrives from outside, so the loader
- caps the input at MAX_ALERT_BYTES before parsing;
- refuses any DTD at all (forbid_dtd), so no entity, internal or external, is ever
  declared — billion-laughs and XXE die at `<!DOCTYPE`; entities and external
  references are forbidden as well, in case a DTD ever slipped through;
- never fetches anything: no resolver, no XInclude processing (and a document that
  uses XInclude is refused), xml-stylesheet PIs and xsi:schemaLocation are ignored;
- transcodes declared encodings expat does not know (e.g. Shift_JIS) to UTF-8 itself.
"""

from __future__ import annotations

import codecs
import re
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from yui.hazard_alerts.cap import CAP_NAMESPACES, alert_from_cap
from yui.hazard_alerts.jma import JMA_NS, alert_from_jma
from yui.hazard_alerts.model import Alert, AlertError

__all__ = ["MAX_ALERT_BYTES", "load_xml", "parse_alert"]

MAX_ALERT_BYTES = 1 << 20  # 1 MiB: real CAP and JMA telegrams are a few to tens of KiB

_XINCLUDE_NAMESPACES = frozenset(
    {"http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude"}
)
# Encodings expat decodes by itself; anything else we decode in Python first.
_EXPAT_NATIVE = frozenset({"utf-8", "utf-16", "iso8859-1", "ascii"})
_DECLARATION = re.compile(
    rb"""\A(?:\xef\xbb\xbf)?<\?xml[^>]*?\bencoding\s*=\s*(["'])([A-Za-z][A-Za-z0-9._-]*)\1"""
)
_TEXT_DECLARATION = re.compile(
    r"""\A(<\?xml[^>]*?\bencoding\s*=\s*)(["'])[A-Za-z][A-Za-z0-9._-]*\2"""
)


def _transcode(data: bytes) -> bytes:
    """Re-encode as UTF-8 when the declared encoding is one expat cannot read."""
    match = _DECLARATION.match(data)
    if match is None:
        return data
    declared = match.group(2).decode("ascii")
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        raise AlertError(
            f"宣言された文字コード {declared!r} は未知です",
            f"unknown declared encoding {declared!r}",
        ) from None
    if name in _EXPAT_NATIVE:
        return data
    try:
        text = data.decode(name)
    except (UnicodeDecodeError, LookupError):
        raise AlertError(
            f"文字コード {declared} として読めません", f"bytes are not valid {declared}"
        ) from None
    # Rewrite the declaration so expat does not try to decode the UTF-8 a second time.
    rewritten, count = _TEXT_DECLARATION.subn(
        r"\g<1>\g<2>UTF-8\g<2>", text.lstrip("\ufeff"), count=1
    )
    if count != 1:
        raise AlertError("XML宣言を読めません", "cannot read the XML declaration")
    return rewritten.encode("utf-8")


def load_xml(data: bytes) -> Element:
    """Parse untrusted XML into an element tree, refusing anything unsafe or oversized."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise AlertError("入力がバイト列ではありません", "input is not bytes")
    data = bytes(data)
    if len(data) > MAX_ALERT_BYTES:
        raise AlertError(
            f"大きすぎます（{len(data)} バイト、上限 {MAX_ALERT_BYTES}）",
            f"too large ({len(data)} bytes, limit {MAX_ALERT_BYTES})",
        )
    if not data.strip():
        raise AlertError("空の入力です", "empty input")
    data = _transcode(data)
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise AlertError(
            f"DTD・実体宣言・外部参照は受け付けません（{type(exc).__name__}）",
            f"DTDs, entity declarations and external references are refused ({type(exc).__name__})",
        ) from exc
    except (ParseError, ValueError, LookupError) as exc:
        raise AlertError(f"XMLとして不正です（{exc}）", f"not well-formed XML ({exc})") from exc
    for elem in root.iter():
        if isinstance(elem.tag, str) and elem.tag[1:].partition("}")[0] in _XINCLUDE_NAMESPACES:
            raise AlertError("XInclude は受け付けません", "XInclude is refused")
    return root


def parse_alert(data: bytes) -> Alert:
    """Detect CAP 1.2/1.1 or JMA XML and return one Alert; AlertError for anything refused."""
    root = load_xml(data)
    ns = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    local = root.tag.rpartition("}")[2]
    try:
        if ns in CAP_NAMESPACES and local == "alert":
            return alert_from_cap(root)
        if ns == JMA_NS and local == "Report":
            return alert_from_jma(root)
    except AlertError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        # A parser bug must still surface as a clear refusal, never as a 500.
        raise AlertError(
            f"解釈できない内容です（{exc}）", f"uninterpretable content ({exc})"
        ) from exc
    raise AlertError(
        f"CAP 1.2/1.1 でも気象庁XMLでもありません（ルート要素 {root.tag}）",
        f"neither CAP 1.2/1.1 nor JMA XML (root element {root.tag})",
    )
