"""Importing a resident CSV: all or nothing by default, or skipping the invalid rows.

One unit of work for the whole file: rows are written batch by batch with the
kernel's logged bulk insert (yui.changelog.bulk_insert), so a million rows never sit in
memory, and a failed file leaves nothing behind — not a row, not a change-log entry.
Every problem is reported with its line, column and reason; `skip_invalid` commits
the valid rows and writes the rejected ones (with their reasons) to a file.

Parsing runs in a child process for large files, so that the checks of one batch
overlap with the database writes of the previous one (a site has at least two cores).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import queue as queue_module
import time
import traceback
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from residents.csvio.parser import (
    DATE_FIELDS,
    RELATIONSHIP,
    RESIDENT_NO,
    STATUS,
    VALUE_FIELDS,
    Batch,
    Candidate,
    FileError,
    Header,
    Rejected,
    RowError,
    candidate_cells,
    parse,
)
from residents.csvio.writer import CsvSink
from residents.registry import fields
from residents.registry.models import HEAD, Household, Resident, Status, new_ids
from residents.settings import ResidentsSettings
from yui.audit import service as audit
from yui.changelog.bulk_insert import Encoded, insert_columns
from yui.db.database import Database

Progress = Callable[[int], None]


@dataclass
class ImportOptions:
    encoding: str = "auto"
    skip_invalid: bool = False
    allow_extra_columns: bool = False
    batch_size: int = 5000
    #: errors listed in the report (all are counted, and all go to the rejects file)
    max_errors: int = 1000
    #: parse in a child process: None = for files over `parallel_bytes`
    parallel: bool | None = None
    parallel_bytes: int = 16 * 1024 * 1024


@dataclass
class ImportReport:
    encoding: str = ""
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    households_created: int = 0
    errors: list[RowError] = field(default_factory=list)
    errors_total: int = 0
    committed: bool = False
    seconds: float = 0.0

    def add_errors(self, errors: list[RowError], limit: int) -> None:
        self.errors_total += len(errors)
        room = limit - len(self.errors)
        if room > 0:
            self.errors.extend(errors[:room])


def import_file(
    db: Database,
    tenant: str,
    path: Path,
    *,
    actor: str,
    options: ImportOptions | None = None,
    settings: ResidentsSettings | None = None,
    progress: Progress | None = None,
    rejects: BinaryIO | None = None,
) -> ImportReport:
    """Import the CSV file at `path` into `tenant`'s registry."""
    options = options or ImportOptions()
    settings = settings or ResidentsSettings()
    size = path.stat().st_size
    if size > settings.max_import_bytes:
        raise FileError(
            [
                RowError(
                    0,
                    "",
                    f"ファイルが大きすぎます（{size} バイト、上限 {settings.max_import_bytes} バイト） / "
                    f"the file is {size} bytes, over the limit of {settings.max_import_bytes} "
                    "(YUI_RESIDENTS_MAX_IMPORT_BYTES)",
                )
            ]
        )
    parallel = options.parallel if options.parallel is not None else size > options.parallel_bytes
    if parallel:
        return _run(
            db,
            tenant,
            _parse_in_child(path, options),
            actor,
            options,
            settings,
            progress,
            rejects,
            path.name,
            size,
        )
    with path.open("rb") as binary:
        return _run(
            db,
            tenant,
            _parse(binary, options),
            actor,
            options,
            settings,
            progress,
            rejects,
            path.name,
            size,
        )


def import_stream(
    db: Database,
    tenant: str,
    binary: BinaryIO,
    *,
    actor: str,
    options: ImportOptions | None = None,
    settings: ResidentsSettings | None = None,
    progress: Progress | None = None,
    rejects: BinaryIO | None = None,
    name: str = "",
) -> ImportReport:
    """Import a CSV read from a seekable binary stream (an upload)."""
    options = options or ImportOptions()
    settings = settings or ResidentsSettings()
    size = binary.seek(0, 2)
    binary.seek(0)
    return _run(
        db, tenant, _parse(binary, options), actor, options, settings, progress, rejects, name, size
    )


def _parse(binary: BinaryIO, options: ImportOptions) -> Iterator[Header | Batch]:
    return parse(
        binary,
        encoding=options.encoding,
        allow_extra_columns=options.allow_extra_columns,
        batch_size=options.batch_size,
    )


# --- parsing in a child process -------------------------------------------------------------


#: batches between two explicit collections while importing (see `fewer_collections`)
COLLECT_EVERY = 20


@contextlib.contextmanager
def fewer_collections() -> Generator[Callable[[], None], None, None]:
    """Garbage collection tuned for a stream of short-lived rows; yields `tick`, to call
    once per batch.

    An import allocates millions of tuples and strings that live for one batch; with
    the default thresholds the cyclic collector ran ~1,400 times per 100,000 rows and
    walked every long-lived object of the process (SQLAlchemy, FastAPI, …) each time a
    full collection came: a third of the writer's CPU. Here the objects that exist
    before the import are frozen (never walked), automatic collections almost never
    trigger (rows are freed by reference counting), and `tick` collects explicitly
    every COLLECT_EVERY batches — walking only what the import made — so the few
    reference cycles of each batch (SQLAlchemy's execution contexts) are freed and
    memory stays bounded. Restored afterwards (the thresholds are per process).
    """
    previous = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)
    batches = 0

    def tick() -> None:
        nonlocal batches
        batches += 1
        if batches % COLLECT_EVERY == 0:
            gc.collect()

    try:
        yield tick
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


def _child(path: str, options: ImportOptions, out: Any) -> None:
    try:
        with fewer_collections() as tick, open(path, "rb") as binary:
            for item in _parse(binary, options):
                out.put(("item", item))
                tick()
        out.put(("end", None))
    except FileError as error:
        out.put(("file_error", error.errors))
    except BaseException:  # reported to the parent, which raises it
        out.put(("crash", traceback.format_exc()))


def _parse_in_child(path: Path, options: ImportOptions) -> Iterator[Header | Batch]:
    context = multiprocessing.get_context("spawn")
    channel = context.Queue(maxsize=4)  # bounded: the child waits while the writer is behind
    process = context.Process(target=_child, args=(str(path), options, channel), daemon=True)
    process.start()
    try:
        while True:
            try:
                kind, payload = channel.get(timeout=5)
            except queue_module.Empty:
                if not process.is_alive():
                    raise RuntimeError("the CSV parser process ended unexpectedly") from None
                continue
            if kind == "item":
                yield payload
            elif kind == "end":
                return
            elif kind == "file_error":
                raise FileError(payload)
            else:
                raise RuntimeError(f"the CSV parser failed:\n{payload}")
    finally:
        if process.is_alive():
            process.terminate()
        process.join(timeout=10)
        channel.close()


# --- writing ------------------------------------------------------------------------------


class _Writer:
    """Checks a batch against the database and writes its valid rows."""

    def __init__(self, session: Session, options: ImportOptions, report: ImportReport) -> None:
        self.session = session
        self.options = options
        self.report = report
        #: every row of this import has exactly this created_at (to tell "earlier in this
        #: file" from "registered before" when a number repeats)
        self.started = datetime.now(UTC)
        self.today = fields.today()
        self.failed = False
        #: PostgreSQL: refresh the planner's statistics as the table grows (see `batch`)
        self.analyze_at = 5000 if session.connection().dialect.name == "postgresql" else None

    def batch(self, batch: Batch, rejects: CsvSink | None) -> None:
        errors: list[RowError] = []
        rejected: list[Rejected] = list(batch.rejected)
        for item in rejected:
            errors.extend(item.errors)
        valid = self._check(batch.candidates, errors, rejected)
        self.report.rows += len(batch.candidates) + len(batch.rejected)
        self.report.rejected += len(rejected)
        errors.sort(key=lambda error: error.line)
        self.report.add_errors(errors, self.options.max_errors)
        if rejected:
            self.failed = True
            if rejects is not None:
                rejected.sort(key=lambda item: item.line)
                rejects.write_rows(
                    [
                        item.line,
                        "; ".join(
                            f"{error.column}: {error.reason}" if error.column else error.reason
                            for error in item.errors
                        ),
                        *item.cells,
                    ]
                    for item in rejected
                )
        if valid:
            self._write(valid)
        if self.analyze_at is not None and self.report.imported >= self.analyze_at:
            # The statistics of a table a long transaction fills say "empty", and the
            # planner then scans instead of probing the unique indexes. ANALYZE counts the
            # transaction's own rows: at 5k, 10k, 20k, … rows (about 8 times for a million).
            _analyze(self.session)
            self.analyze_at = self.report.imported * 2

    def _reject(
        self,
        candidate: Candidate,
        column: str,
        reason: str,
        errors: list[RowError],
        rejected: list[Rejected],
    ) -> None:
        error = RowError(candidate[0], column, reason)
        errors.append(error)
        rejected.append(Rejected(candidate[0], candidate_cells(candidate), [error]))

    def _check(
        self, candidates: list[Candidate], errors: list[RowError], rejected: list[Rejected]
    ) -> list[Candidate]:
        session = self.session
        # 宛名番号: unique in the file and in the registry
        first_line: dict[str, int] = {}
        unique: list[Candidate] = []
        for candidate in candidates:
            number = candidate[2][RESIDENT_NO]
            if number in first_line:
                self._reject(
                    candidate,
                    "宛名番号",
                    f"宛名番号 {number} が {first_line[number]} 行目と重複しています / resident number "
                    f"{number} duplicates line {first_line[number]}",
                    errors,
                    rejected,
                )
                continue
            first_line[number] = candidate[0]
            unique.append(candidate)
        existing = (
            dict(
                session.execute(
                    select(Resident.resident_no, Resident.created_at).where(
                        Resident.resident_no.in_(list(first_line))
                    )
                ).all()
            )
            if first_line
            else {}
        )
        fresh: list[Candidate] = []
        for candidate in unique:
            number = candidate[2][RESIDENT_NO]
            if number in existing:
                earlier = _same_instant(existing[number], self.started)
                self._reject(
                    candidate,
                    "宛名番号",
                    (
                        f"宛名番号 {number} がこのファイルの前の行と重複しています / resident number "
                        f"{number} duplicates an earlier line of this file"
                    )
                    if earlier
                    else (
                        f"宛名番号 {number} は既に登録されています / resident number {number} is "
                        "already registered"
                    ),
                    errors,
                    rejected,
                )
                continue
            fresh.append(candidate)
        # 世帯主: at most one registered head per household
        numbers = sorted({candidate[1] for candidate in fresh})
        households = (
            dict(
                session.execute(
                    select(Household.household_no, Household.id).where(
                        Household.household_no.in_(numbers)
                    )
                ).all()
            )
            if numbers
            else {}
        )
        headed = (
            set(
                session.execute(
                    select(Resident.household_id).where(
                        Resident.household_id.in_(list(households.values())),
                        Resident.relationship == HEAD,
                        Resident.status == Status.ACTIVE,
                    )
                ).scalars()
            )
            if households
            else set()
        )
        heads: dict[str, int] = {}
        valid: list[Candidate] = []
        for candidate in fresh:
            values = candidate[2]
            if values[RELATIONSHIP] == HEAD and values[STATUS] == Status.ACTIVE:
                number = candidate[1]
                if number in heads or households.get(number) in headed:
                    where = f"{heads[number]} 行目" if number in heads else "登録済み"
                    self._reject(
                        candidate,
                        "続柄",
                        f"世帯 {number} には既に世帯主がいます（{where}） / household {number} already "
                        "has a head",
                        errors,
                        rejected,
                    )
                    continue
                heads[number] = candidate[0]
            valid.append(candidate)
        return valid

    def _write(self, valid: list[Candidate]) -> None:
        session = self.session
        count = len(valid)
        _lines, household_numbers, value_rows, _cells, members = zip(*valid, strict=True)
        ids: dict[str, str] = dict(
            session.execute(
                select(Household.household_no, Household.id).where(
                    Household.household_no.in_(sorted(set(household_numbers)))
                )
            ).all()
        )
        new_numbers = [number for number in dict.fromkeys(household_numbers) if number not in ids]
        household_ids = new_ids(len(new_numbers))
        ids.update(zip(new_numbers, household_ids, strict=True))
        insert_columns(
            session,
            Household,
            {
                "id": household_ids,
                "household_no": new_numbers,
                "created_at": [self.started] * len(household_ids),
            },
        )
        # Column by column, straight from the parser's tuples.
        columns: dict[str, Sequence[Any]] = dict(
            zip(VALUE_FIELDS, zip(*value_rows, strict=True), strict=True)
        )
        for name in DATE_FIELDS:
            columns[name] = [
                None if day is None else date.fromordinal(day) for day in columns[name]
            ]
        today = self.today
        columns.update(
            id=new_ids(count),
            household_id=[ids[number] for number in household_numbers],
            dv_block_since=[today if blocked else None for blocked in columns["dv_block"]],
            created_at=[self.started] * count,
            updated_at=[self.started] * count,
            version=[1] * count,
        )
        insert_columns(
            session, Resident, columns, encoded=Encoded(frozenset(VALUE_FIELDS), members)
        )
        self.report.imported += count
        self.report.households_created += len(household_ids)


def _same_instant(stored: datetime, started: datetime) -> bool:
    if stored.tzinfo is None:  # SQLite keeps no offset; the kernel stores UTC
        stored = stored.replace(tzinfo=UTC)
    return stored == started


def _tune(session: Session, settings: ResidentsSettings) -> Callable[[], None]:
    """SQLite: a larger page cache while the indexes grow; PostgreSQL: index lookups only."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # The planner's statistics do not see the rows of this (long) transaction, so a
        # tenant's new table looks empty and the per-batch lookups (宛名番号, 世帯番号,
        # 世帯主) would scan it again and again. They are all index lookups.
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        return lambda: None
    if connection.dialect.name != "sqlite" or settings.import_cache_mb <= 0:
        return lambda: None
    previous = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size=-{int(settings.import_cache_mb) * 1024}")

    def restore() -> None:
        with contextlib.suppress(Exception):  # never hide the error that ended the import
            connection.exec_driver_sql(f"PRAGMA cache_size={int(previous or -2000)}")

    return restore


#: rows after which an import refreshes the planner's statistics of the tables it grew
ANALYZE_AFTER = 10_000
#: indexes only searches read; a large import on SQLite builds them once, at the end
DEFERRABLE_INDEXES = (
    "ix_residents_name_key",
    "ix_residents_kana_key",
    "ix_residents_address_key",
    "ix_residents_birth_date",
)


def _defer_indexes(session: Session, size: int, settings: ResidentsSettings) -> Callable[[], None]:
    """On SQLite, drop the search indexes for a large import and return what rebuilds them.

    A million inserts into four random-order B-trees cost far more than sorting them
    once (CREATE INDEX). SQLite's DDL is transactional: the indexes come back with the
    commit, or with the rollback of a failed import, and readers (WAL) keep their
    snapshot with the indexes meanwhile. Writers of the tenant wait for the import
    anyway. On PostgreSQL dropping an index would lock the table for readers, so the
    indexes stay.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite" or size < settings.defer_indexes_bytes:
        return lambda: None
    table = Resident.__table__
    indexes = [index for index in table.indexes if index.name in DEFERRABLE_INDEXES]  # type: ignore[attr-defined]
    for index in indexes:
        index.drop(bind=connection)

    def rebuild() -> None:
        for index in indexes:
            index.create(bind=connection)

    return rebuild


def _analyze(session: Session) -> None:
    """Statistics for the query planner, so that searches keep their index after a big
    import (SQLite has none until ANALYZE; PostgreSQL's autovacuum would come later)."""
    if session.connection().dialect.name == "sqlite":
        # sampled statistics: enough for the planner, and a second instead of many
        session.execute(text("PRAGMA analysis_limit=2000"))
    for table in (Resident.__tablename__, Household.__tablename__):
        session.execute(text(f"ANALYZE {table}"))


def _run(
    db: Database,
    tenant: str,
    items: Iterator[Header | Batch],
    actor: str,
    options: ImportOptions,
    settings: ResidentsSettings,
    progress: Progress | None,
    rejects: BinaryIO | None,
    name: str,
    size: int,
) -> ImportReport:
    began = time.perf_counter()
    report = ImportReport()
    try:
        with fewer_collections() as tick, db.unit_of_work(tenant) as uow:
            restore = _tune(uow.session, settings)
            rebuild = _defer_indexes(uow.session, size, settings)
            writer = _Writer(uow.session, options, report)
            sink: CsvSink | None = None
            try:
                for item in items:
                    if isinstance(item, Header):
                        report.encoding = item.encoding
                        if rejects is not None:
                            sink = CsvSink(
                                rejects, "cp932" if item.encoding == "cp932" else "utf-8"
                            )
                            sink.write_header(["行 / line", "エラー / errors", *item.names])
                        continue
                    writer.batch(item, sink)
                    tick()
                    if progress is not None:
                        progress(item.position)
                if not writer.failed or options.skip_invalid:
                    rebuild()
            finally:
                restore()
            if not writer.failed or options.skip_invalid:
                if report.imported >= ANALYZE_AFTER:
                    _analyze(uow.session)
                audit.record(
                    uow.session,
                    actor=actor,
                    action="resident.import",
                    subject_type="resident",
                    detail={
                        "file": name[:200],
                        "encoding": report.encoding,
                        "rows": report.rows,
                        "imported": report.imported,
                        "households_created": report.households_created,
                        "rejected": report.rejected,
                        "skip_invalid": options.skip_invalid,
                    },
                )
                uow.commit()
                report.committed = True
    except FileError as error:
        _refused(db, tenant, actor, name, report, error.errors)
        raise
    if not report.committed:
        _refused(db, tenant, actor, name, report, [])
    report.seconds = time.perf_counter() - began
    return report


def _refused(
    db: Database, tenant: str, actor: str, name: str, report: ImportReport, errors: list[RowError]
) -> None:
    """Nothing was imported: say so in the audit log (the attempt itself is a fact)."""
    report.imported = 0
    report.households_created = 0
    report.committed = False
    with db.unit_of_work(tenant) as uow:
        audit.record(
            uow.session,
            actor=actor,
            action="resident.import_refused",
            subject_type="resident",
            detail={
                "file": name[:200],
                "rows": report.rows,
                "rejected": report.rejected,
                "file_errors": [error.reason[:200] for error in errors[:5]],
            },
        )
        uow.commit()
