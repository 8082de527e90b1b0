"""Importing a resident CSV from the console, with a progress bar and the errors of
each row. The registry's own importer does the work (residents.csvio: all or nothing
by default, or keeping the valid rows), reporting how far into the file it is; this
page only starts it in a worker thread and shows that position.

The import writes at this site, so it runs where the municipality's primary is: at
another site the database refuses the write and the page says where to go."""

from __future__ import annotations

import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Annotated, Any

from fastapi import APIRouter, File, Form, Path, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from console.common.web import CONSOLE_PREFIX, CsrfChecked
from console.staff.signin import Staff
from residents.csvio.importer import ImportOptions, ImportReport, import_stream
from residents.csvio.parser import FileError
from residents.settings import ResidentsSettings
from yui.db.database import Database
from yui.errors import NotFound

router = APIRouter(prefix=CONSOLE_PREFIX + "/t/{tenant}", include_in_schema=False)

#: finished imports are forgotten after this long (their report was shown)
KEEP_SECONDS = 3600
IMPORT_ID = r"^[A-Za-z0-9_-]{16,32}$"


@dataclass
class RunningImport:
    id: str
    tenant: str
    username: str
    file_name: str
    size: int
    position: int = 0
    finished: bool = False
    report: ImportReport | None = None
    #: the file could not be read at all (its problems, with line and column)
    file_errors: list[dict[str, Any]] = field(default_factory=list)
    failure: str = ""
    started_at: float = field(default_factory=time.time)

    @property
    def percent(self) -> int:
        if self.finished:
            return 100
        return min(99, int(100 * self.position / self.size)) if self.size else 0


class Imports:
    """The imports this site runs, by id (each person sees only their own)."""

    def __init__(self) -> None:
        self._running: dict[str, RunningImport] = {}
        self._lock = threading.Lock()

    def start(
        self, db: Database, job: RunningImport, spool: IO[bytes], options: ImportOptions
    ) -> None:
        with self._lock:
            now = time.time()
            for key in [
                k
                for k, v in self._running.items()
                if v.finished and now - v.started_at > KEEP_SECONDS
            ]:
                del self._running[key]
            self._running[job.id] = job

        def progress(position: int) -> None:
            job.position = position

        def run() -> None:
            try:
                job.report = import_stream(
                    db,
                    job.tenant,
                    spool,  # type: ignore[arg-type]
                    actor=job.username,
                    options=options,
                    settings=ResidentsSettings(),
                    progress=progress,
                    name=job.file_name,
                )
            except FileError as error:
                job.file_errors = [
                    {"line": e.line, "column": e.column, "reason": e.reason} for e in error.errors
                ]
            except Exception as error:  # shown to the person; the details are in the log
                job.failure = str(error) or type(error).__name__
                raise
            finally:
                spool.close()
                job.finished = True

        threading.Thread(target=run, name=f"console-import-{job.id}", daemon=True).start()

    def get(self, import_id: str, tenant: str, username: str) -> RunningImport:
        job = self._running.get(import_id)
        if job is None or job.tenant != tenant or job.username != username:
            raise NotFound(f"取込 {import_id} はありません / no import {import_id}")
        return job


def imports_of(staff: Staff) -> Imports:
    state = staff.page.request.app.state
    if not hasattr(state, "console_imports"):
        state.console_imports = Imports()
    imports: Imports = state.console_imports
    return imports


@router.get("/imports/new")
def new_import(staff: Staff) -> Response:
    return staff.page.render("staff/import_new.html", section="imports", error="")


@router.post("/imports", dependencies=[CsrfChecked])
async def start_import(
    staff: Staff,
    file: Annotated[UploadFile, File()],
    skip_invalid: Annotated[bool, Form()] = False,
) -> Response:
    if not staff.has_role("staff"):
        return staff.page.render(
            "staff/import_new.html",
            status=403,
            section="imports",
            error=staff.page.t("import.needs_staff"),
        )
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - the import thread closes it
    size = 0
    while chunk := await file.read(1024 * 1024):
        spool.write(chunk)
        size += len(chunk)
    spool.seek(0)
    if size == 0:
        spool.close()
        return staff.page.render(
            "staff/import_new.html",
            status=422,
            section="imports",
            error=staff.page.t("import.empty"),
        )
    job = RunningImport(
        id=secrets.token_urlsafe(12),
        tenant=staff.tenant,
        username=staff.sign_in.username,
        file_name=(file.filename or "upload.csv")[:200],
        size=size,
    )
    options = ImportOptions(
        skip_invalid=skip_invalid, batch_size=ResidentsSettings().import_batch_size
    )
    db: Database = staff.page.request.app.state.yui.db
    await run_in_threadpool(imports_of(staff).start, db, job, spool, options)
    return staff.page.redirect(f"{CONSOLE_PREFIX}/t/{staff.tenant}/imports/{job.id}")


@router.get("/imports/{import_id}")
def show_import(staff: Staff, import_id: Annotated[str, Path(pattern=IMPORT_ID)]) -> Response:
    """The bar while it runs (console.js polls the state), then the report."""
    job = imports_of(staff).get(import_id, staff.tenant, staff.sign_in.username)
    return staff.page.render(
        "staff/import_show.html",
        section="imports",
        job=job,
        state_url=f"{CONSOLE_PREFIX}/t/{staff.tenant}/imports/{job.id}/state",
        error=staff.page.localized(job.failure) if job.failure else "",
    )


@router.get("/imports/{import_id}/state")
def import_state(staff: Staff, import_id: Annotated[str, Path(pattern=IMPORT_ID)]) -> Response:
    job = imports_of(staff).get(import_id, staff.tenant, staff.sign_in.username)
    return staff.page.finish(
        JSONResponse(
            {
                "percent": job.percent,
                "finished": job.finished,
                "label": staff.page.t("import.progress", percent=job.percent),
                "result_url": f"{CONSOLE_PREFIX}/t/{staff.tenant}/imports/{job.id}",
            }
        )
    )
