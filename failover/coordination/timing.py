"""How fast coordination notices a loss, and the rule that keeps it honest.

A site (or the controller) holds an etcd lease of ``lease_ttl_seconds``. It
renews every ``keepalive_interval_seconds``; one etcd call may take up to
``retry_timeout_seconds`` before the next endpoint is tried. Patroni's rule,
``loop_wait + 2 * retry_timeout <= ttl``, guarantees that a holder which
missed one call can still retry once and renew before its lease runs out:

    keepalive_interval_seconds + 2 * retry_timeout_seconds <= lease_ttl_seconds

Profiles:

- ``SANDBOX`` (the default): ttl 3 s, keep-alive 1 s, retry 1 s. One machine,
  loopback, ~2-3 s to notice a lost site. etcd's own floor for a lease TTL is
  1.5 x its election timeout (1.5 s with the default 1 s), so 3 s is honoured.
- ``REAL_CLOUD``: ttl 10 s, keep-alive 2 s, retry 4 s. Cross-region round trips
  and an etcd leader election (a few seconds) must not look like a dead site.

Timing only changes how fast a failure is noticed, never safety: the epoch
(the etcd revision of the placement write) and the replicas' seal fence.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CoordinationTiming(BaseModel):
    """Lease and retry timing of every etcd lease holder (sites, controller)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lease_ttl_seconds: int = Field(
        default=3,
        ge=2,
        description="TTL of the etcd lease; etcd leases count whole seconds.",
    )
    keepalive_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often the lease holder renews (Patroni: loop_wait)."
    )
    retry_timeout_seconds: float = Field(
        default=1.0,
        gt=0,
        description="Deadline of one etcd call before the next endpoint is tried.",
    )

    @model_validator(mode="after")
    def _renewal_fits_in_ttl(self) -> CoordinationTiming:
        needed = self.keepalive_interval_seconds + 2 * self.retry_timeout_seconds
        if needed > self.lease_ttl_seconds:
            raise ValueError(
                "keepalive_interval_seconds + 2 * retry_timeout_seconds must be <= "
                f"lease_ttl_seconds, so a holder can renew within its TTL: "
                f"{self.keepalive_interval_seconds:g} + 2 * {self.retry_timeout_seconds:g} = "
                f"{needed:g} > {self.lease_ttl_seconds} "
                "(キープアライブ間隔 + 2 × 再試行タイムアウト は TTL 以下にしてください)"
            )
        return self

    @property
    def fence_margin_seconds(self) -> float:
        """How long before its lease's end a holder considers the lease lost.

        A holder measures its lease from the moment it *sent* the last
        successful renewal, so its local deadline is never later than etcd's.
        The margin covers clock-rate drift and scheduling delays.
        """
        return max(0.1, 0.1 * self.lease_ttl_seconds)

    @property
    def lapse_silence_seconds(self) -> float:
        """The shortest silence of etcd that can cost a live holder its lease.

        A holder renewed at most ``keepalive_interval_seconds`` before etcd fell silent,
        and gives its lease up ``fence_margin_seconds`` before the TTL from that renewal
        ends: a shorter outage leaves every live holder's lease in place (1.7 s in the
        sandbox, 7 s in REAL_CLOUD).
        """
        return max(
            0.0,
            self.lease_ttl_seconds - self.fence_margin_seconds - self.keepalive_interval_seconds,
        )

    @property
    def reregistration_seconds(self) -> float:
        """How long a live holder may be without its key once etcd answers again.

        Its old lease may still run for up to a TTL (etcd gives every lease a fresh TTL
        when it elects a leader) or be gone already; a holder that gave it up registers
        again on its retry interval: a wait of ``keepalive_interval_seconds`` and one
        attempt of ``2 * retry_timeout_seconds``. TTL + retry interval: 6 s in the
        sandbox, 20 s in REAL_CLOUD.
        """
        return (
            self.lease_ttl_seconds
            + self.keepalive_interval_seconds
            + 2 * self.retry_timeout_seconds
        )


SANDBOX = CoordinationTiming()
"""One machine, loopback: ttl 3 s, keep-alive 1 s, retry 1 s (~2-3 s to notice a loss)."""

REAL_CLOUD = CoordinationTiming(
    lease_ttl_seconds=10, keepalive_interval_seconds=2.0, retry_timeout_seconds=4.0
)
"""Sites in several clouds and regions: ttl 10 s, keep-alive 2 s, retry 4 s."""
