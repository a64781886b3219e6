"""The transactional outbox of webhook events: the one way anything reports an event.

`record_event` writes the event and one pending delivery per subscribed endpoint on the
caller's session, so they commit (or roll back) with the change they report; it never commits
and never talks to the broker. Once the session commits, the deliveries' task messages are
sent by the sender a process installed at start-up (`send_deliveries_after_commit`); a
message lost to a crash in between is resent by the delivery workers' sweep, because the
database, not the broker, says what is still to be delivered.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from service.core.db import iso_utc, new_id, utcnow
from service.core.webhook_tables import WebhookDelivery, WebhookEndpoint, WebhookEvent

EVENT_TYPES: tuple[str, ...] = (
    "job.succeeded",
    "job.failed",
    "job.cancelled",
    "search.succeeded",
    "search.failed",
    "search.cancelled",
    "prediction_job.succeeded",
    "prediction_job.failed",
    "model_version.created",
    "alias.moved",
)
PING = "webhook.ping"  # sent by POST /v1/webhooks/{id}/test only, to that endpoint only
PENDING_KEY = "neuronal.webhook_deliveries"

log = logging.getLogger("neuronal.webhooks")

Send = Callable[[str], bool]
_send: Send | None = None


def record_event(
    session: Session, tenant_id: str, event_type: str, data: Mapping[str, Any]
) -> WebhookEvent | None:
    """Record `event_type` with `data` for every enabled endpoint of `tenant_id` subscribed to
    it, in the caller's transaction; None (nothing written) when no endpoint listens."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"{event_type!r} is not a webhook event type")
    endpoints = session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.enabled.is_(True)
        )
    ).all()
    listening = [endpoint for endpoint in endpoints if event_type in endpoint.events]
    if not listening:
        return None
    return add_event(session, tenant_id, event_type, data, listening)


def add_event(
    session: Session,
    tenant_id: str,
    event_type: str,
    data: Mapping[str, Any],
    endpoints: list[WebhookEndpoint],
) -> WebhookEvent:
    """The event row and a pending delivery of it to each of `endpoints`, sent after commit."""
    now = utcnow()
    outbox_event = WebhookEvent(
        id=new_id("msg"),
        tenant_id=tenant_id,
        type=event_type,
        payload={"type": event_type, "timestamp": iso_utc(now), "data": dict(data)},
        created_at=now,
    )
    session.add(outbox_event)
    session.flush()  # the event's row before the deliveries that refer to it
    for endpoint in endpoints:
        delivery = new_delivery(outbox_event, endpoint.id)
        session.add(delivery)
        send_after_commit(session, delivery.id)
    return outbox_event


def new_delivery(outbox_event: WebhookEvent, endpoint_id: str) -> WebhookDelivery:
    """A pending delivery due now, whose message is sent after the commit."""
    now = utcnow()
    return WebhookDelivery(
        id=new_id("dlv"),
        tenant_id=outbox_event.tenant_id,
        endpoint_id=endpoint_id,
        event_id=outbox_event.id,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        enqueued_at=now,
        created_at=now,
        log=[],
    )


def send_after_commit(session: Session, delivery_id: str) -> None:
    """Send the task message of `delivery_id` once `session` has committed."""
    session.info.setdefault(PENDING_KEY, []).append(delivery_id)


def send_deliveries_after_commit(send: Send | None) -> None:
    """Make `send` (a producer's enqueue) the way this process sends the messages of the
    deliveries its commits create; None: leave them to the delivery workers' sweep."""
    global _send
    _send = send
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)


class SendInBackground:
    """Sends messages from a thread of its own, so that a commit never waits for the broker
    (an unreachable one takes seconds to refuse); what a crash leaves unsent, the sweep sends."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.waiting: queue.SimpleQueue[str] = queue.SimpleQueue()
        threading.Thread(target=self._run, daemon=True, name="neuronal-outbox-sender").start()

    def __call__(self, delivery_id: str) -> bool:
        self.waiting.put(delivery_id)
        return True

    def _run(self) -> None:
        while True:
            delivery_id = self.waiting.get()
            try:
                self.send(delivery_id)
            except Exception as exc:  # the sweep resends it
                log.warning("could not send delivery %s: %s", delivery_id, exc)


def _after_commit(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    if not pending or _send is None:
        return
    for delivery_id in pending:
        try:
            _send(delivery_id)
        except Exception as exc:  # the sweep resends it; the commit has happened regardless
            log.warning("could not send delivery %s: %s", delivery_id, exc)


def _after_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the outermost transaction: nothing was written
        session.info.pop(PENDING_KEY, None)
