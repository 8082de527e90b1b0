"""Job kinds: what each kind of job does, step by step. The composition root fills the
registry (`assembly.site.job_kinds`); the kernel knows no kind of its own but `demo`.

A step's database effects commit in the same unit of work as the step's marker
(`service.record_step`), so a step recorded is a step whose effects are there, and a
step whose effects are there is recorded: database steps run exactly once. A step
marked ``external`` acts outside the database (an S3 upload, a message sent): it runs
before its marker's transaction, so a crash or a failover between the effect and the
marker runs it again — external effects happen at least once, and must be idempotent:

- send ``context.effect_key`` (the same for every attempt of the job's step, at any
  site) with the effect, so the receiver keeps one effect per key (or name the object
  by it, or by its content);
- call ``context.fence()`` right before each effect: it raises `NotPrimary` once this
  site is no longer the tenant's primary in the epoch the step began in (the fencing
  token, ``context.epoch``, also sent with the effect: a receiver may refuse a lower
  epoch than one it has seen). A deposed primary's long step stops at its next effect.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from yui.audit import service as audit
from yui.db.database import Database
from yui.errors import InvalidInput


@dataclass(frozen=True)
class StepContext:
    db: Database
    tenant: str
    job_id: uuid.UUID
    params: dict[str, Any]
    #: what the steps before this one returned
    results: list[Any]
    site: str
    #: the job's transaction (None for an external step): write the step's rows here
    session: Session | None = None
    #: the step's number and attempt (0: the first)
    step: int = 0
    attempt: int = 0
    #: the tenant's write epoch when the step began: the fencing token of its effects
    epoch: int = 0
    #: raises `NotPrimary` once the step may no longer act (see the module's docstring)
    fence: Callable[[], None] = field(default=lambda: None)

    @property
    def effect_key(self) -> str:
        """The idempotency key of this step's external effect: one per job and step,
        the same at every attempt and at every site."""
        return f"{self.job_id}:{self.step}"

    def rows(self) -> Session:
        if self.session is None:
            raise RuntimeError("an external step has no transaction of the job")
        return self.session


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[StepContext], Any]
    #: acts outside the database; must be idempotent (deterministic object keys)
    external: bool = False


@dataclass(frozen=True)
class JobKind:
    name: str
    #: the steps of a job with these parameters (fixed for the job's life)
    steps: Callable[[dict[str, Any]], Sequence[Step]]
    #: attempts of one step before the job is failed
    max_attempts: int = 5
    #: checks the parameters when the job is enqueued (raise InvalidInput)
    check: Callable[[dict[str, Any]], None] = field(default=lambda _params: None)


class JobKinds:
    def __init__(self) -> None:
        self._kinds: dict[str, JobKind] = {}

    def register(self, kind: JobKind) -> None:
        self._kinds[kind.name] = kind

    def get(self, name: str) -> JobKind:
        kind = self._kinds.get(name)
        if kind is None:
            raise InvalidInput(f"ジョブの種類 {name!r} はありません / no job kind {name!r}")
        return kind

    def names(self) -> list[str]:
        return sorted(self._kinds)


# --------------------------------------------------------------------------- demo


def _demo_step(number: int, pause: float) -> Step:
    def run(context: StepContext) -> dict[str, Any]:
        time.sleep(pause)
        audit.record(
            context.rows(),
            actor=f"job:{context.job_id}",
            action="jobs.demo.step",
            subject_type="job",
            subject_id=f"{context.job_id}:{number}",
            detail={"step": number, "site": context.site},
        )
        return {"step": number, "site": context.site}

    return Step(f"step-{number}", run)


def _demo_check(params: dict[str, Any]) -> None:
    steps, pause = params.get("steps", 3), params.get("pause", 0.0)
    if not isinstance(steps, int) or not 1 <= steps <= 1000:
        raise InvalidInput("steps: 1..1000")
    if not isinstance(pause, int | float) or not 0 <= pause <= 60:
        raise InvalidInput("pause: 0..60 seconds")


DEMO = JobKind(
    name="demo",
    steps=lambda params: [
        _demo_step(n, float(params.get("pause", 0.0))) for n in range(int(params.get("steps", 3)))
    ],
    check=_demo_check,
)
"""`demo`: ``steps`` steps, each pausing ``pause`` seconds and then writing one audit
entry in the step's transaction — drills and tests count them (one per step, never two)."""
