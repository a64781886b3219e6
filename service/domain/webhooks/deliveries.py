"""An endpoint's delivery log, and a manual redelivery of one of its events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.core.db import utcnow
from service.core.errors import Conflict, NotFound
from service.core.outbox import send_after_commit
from service.core.pagination import Page, filter_by_status, paginate
from service.core.tables import WebhookDelivery
from service.domain.webhooks.endpoints import get_endpoint

DELIVERY_STATUSES = ("pending", "delivered", "failed")


def list_deliveries(
    session: Session,
    tenant_id: str,
    endpoint_id: str,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[Any]:
    """The endpoint's deliveries, newest first, each with its event."""
    get_endpoint(session, tenant_id, endpoint_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    stmt = filter_by_status(
        stmt, WebhookDelivery.status, status, allowed=DELIVERY_STATUSES, noun="delivery"
    )
    return paginate(session, stmt, WebhookDelivery.id, limit=limit, cursor=cursor)


def get_delivery(
    session: Session, tenant_id: str, endpoint_id: str, delivery_id: str
) -> WebhookDelivery:
    get_endpoint(session, tenant_id, endpoint_id)
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint_id:
        raise NotFound(
            f"Webhook {endpoint_id!r} has no delivery {delivery_id!r}; list them with "
            f"GET /v1/webhooks/{endpoint_id}/deliveries."
        )
    return delivery


def redeliver(
    session: Session, tenant_id: str, endpoint_id: str, delivery_id: str
) -> WebhookDelivery:
    """Deliver the event again now, with the same `webhook-id` and a fresh retry schedule."""
    endpoint = get_endpoint(session, tenant_id, endpoint_id)
    delivery = get_delivery(session, tenant_id, endpoint_id, delivery_id)
    if not endpoint.enabled:
        raise Conflict(
            f"Webhook {endpoint_id!r} is disabled ({endpoint.disabled_reason}); enable it with "
            f'PATCH /v1/webhooks/{endpoint_id} {{"enabled": true}} before redelivering.'
        )
    now = utcnow()
    if delivery.locked_until is not None and delivery.locked_until > now:
        raise Conflict(
            f"Delivery {delivery_id!r} has an attempt in flight; redeliver it once that has "
            "ended (see its status)."
        )
    delivery.status = "pending"
    delivery.schedule_offset = delivery.attempts
    delivery.next_attempt_at = now
    delivery.enqueued_at = now
    delivery.locked_until = None
    session.flush()
    send_after_commit(session, delivery.id)
    return delivery
