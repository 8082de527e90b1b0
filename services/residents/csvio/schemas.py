"""The import's report over HTTP."""

from __future__ import annotations

from pydantic import BaseModel, Field

from residents.csvio.importer import ImportReport


class RowErrorOut(BaseModel):
    line: int = Field(description="行番号 (the header is line 1) / line number")
    column: str = Field(description="列名 / column")
    reason: str = Field(description="理由 / reason")


class ImportReportOut(BaseModel):
    committed: bool = Field(description="取り込んだか / whether anything was written")
    encoding: str
    rows: int = Field(description="読んだ行数 / data rows read")
    imported: int
    rejected: int
    households_created: int
    errors: list[RowErrorOut] = Field(description="最初の1000件 / the first 1000 problems")
    errors_total: int


def report_out(report: ImportReport) -> ImportReportOut:
    return ImportReportOut(
        committed=report.committed,
        encoding=report.encoding,
        rows=report.rows,
        imported=report.imported,
        rejected=report.rejected,
        households_created=report.households_created,
        errors=[RowErrorOut(line=e.line, column=e.column, reason=e.reason) for e in report.errors],
        errors_total=report.errors_total,
    )
