"""Benchmark: the safety-confirmation fan-out to a local SMTP sink (docs/safety-check.md).

    python bench/fanout.py [--residents N] [--batch-size B] [--threads T] [--db URL]

Plans a round for N residents (a directory behind the kernel's ResidentDirectory port
that serves N synthetic residents with e-mail addresses, a tenth on the needs-assistance
register) exactly as staff starting the fan-out do, then runs the job through the
ordinary runner: one external step per batch, each message fenced, keyed and sent over
SMTP to a local SMTP sink started as its own process (the sandbox's sink: one file per
message key). Every message is then checked to be in the sink once.

A progress bar when run in a terminal. The last line printed is one JSON object with
`messages`, `messages_per_second` (sent messages over the job's sending time), the
plan's time and the sink's count.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

# bench/failover.py would shadow the `failover` package the composition root imports
sys.path[:] = [
    entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent
]

TENANT = "041009"


class BenchDirectory:
    """The registry's port with N synthetic residents (ids in order, as the roster pages)."""

    def __init__(self, count: int) -> None:
        from yui.service_ports import ReachableResident, ResidentFacts

        self.people = [
            ReachableResident(
                resident=ResidentFacts(
                    tenant=TENANT,
                    resident_id=str(uuid.UUID(int=n + 1)),
                    family_name="佐藤",
                    given_name="花子",
                    family_kana="サトウ",
                    given_kana="ハナコ",
                    birth_date=date(1980, 5, 6),
                    sex="female",
                    town_name="一番町一丁目",
                    household_id=str(uuid.UUID(int=n + 1)),
                    language="ja",
                    needs_assistance=n % 10 == 0,
                ),
                email=f"resident{n}@example.jp",
                phone="",
            )
            for n in range(count)
        ]

    def needs_assistance(self, tenant: str, **_: Any) -> list[Any]:
        from yui.service_ports import AssistanceFacts

        return [
            AssistanceFacts(p.resident, ("elderly_alone",), 1, "", "", "", None, None, True, ())
            for p in self.people
            if p.resident.needs_assistance
        ]

    def reachable_roster(
        self, tenant: str, *, after: str = "", limit: int = 500, **_: Any
    ) -> list[Any]:
        start = int(uuid.UUID(after)) if after else 0  # ids are 1..N
        return self.people[start : start + limit]


def _cpu_seconds(pid: int | str) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: a new SQLite file)")
    args = parser.parse_args()

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from assembly.schema import SCHEMA_HISTORY
    from assembly.site import all_metadata
    from safety_check.campaigns import service as campaigns
    from safety_check.campaigns.schemas import CampaignIn
    from safety_check.channels.base import Message, RateLimit
    from safety_check.channels.sink import free_port, stored_messages
    from safety_check.channels.smtp import SmtpSender
    from safety_check.links.service import LinkMaker
    from safety_check.outreach import service as outreach
    from yui.auth.tokens import SigningKeys
    from yui.db.database import Database
    from yui.jobs.kinds import JobKinds
    from yui.jobs.runner import run_job
    from yui.tenancy.service import create_tenant

    all_metadata()
    with tempfile.TemporaryDirectory() as scratch:
        folder, port = Path(scratch) / "mail", free_port()
        sink = subprocess.Popen(
            [
                *(sys.executable, "-m", "safety_check.channels.sink"),
                *("--folder", str(folder), "--port", str(port)),
            ],
            stdout=subprocess.PIPE,
        )
        try:
            assert sink.stdout is not None
            sink.stdout.readline()  # listening
            db = Database(args.db or f"sqlite:///{Path(scratch) / 'fanout.db'}")
            db.migrate(SCHEMA_HISTORY)
            create_tenant(db, TENANT, "仙台市")
            with db.unit_of_work(TENANT) as uow:
                campaign = campaigns.open_campaign(
                    uow.session, CampaignIn(title="ベンチマーク地震"), actor="bench"
                )
                uow.commit()
            directory = BenchDirectory(args.residents)
            started = time.perf_counter()
            planned = outreach.start(
                db,
                directory,  # type: ignore[arg-type]
                TENANT,
                campaign.id,
                actor="bench",
                channels=["email"],
                batch_size=args.batch_size,
                reminder_minutes=[],
            )
            plan_seconds = time.perf_counter() - started

            class Counted(SmtpSender):
                def send(self, message: Message) -> None:
                    super().send(message)
                    progress.advance(task)

            sender = Counted(
                "127.0.0.1",
                port,
                sender_address="anpi@city.example.jp",
                rate=RateLimit(1_000_000),
                connections=args.threads,
            )
            plan = outreach.Outreach(
                {"email": sender},
                LinkMaker(SigningKeys(b"bench secret, not a real one" * 2)),
                threads=args.threads,
                batch_size=args.batch_size,
            )
            kinds = JobKinds()
            kinds.register(outreach.outreach_kind(plan))
            with Progress(
                TextColumn("送信 / sending"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                disable=not sys.stderr.isatty(),
                transient=True,
            ) as progress:
                task = progress.add_task("send", total=planned.messages)
                cpu_before = _cpu_seconds("self"), _cpu_seconds(sink.pid)
                started = time.perf_counter()
                outcome = run_job(db, kinds, TENANT, uuid.UUID(planned.job_id), site="bench")
                send_seconds = time.perf_counter() - started
                sender_cpu = _cpu_seconds("self") - cpu_before[0]
                sink_cpu = _cpu_seconds(sink.pid) - cpu_before[1]
            sender.close()
            assert outcome.state == "done", outcome
            stored = len(stored_messages(folder))
            db.dispose()
        finally:
            sink.terminate()
            sink.wait(timeout=10)
    assert stored == planned.messages == args.residents, (stored, planned)
    print(
        json.dumps(
            {
                "residents": args.residents,
                "messages": planned.messages,
                "messages_per_second": round(planned.messages / send_seconds, 1),
                "send_seconds": round(send_seconds, 2),
                "plan_seconds": round(plan_seconds, 2),
                "stored_in_sink": stored,
                # CPU per message (the sender's process and the sink's), which the machine's
                # load does not change as it changes the rate
                "sender_cpu_ms_per_message": round(sender_cpu / planned.messages * 1000, 3),
                "sink_cpu_ms_per_message": round(sink_cpu / planned.messages * 1000, 3),
                "load_average_1m": os.getloadavg()[0],
                "cpus": os.cpu_count(),
                "batch_size": args.batch_size,
                "threads": args.threads,
            }
        )
    )


if __name__ == "__main__":
    main()
