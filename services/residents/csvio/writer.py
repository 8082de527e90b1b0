"""Writing CSV that a spreadsheet opens safely, in the encoding the reader asked for.

CSV injection: a cell that begins with = + - @ (or their full-width forms), a tab or
a carriage return would be run as a formula by Excel or LibreOffice; such a cell
is written with a leading apostrophe ("'=1+2"), which spreadsheets show as text.
The import removes that apostrophe again, so an export imports back unchanged.

CP932 cannot hold every character (e.g. 𠮷); such a character is written as 〓
(geta, the register's own mark for it) and counted, so the caller can say so.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import BinaryIO

from residents.csvio.parser import FORMULA_START

EXPORT_ENCODINGS = ("utf-8", "utf-8-sig", "cp932")
SUBSTITUTE = "〓"


def escape_cell(value: object) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


class CsvSink:
    """Rows in, encoded bytes out: to a binary stream, or collected chunk by chunk."""

    def __init__(self, stream: BinaryIO | None, encoding: str = "utf-8") -> None:
        if encoding not in EXPORT_ENCODINGS:
            raise ValueError(f"encoding は {', '.join(EXPORT_ENCODINGS)} のいずれかです")
        self.stream = stream
        self.encoding = encoding
        self.substituted = 0
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self._started = False
        self.rows = 0

    def _encode(self, text: str) -> bytes:
        if self.encoding == "cp932":
            try:
                return text.encode("cp932")
            except UnicodeEncodeError:
                out = []
                for char in text:
                    try:
                        out.append(char.encode("cp932"))
                    except UnicodeEncodeError:
                        self.substituted += 1
                        out.append(SUBSTITUTE.encode("cp932"))
                return b"".join(out)
        if self.encoding == "utf-8-sig" and not self._started:
            self._started = True
            return text.encode("utf-8-sig")
        return text.encode("utf-8")

    def write_rows(self, rows: Iterable[Iterable[object]]) -> bytes:
        """Write (and return) the encoded bytes of `rows`, every cell escaped."""
        self._buffer.seek(0)
        self._buffer.truncate()
        for row in rows:
            self._writer.writerow([escape_cell(cell) for cell in row])
            self.rows += 1
        data = self._encode(self._buffer.getvalue())
        if self.stream is not None:
            self.stream.write(data)
        return data

    def write_header(self, names: Iterable[str]) -> bytes:
        data = self.write_rows([list(names)])
        self.rows -= 1
        return data
