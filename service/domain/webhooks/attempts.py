"""One delivery attempt's writes: its claim, and its outcome with the retry schedule.

A claim is a conditional update (pending, due, not leased) that counts the attempt and leases
the delivery for as long as an attempt can take, so two workers holding the same message (a
resend, a redelivery) never post it at the same time; the outcome is written only while that
attempt is still the latest one. A worker killed mid-attempt leaves the lease to run out; the
sweep then sends the delivery again, with the same event id.

Slow endpoints share a part of the delivery threads (`Settings.max_slow_deliveries`, half by
default), so receivers that never answer cannot hold every thread and slow the deliveries to
those that do. An endpoint is slow while an attempt to it has been in flight longer than
`webhook_slow_attempt_seconds`, and from an attempt that timed out (or before its first
answer) until it answers again. The claim refuses a slow endpoint's delivery while the
attempts to slow endpoints fill that share; it waits, due, and the attempt that frees a slow
slot hands it on (`next_waiting`), the oldest waiting delivery of any slow endpoint first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Table,
    false,
    func,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from service.core.config import Settings
from service.core.db import iso_utc, utcnow
from service.core.tables import WebhookDelivery, WebhookEndpoint, WebhookEvent

MAX_LOG_LINES = 50
LEASE_MARGIN_SECONDS = 5.0
TIMED_OUT = "timed out"  # how the error of an attempt that timed out begins


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
        return "timeout" if self.error and self.error.startswith(TIMED_OUT) else "error"


def lease_seconds(settings: Settings) -> float:
    """Longer than any attempt: resolving, connecting, sending and waiting for the answer,
    each within the time-out."""
    return 4 * settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS


def claim(session: Session, delivery_id: str, settings: Settings) -> Claimed | None:
    """Lease the delivery for one attempt; None if it is not due (done, not yet time, leased
    by another attempt), if its endpoint already has its share of attempts in flight, or it is
    slow and the slow endpoints' share is full (see `next_waiting`), or if its endpoint was
    disabled, which fails it.

    One Core statement, a conditional `UPDATE ... RETURNING` what the attempt needs (its event
    and endpoint as scalar subqueries, which SQLite allows there and a join it does not), and
    no ORM objects: the claim is on the path from a job's success to its receiver, where each
    round trip and each object built costs milliseconds on a busy host. On PostgreSQL the
    statement runs in a savepoint and is counted again behind a lock (`within_caps`)."""
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

    concurrent = session.get_bind().dialect.name == "postgresql"  # claims that run side by side
    savepoint = session.begin_nested() if concurrent else None
    row = session.execute(
        update(deliveries)
        .where(
            deliveries.c.id == delivery_id,
            *free,
            in_flight(now) < settings.webhook_max_deliveries_per_endpoint,
            room_for(deliveries.c.endpoint_id, now, settings),
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
            slow_endpoint(deliveries.c.endpoint_id, now, settings) if concurrent else false(),
        )
    ).one_or_none()
    if row is not None and savepoint is not None:
        if within_caps(session, row[1], bool(row[8]), settings):
            savepoint.commit()
        else:
            savepoint.rollback()
            row = None
    if row is None:
        return None  # when its endpoint or the slow share is busy, an attempt hands it on
    attempt, endpoint_id, event_id, payload, url, secret, enabled, disabled_reason, _ = row
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


def in_flight(now: datetime) -> ScalarSelect[int]:
    """The attempts in flight to the endpoint of the delivery being claimed."""
    other = aliased(WebhookDelivery)
    return (
        select(func.count())
        .select_from(other)
        .where(other.endpoint_id == WebhookDelivery.endpoint_id, other.locked_until > now)
        .scalar_subquery()
    )


ENDPOINT_LOCKS, SLOW_SHARE_LOCK = 0x77680001, 0x77680002  # PostgreSQL advisory lock classes


def within_caps(session: Session, endpoint_id: str, slow: bool, settings: Settings) -> bool:
    """Whether a claim just made on PostgreSQL keeps its endpoint's cap and the slow share.

    There, two claims running side by side each count the attempts in flight without the
    other's, and a burst of messages (a job's events, the sweep's resends) could claim every
    thread for one endpoint or for the slow ones. So each claim counts again behind a lock
    held until it commits: its endpoint's, then (a slow endpoint's claim) the slow share's."""
    session.execute(select(func.pg_advisory_xact_lock(ENDPOINT_LOCKS, func.hashtext(endpoint_id))))
    now = utcnow()
    flying = (
        select(func.count())
        .select_from(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.locked_until > now,
        )
    )
    if (session.scalar(flying) or 0) > settings.webhook_max_deliveries_per_endpoint:
        return False
    if not slow:
        return True
    session.execute(select(func.pg_advisory_xact_lock(SLOW_SHARE_LOCK, 0)))
    return (session.scalar(select(slow_in_flight(utcnow(), settings))) or 0) <= (
        settings.max_slow_deliveries
    )


def slow_endpoint(endpoint_id: Any, now: datetime, settings: Settings) -> ColumnElement[bool]:
    """Whether the endpoint `endpoint_id` is slow: an attempt to it has been in flight longer
    than `webhook_slow_attempt_seconds`, or its latest attempt that ended timed out, or none
    has ended yet (a new receiver proves it answers before it leaves the slow share)."""
    started_before = now - timedelta(seconds=settings.webhook_slow_attempt_seconds)
    flying, ended = aliased(WebhookDelivery), aliased(WebhookDelivery)
    hanging = (
        select(flying.id)
        .where(
            flying.endpoint_id == endpoint_id,
            flying.status == "pending",
            flying.locked_until > now,
            flying.last_attempt_at <= started_before,
        )
        .exists()
    )
    latest_error = (
        select(func.coalesce(ended.last_error, ""))  # "": it answered
        .where(
            ended.endpoint_id == endpoint_id,
            ended.last_attempt_at.is_not(None),
            or_(ended.locked_until.is_(None), ended.locked_until <= now),
        )
        .order_by(ended.last_attempt_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    return or_(hanging, func.coalesce(latest_error, TIMED_OUT).like(f"{TIMED_OUT}%"))


def slow_in_flight(now: datetime, settings: Settings) -> ScalarSelect[int]:
    """The attempts in flight to slow endpoints, over every delivery worker."""
    flying = aliased(WebhookDelivery)
    return (
        select(func.count())
        .select_from(flying)
        .where(
            flying.status == "pending",
            flying.locked_until > now,
            slow_endpoint(flying.endpoint_id, now, settings),
        )
        .scalar_subquery()
    )


def room_for(endpoint_id: Any, now: datetime, settings: Settings) -> ColumnElement[bool]:
    """Whether an attempt to `endpoint_id` may start as far as the slow share goes: it may if
    the endpoint answers, or if the slow endpoints' attempts leave room in their share."""
    return or_(
        not_(slow_endpoint(endpoint_id, now, settings)),
        slow_in_flight(now, settings) < settings.max_slow_deliveries,
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


def next_waiting(
    session: Session, endpoint_id: str, settings: Settings, *, freed_slow_slot: bool = False
) -> str | None:
    """The oldest due delivery waiting for the slot an attempt that ended freed, stamped as
    sent: an attempt that ends hands its slot on this way, so deliveries to a busy endpoint
    neither spin nor wait for the sweep. Its endpoint's, or, when the attempt held a slot of
    the slow share (`freed_slow_slot`), any slow endpoint's that has a slot of its own free,
    so that every slow endpoint takes its turn in that share."""
    now = utcnow()
    choice = [
        WebhookDelivery.status == "pending",
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
    ]
    if freed_slow_slot:
        choice += [
            in_flight(now) < settings.webhook_max_deliveries_per_endpoint,
            or_(
                WebhookDelivery.endpoint_id == endpoint_id,
                slow_endpoint(WebhookDelivery.endpoint_id, now, settings),
            ),
        ]
    else:
        choice.append(WebhookDelivery.endpoint_id == endpoint_id)
    waiting = session.scalar(
        select(WebhookDelivery.id).where(*choice).order_by(WebhookDelivery.next_attempt_at).limit(1)
    )
    if waiting is not None:
        session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == waiting).values(enqueued_at=now)
        )
    return waiting


def due_deliveries(session: Session, settings: Settings, limit: int = 500) -> list[str]:
    """Pending deliveries that are due, not leased, and whose message (if any) was sent longer
    ago than `webhook_resend_after_seconds`: stamped as sent now and returned to send.

    Not those of an endpoint whose attempts in flight fill its share, nor those of a slow
    endpoint while the slow share is full: the first of those attempts to end hands its slot
    on (`next_waiting`), and one whose worker died frees it when its lease runs out.
    Resending them would only have workers claim in vain, again and again while a receiver
    never answers, and that work slows the deliveries to every other receiver."""
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
                room_for(WebhookDelivery.endpoint_id, now, settings),
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
