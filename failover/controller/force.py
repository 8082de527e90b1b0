"""Forced promotion: the operator's way back when no sealable in-sync copy survives.

A normal promotion (engine.promote_lost) only ever promotes a sealed member of the in-sync set,
so nothing acknowledged is lost. When every such member is gone for good, the tenant has
no primary and no automatic way back. An operator may then choose a surviving copy and
accept that what it lacks is lost:

1. read the placement and its revision, and the state of every copy that answers;
2. without ``accept_data_loss`` stop there: the report says what would be lost and
   nothing is changed (no seal, no write);
3. seal the chosen copy at an epoch above the placement (it must answer), and every other
   copy that answers (an old primary that comes back can gather no acknowledgement);
4. write the placement by compare-and-swap on that revision: the chosen site is the
   primary, every other copy a replica, the in-sync set empty (it restarts from the new
   primary: replicas join as they catch up, and writes are refused until the tenant's
   min_insync and zone rule hold again); an operator-log record is written in the same
   etcd transaction (who, when, what may be lost);
5. tell the chosen site its epoch.

Each step is the move engine's (failover.controller.engine), for this one tenant.

What may be lost: every seq above the chosen copy's head up to the highest the old
primary could have acknowledged. The old primary's log head bounds that when it answers;
otherwise the highest head of any copy that answers is a lower bound and the report says
plainly that anything above it is unknown. Entries above the chosen head that a returning
copy holds go to its quarantine when it rejoins (never silently dropped).
"""

from __future__ import annotations

import getpass
import json
import logging
import socket
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from failover.controller.engine import per_site, promote, seal
from failover.controller.moves import MoveRefused, UnknownTenant
from failover.controller.ports import MoveCopies
from failover.coordination.interface import Coordination, PlacementConflict
from failover.placement.policy import Placement

log = logging.getLogger("yui.failover")

#: how long one copy may take to answer a status or a seal
STEP_TIMEOUT_SECONDS = 5.0
ACTION = "failover.force-promote"


def default_actor() -> str:
    """Who runs the command: the OS user at this host (an operator may name themselves)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class PossibleLoss:
    """The seqs a forced promotion may lose: ``first``..``last`` (inclusive) held by some
    copy but not by the chosen one; ``unknown_above``: set when neither the old primary
    nor an in-sync copy answered, so acknowledged writes above it may exist that no
    reachable copy holds."""

    chosen_head: int
    first: int | None
    last: int | None
    unknown_above: int | None

    @property
    def nothing(self) -> bool:
        return self.first is None and self.unknown_above is None

    def summary(self) -> str:
        """One line for a person (Japanese / English)."""
        parts_ja: list[str] = []
        parts_en: list[str] = []
        if self.first is not None:
            parts_ja.append(f"seq {self.first}〜{self.last} が失われる可能性があります")
            parts_en.append(f"seqs {self.first}..{self.last} may be lost")
        if self.unknown_above is not None:
            parts_ja.append(
                f"旧主系も同期コピーも応答しないため seq {self.unknown_above} より上は不明です"
                "（失われた確定済みの書き込みがあり得ます）"
            )
            parts_en.append(
                f"neither the old primary nor an in-sync copy answered: above seq "
                f"{self.unknown_above} it is unknown (acknowledged writes there may be lost)"
            )
        if not parts_ja:
            return (
                f"seq {self.chosen_head} まで: 確定済みの書き込みをすべて保持しています / up to "
                f"seq {self.chosen_head}: the chosen copy holds every acknowledged write"
            )
        return "。".join(parts_ja) + " / " + "; ".join(parts_en)


@dataclass(frozen=True)
class ForcePromotion:
    tenant: str
    old_primary: str
    site: str
    #: the placement's revision before (the epoch the chosen copy was sealed above)
    old_epoch: int
    #: the new placement's epoch; None when nothing was changed (no --accept-data-loss)
    epoch: int | None
    loss: PossibleLoss
    #: each copy's durable seq, for the copies that answered
    heads: dict[str, int]
    unreachable: list[str]
    actor: str
    at: str
    #: where the audit record is kept (None when nothing was changed)
    recorded_in: str | None = None
    sealed: list[str] = field(default_factory=list)

    @property
    def applied(self) -> bool:
        return self.epoch is not None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["loss"]["summary"] = self.loss.summary()
        return out


def possible_loss(chosen_head: int, placement: Placement, heads: dict[str, int]) -> PossibleLoss:
    """What the chosen copy lacks of what was, or may have been, acknowledged.

    ``heads``: the durable seq of every other copy that answered. A primary acknowledges
    only what it holds, so the old primary's head bounds every acknowledged seq. In sync
    mode every member of the in-sync set holds every acknowledged seq, so any member's
    head bounds them too. Without either, the highest head that answered is only a lower
    bound, and the report says that above it nothing is known.
    """
    bounds = [heads[placement.primary]] if placement.primary in heads else []
    if placement.mode == "sync":
        bounds += [heads[s] for s in placement.in_sync if s in heads]
    if bounds:
        upper, unknown = min(bounds), None
    else:
        upper = max([chosen_head, *heads.values()])
        unknown = upper
    if upper > chosen_head:
        return PossibleLoss(chosen_head, chosen_head + 1, upper, unknown)
    return PossibleLoss(chosen_head, None, None, unknown)


async def _heads(copies: MoveCopies, tenant: str, sites: list[str]) -> dict[str, int | None]:
    answers = await per_site(
        ((site, tenant) for site in sites), copies.status_many, within=STEP_TIMEOUT_SECONDS
    )
    heads: dict[str, int | None] = {}
    for site in sites:
        answer = answers[site, tenant]
        if isinstance(answer, Exception):  # unreachable, or no copy there
            log.warning("force-promote %s: status at %s failed: %s", tenant, site, answer)
            heads[site] = None
        else:
            heads[site] = answer.durable_seq
    return heads


async def _seal(copies: MoveCopies, tenant: str, sites: list[str], epoch: int) -> dict[str, int]:
    """The durable seq of each copy at ``sites`` that sealed."""
    answers = await seal(copies, {tenant: sites}, {tenant: epoch}, STEP_TIMEOUT_SECONDS)
    sealed: dict[str, int] = {}
    for site in sites:
        answer = answers[site, tenant]
        if isinstance(answer, Exception):
            log.warning("force-promote %s: seal at %s failed: %s", tenant, site, answer)
        else:
            sealed[site] = answer.durable_seq
    return sealed


def forced_placement(placement: Placement, site: str) -> Placement:
    """``site`` the primary, every other copy a replica (the old primary included), the
    in-sync set empty: it restarts from the new primary as replicas catch up."""
    replicas = tuple(s for s in placement.copies if s != site)
    return replace(placement, primary=site, replicas=replicas, in_sync=())


async def force_promote(
    coordination: Coordination,
    copies: MoveCopies,
    tenant: str,
    site: str,
    *,
    accept_data_loss: bool,
    actor: str | None = None,
    reason: str = "",
) -> ForcePromotion:
    """Make ``site``'s copy the tenant's primary, accepting the loss the report states.

    Raises :class:`UnknownTenant` or :class:`MoveRefused` (nothing changed) when the move
    cannot be made; without ``accept_data_loss`` returns the report with ``epoch`` None
    and changes nothing."""
    who = actor or default_actor()
    at = datetime.now(UTC).isoformat()
    placement, revision = await coordination.get_placement(tenant)
    if placement is None:
        raise UnknownTenant(f"テナント {tenant} の配置はありません / no placement for {tenant}")
    if site not in placement.copies:
        raise MoveRefused(
            f"{site} はテナント {tenant} のコピーを持っていません（{', '.join(placement.copies)}）"
            f" / {site} holds no copy of {tenant} (copies: {', '.join(placement.copies)})"
        )
    if site == placement.primary:
        raise MoveRefused(
            f"{site} はすでにテナント {tenant} の主系です / {site} is already the primary of {tenant}"
        )
    answers = await _heads(copies, tenant, list(placement.copies))
    heads = {s: seq for s, seq in answers.items() if seq is not None}
    unreachable = [s for s, seq in answers.items() if seq is None]
    if site not in heads:
        raise MoveRefused(
            f"{site} が応答しません。応答するコピーしか昇格できません / {site} does not answer: "
            "only a copy that answers can be promoted"
        )

    def report(chosen_head: int, epoch: int | None, **more: Any) -> ForcePromotion:
        others = {s: seq for s, seq in heads.items() if s != site}
        return ForcePromotion(
            tenant=tenant,
            old_primary=placement.primary,
            site=site,
            old_epoch=revision,
            epoch=epoch,
            loss=possible_loss(chosen_head, placement, others),
            heads=heads,
            unreachable=unreachable,
            actor=who,
            at=at,
            **more,
        )

    if not accept_data_loss:
        return report(heads[site], None)

    new_epoch = revision + 1
    chosen_head = (await _seal(copies, tenant, [site], new_epoch)).get(site)
    if chosen_head is None:
        raise MoveRefused(
            f"{site} を封印できません（何も変更していません） / {site} could not be sealed "
            "(nothing was changed)"
        )
    # Every other copy that answers is sealed too: an old primary that comes back can
    # gather no acknowledgement from them in its old epoch.
    others = [s for s in heads if s != site]
    sealed_others = await _seal(copies, tenant, others, new_epoch) if others else {}
    sealed = [site, *(s for s in others if s in sealed_others)]
    heads[site] = chosen_head
    planned = report(chosen_head, None, sealed=sealed)
    record = {
        "action": ACTION,
        "tenant": tenant,
        "actor": who,
        "at": at,
        "reason": reason,
        "old_primary": placement.primary,
        "new_primary": site,
        "old_epoch": revision,
        "chosen_head": chosen_head,
        "heads": heads,
        "unreachable": unreachable,
        "possible_loss": {
            "first": planned.loss.first,
            "last": planned.loss.last,
            "unknown_above": planned.loss.unknown_above,
            "summary": planned.loss.summary(),
        },
    }
    note = json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
    try:
        epoch = await coordination.put_placement_if(
            tenant, forced_placement(placement, site), revision, note=note
        )
    except PlacementConflict:
        raise MoveRefused(
            f"テナント {tenant} の配置が同時に変更されました。yui placement show で確認して"
            f"再実行してください / the placement of {tenant} changed meanwhile (it was not "
            "written); check it with `yui placement show` and run again"
        ) from None
    log.warning(
        "tenant %s: force-promoted %s at epoch %d by %s (%s)",
        tenant,
        site,
        epoch,
        who,
        planned.loss.summary(),
    )
    problem = (await promote(copies, {tenant: (site, epoch)}))[tenant]
    if problem is not None:
        raise problem
    where = f"etcd operator-log/{tenant}/{revision:020d}"
    return replace(planned, epoch=epoch, recorded_in=where)
