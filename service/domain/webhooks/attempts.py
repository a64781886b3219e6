"""One delivery attempt's writes: its claim, and its outcome with the retry schedule.

A claim is a conditional update (pending, due, not leased) that counts the attempt and leases
the delivery for as long as an attempt can take, so two workers holding the same message (a
resend, a redelivery) never post it at the same time; the outcome is written only while that
attempt is still the latest one. A worker killed mid-attempt leaves the lease to run out; the
sweep then sends the delivery again, with the same event id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import ScalarSelect, Table, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from service.core.config import Settings
from service.core.db import iso_utc, utcnow
from service.core.tables import WebhookDelivery, WebhookEndpoint, WebhookEvent

MAX_LOG_LINES = 50
LEASE_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class Claimed:
    """What one attempt needs: where to post, what, and with which (encrypted) secret."""

    delivery_id: str
    endpoint_id: str
    attempt: int
    event_id: str  # the `webhook-id`
    url: str
    secret_encrypted: bytes
    body: bytes


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended: an HTTP status, or an error before any (time-out, refused...)."""

    status_code: int | None
    error: str | None
    seconds: float
    sent_at: datetime | None = None  # when the request went out (None: nothing was sent)

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def label(self) -> str:
        """The metrics' outcome: delivered, gone, http_error, timeout or error."""
        if self.delivered:
            return "delivered"
        if self.status_code == 410:
            return "gone"
        if self.status_code is not None:
            return "http_error"
        return "timeout" if self.error and "timed out" in self.error else "error"


def lease_seconds(settings: Settings) -> float:
    """Longer than any attempt: resolving, connecting, sending and waiting for the answer,
    each within the time-out."""
    return 4 * settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS


def claim(session: Session, delivery_id: str, settings: Settings) -> Claimed | None:
    """Lease the delivery for one attempt; None if it is not due (done, not yet time, leased
    by another attempt), if its endpoint already has its share of attempts in flight (see
    `next_waiting`), or if its endpoint was disabled, which fails it.

    One Core statement, a conditional `UPDATE ... RETURNING` what the attempt needs (its event
    and endpoint as scalar subqueries, which SQLite allows there and a join it does not), and
    no ORM objects: the claim is on the path from a job's success to its receiver, where each
    round trip and each object built costs milliseconds on a busy host. On PostgreSQL one
    more comes first: the endpoint's claims take turns (`serialise_endpoint_claims`)."""
    serialise_endpoint_claims(session, delivery_id)
    now = utcnow()
    deliveries = cast(Table, WebhookDelivery.__table__)
    free = (
        deliveries.c.status == "pending",
        or_(deliveries.c.next_attempt_at.is_(None), deliveries.c.next_attempt_at <= now),
        or_(deliveries.c.locked_until.is_(None), deliveries.c.locked_until < now),
    )

    def of_event(column: Any) -> ScalarSelect[Any]:
        return select(column).where(WebhookEvent.id == deliveries.c.event_id).scalar_subquery()

    def of_endpoint(column: Any) -> ScalarSelect[Any]:
        return (
            select(column).where(WebhookEndpoint.id == deliveries.c.endpoint_id).scalar_subquery()
        )

    row = session.execute(
        update(deliveries)
        .where(
            deliveries.c.id == delivery_id,
            *free,
            in_flight(now) < settings.webhook_max_deliveries_per_endpoint,
        )
        .values(
            attempts=deliveries.c.attempts + 1,
            locked_until=now + timedelta(seconds=lease_seconds(settings)),
            last_attempt_at=now,
        )
        .returning(
            deliveries.c.attempts,
            deliveries.c.endpoint_id,
            deliveries.c.event_id,
            of_event(WebhookEvent.payload),
            of_endpoint(WebhookEndpoint.url),
            of_endpoint(WebhookEndpoint.secret_encrypted),
            of_endpoint(WebhookEndpoint.enabled),
            of_endpoint(WebhookEndpoint.disabled_reason),
        )
    ).one_or_none()
    if row is None:
        return None  # when its endpoint is busy, the attempt that ends first hands it on
    attempt, endpoint_id, event_id, payload, url, secret, enabled, disabled_reason = row
    if not enabled:
        _fail_unsent(session, delivery_id, f"not sent: the webhook is disabled ({disabled_reason})")
        return None
    return Claimed(
        delivery_id=delivery_id,
        endpoint_id=endpoint_id,
        attempt=attempt,
        event_id=event_id,
        url=url,
        secret_encrypted=secret,
        body=orjson.dumps(payload),
    )


ENDPOINT_CLAIMS = 0x77680001  # the class of the advisory locks of one endpoint's claims


def serialise_endpoint_claims(session: Session, delivery_id: str) -> None:
    """On PostgreSQL, the claims of one endpoint one after the other, each behind a lock held
    until it commits: under READ COMMITTED a claim's count of the attempts in flight missed
    those of claims committing beside it, and eight claims at once took seven slots of two.
    SQLite serialises its writers anyway."""
    if session.get_bind().dialect.name != "postgresql":
        return
    endpoint = func.hashtext(WebhookDelivery.endpoint_id)
    session.execute(
        select(func.pg_advisory_xact_lock(ENDPOINT_CLAIMS, endpoint)).where(
            WebhookDelivery.id == delivery_id
        )
    )


def in_flight(now: datetime) -> ScalarSelect[int]:
    """The attempts in flight to the endpoint of the delivery being claimed."""
    other = aliased(WebhookDelivery)
    return (
        select(func.count())
        .select_from(other)
        .where(other.endpoint_id == WebhookDelivery.endpoint_id, other.locked_until > now)
        .scalar_subquery()
    )


def _fail_unsent(session: Session, delivery_id: str, reason: str) -> None:
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(
            attempts=WebhookDelivery.attempts - 1,  # nothing was sent
            status="failed",
            last_error=reason,
            locked_until=None,
            next_attempt_at=None,
        )
        .execution_options(synchronize_session=False)
    )


def record(
    session: Session, claimed: Claimed, outcome: Outcome, settings: Settings
) -> float | None:
    """Write the attempt's outcome: delivered, failed (410, or no attempt left) or pending
    again with its next time. Returns the delay to the next attempt (None: no more), or None
    too when a newer attempt owns the delivery (nothing is written then)."""
    delivery = session.get(WebhookDelivery, claimed.delivery_id, populate_existing=True)
    if delivery is None or delivery.attempts != claimed.attempt or delivery.status != "pending":
        return None
    now = utcnow()
    delivery.last_status_code, delivery.last_error = outcome.status_code, outcome.error
    delivery.locked_until = None
    line = {"at": iso_utc(now), "attempt": claimed.attempt, "status_code": outcome.status_code,
            "error": outcome.error, "seconds": round(outcome.seconds, 4),
            "sent_at": iso_utc(outcome.sent_at)}  # fmt: skip
    delivery.log = [*(delivery.log or []), line][-MAX_LOG_LINES:]
    if outcome.delivered:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
        delivery.lag_seconds = (now - delivery.event.created_at).total_seconds()
        return None
    if outcome.status_code == 410:
        disable_endpoint(session, delivery.endpoint_id)
        delivery.status, delivery.next_attempt_at = "failed", None
        return None
    schedule = settings.webhook_retry_schedule
    made = delivery.attempts - delivery.schedule_offset
    if made >= len(schedule):
        delivery.status, delivery.next_attempt_at = "failed", None
        return None
    delay = float(schedule[made])
    delivery.next_attempt_at = now + timedelta(seconds=delay)
    delivery.enqueued_at = None  # the sweep sends it when due, unless the worker does sooner
    return delay


def disable_endpoint(session: Session, endpoint_id: str) -> None:
    """Stop delivering to an endpoint whose receiver said it is gone for good (410)."""
    now = utcnow()
    reason = f"the receiver answered 410 Gone at {iso_utc(now)}"
    session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(enabled=False, disabled_reason=reason, updated_at=now)
    )


def mark_sent(session: Session, delivery_id: str, at_seconds: float) -> None:
    """Note that a message for the delivery will arrive at the worker in `at_seconds`."""
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(enqueued_at=utcnow() + timedelta(seconds=at_seconds))
    )


def next_waiting(session: Session, endpoint_id: str) -> str | None:
    """The endpoint's oldest due delivery waiting for a free slot, stamped as sent: an attempt
    that ends hands its slot on this way, so deliveries to a busy endpoint neither spin nor
    wait for the sweep."""
    now = utcnow()
    waiting = session.scalar(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(1)
    )
    if waiting is not None:
        session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == waiting).values(enqueued_at=now)
        )
    return waiting


def due_deliveries(session: Session, settings: Settings, limit: int = 500) -> list[str]:
    """Pending deliveries that are due, not leased, and whose message (if any) was sent longer
    ago than `webhook_resend_after_seconds`: stamped as sent now and returned to send.

    Not those of an endpoint whose attempts in flight fill its share: the first of them to end
    hands its slot on (`next_waiting`), and one whose worker died frees it when its lease runs
    out. Resending them would only have workers claim in vain, again and again while a
    receiver never answers, and that work slows the deliveries to every other receiver."""
    now = utcnow()
    resend_before = now - timedelta(seconds=settings.webhook_resend_after_seconds)
    due = list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
                or_(
                    WebhookDelivery.enqueued_at.is_(None),
                    WebhookDelivery.enqueued_at < resend_before,
                ),
                in_flight(now) < settings.webhook_max_deliveries_per_endpoint,
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
    )
    if due:
        session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id.in_(due)).values(enqueued_at=now)
        )
    return due
