"""HTTP import and exports. Large files go through the CLI (`yui residents import`);
an upload is limited by the site's YUI_MAX_BODY_BYTES."""

from __future__ import annotations

import tempfile
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from residents.access import StaffWriter
from residents.csvio import exporter
from residents.csvio.importer import ImportOptions, import_stream
from residents.csvio.parser import FileError
from residents.csvio.schemas import ImportReportOut, report_out
from residents.settings import ResidentsSettings
from yui.http.deps import Context, Tenant
from yui.http.problems import problem_response
from yui.tenancy.service import get_tenant

router = APIRouter(tags=["resident files"])

CSV_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV"}
}


def _invalid(detail: str, errors: list[dict[str, Any]], path: str) -> JSONResponse:
    return problem_response(422, detail, slug="invalid-file", instance=path, errors=errors[:1000])


@router.post(
    "/imports/residents",
    response_model=ImportReportOut,
    summary="住民CSVの取込（既定は全件か無し） / import a resident CSV (all or nothing)",
    openapi_extra=CSV_BODY,
)
async def import_residents(
    request: Request,
    tenant: Tenant,
    context: Context,
    principal: StaffWriter,
    encoding: Annotated[
        Literal["auto", "utf-8", "utf-8-sig", "cp932", "shift_jis"],
        Query(description="文字コード (auto: UTF-8 か CP932 を判定)"),
    ] = "auto",
    skip_invalid: Annotated[
        bool, Query(description="不正な行を除いて取り込む / keep the valid rows")
    ] = False,
    allow_extra_columns: Annotated[bool, Query(description="知らない列を無視する")] = False,
) -> Any:
    settings = ResidentsSettings()
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        async for chunk in request.stream():
            spool.write(chunk)
        spool.seek(0)
        options = ImportOptions(
            encoding=encoding,
            skip_invalid=skip_invalid,
            allow_extra_columns=allow_extra_columns,
            batch_size=settings.import_batch_size,
        )
        try:
            report = await run_in_threadpool(
                import_stream,
                context.db,
                tenant,
                spool,  # type: ignore[arg-type]
                actor=principal.username,
                options=options,
                settings=settings,
                name="upload",
            )
        except FileError as error:
            return _invalid(
                "ファイルを読めません / the file cannot be imported",
                [{"line": e.line, "column": e.column, "reason": e.reason} for e in error.errors],
                request.url.path,
            )
    if not report.committed:
        return _invalid(
            f"{report.errors_total} 件の問題があり、何も取り込んでいません / {report.errors_total} "
            "problems: nothing was imported",
            [{"line": e.line, "column": e.column, "reason": e.reason} for e in report.errors],
            request.url.path,
        )
    return report_out(report)


@router.get(
    "/exports/residents.csv",
    response_class=StreamingResponse,
    responses=CSV_RESPONSE,
    summary="住民CSVの出力（監査記録あり） / export residents as CSV (audited)",
)
def export_residents(
    tenant: Tenant,
    context: Context,
    principal: StaffWriter,
    encoding: Annotated[Literal["utf-8", "utf-8-sig", "cp932"], Query()] = "utf-8",
    include_restricted: Annotated[
        bool,
        Query(
            description="DV等支援措置の対象者も含める（移行・バックアップ用） / include DV-blocked"
        ),
    ] = False,
    include_inactive: Annotated[bool, Query(description="転出・死亡した住民も含める")] = False,
) -> StreamingResponse:
    chunks = exporter.export_csv(
        context.db,
        tenant,
        actor=principal.username,
        options=exporter.ExportOptions(encoding, include_restricted, include_inactive),
    )
    return StreamingResponse(
        chunks,
        media_type=f"text/csv; charset={'shift_jis' if encoding == 'cp932' else 'utf-8'}",
        headers={"Content-Disposition": f'attachment; filename="residents-{tenant}.csv"'},
    )


@router.get(
    "/exports/residents.pfif.xml",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/xml": {"schema": {"type": "string"}}}}},
    summary="PFIF 1.4 の人物記録（DV等支援措置対象者は含まない） / PFIF 1.4 person records",
)
def export_pfif(
    tenant: Tenant,
    context: Context,
    principal: StaffWriter,
    domain: Annotated[
        str,
        Query(
            pattern=r"^[a-z0-9.-]{3,100}$",
            description="record id domain (default: <tenant>.residents.yui)",
        ),
    ] = "",
) -> StreamingResponse:
    municipality = get_tenant(context.db, tenant)
    chunks = exporter.export_pfif(
        context.db,
        tenant,
        actor=principal.username,
        domain=domain or f"{tenant}.residents.yui",
        municipality=municipality.name,
        prefecture=municipality.prefecture,
    )
    return StreamingResponse(chunks, media_type="application/xml")


@router.get(
    "/exports/assistance.csv",
    response_class=StreamingResponse,
    responses=CSV_RESPONSE,
    summary="支援者に渡す避難行動要支援者名簿 / the register for supporters (CSV)",
)
def export_assistance(
    tenant: Tenant,
    context: Context,
    principal: StaffWriter,
    disaster: Annotated[bool, Query(description="災害時: 同意のない人も含める")] = False,
    encoding: Annotated[Literal["utf-8", "utf-8-sig", "cp932"], Query()] = "utf-8",
) -> StreamingResponse:
    chunks = exporter.export_assistance(
        context.db, tenant, actor=principal.username, disaster=disaster, encoding=encoding
    )
    return StreamingResponse(
        chunks, media_type=f"text/csv; charset={'shift_jis' if encoding == 'cp932' else 'utf-8'}"
    )
