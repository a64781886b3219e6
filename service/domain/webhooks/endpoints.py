"""A tenant's webhook endpoints: create (the secret shown once), read, change, delete, ping."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.db import new_id, utcnow
from service.core.errors import Conflict, InvalidInput, NotFound, field_error
from service.core.outbox import EVENT_TYPES, PING, add_event
from service.core.pagination import Page, paginate
from service.core.tables import WebhookDelivery, WebhookEndpoint
from service.core.webhook_secrets import SecretBox, new_secret
from service.core.webhook_urls import validate_url


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # the only time it is seen in clear


def create_endpoint(
    session: Session,
    tenant_id: str,
    *,
    url: str,
    events: Sequence[str],
    description: str | None,
    settings: Settings,
) -> CreatedEndpoint:
    """A new endpoint for `events` at `url` (checked against the address guard)."""
    validate_url(url, allow_private=settings.webhook_allow_private_urls)
    secret = new_secret()
    now = utcnow()
    endpoint = WebhookEndpoint(
        id=new_id("wh"),
        tenant_id=tenant_id,
        url=url,
        events=checked_events(events),
        description=description,
        secret_encrypted=SecretBox(settings).seal(secret),
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    session.flush()
    return CreatedEndpoint(endpoint, secret)


def checked_events(events: Sequence[str]) -> list[str]:
    """`events` without repeats, each a known event type; InvalidInput naming the unknown."""
    unknown = [name for name in events if name not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(
            f"unknown event type {unknown[0]!r}; subscribe to any of {', '.join(EVENT_TYPES)}.",
            errors=[field_error(["body", "events"], f"unknown event type {unknown[0]!r}")],
        )
    if not events:
        raise InvalidInput(
            "events is empty; name at least one event type to deliver.",
            errors=[field_error(["body", "events"], "at least one event type")],
        )
    return list(dict.fromkeys(events))


def get_endpoint(session: Session, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.tenant_id != tenant_id:
        raise NotFound(f"There is no webhook {endpoint_id!r}; list yours with GET /v1/webhooks.")
    return endpoint


def list_endpoints(
    session: Session, tenant_id: str, *, limit: int, cursor: str | None
) -> Page[Any]:
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id)
    return paginate(session, stmt, WebhookEndpoint.id, limit=limit, cursor=cursor)


def update_endpoint(
    session: Session,
    tenant_id: str,
    endpoint_id: str,
    changes: Mapping[str, Any],
    settings: Settings,
) -> WebhookEndpoint:
    """Change the url, events, description or enabled flag; re-enabling clears the reason."""
    endpoint = get_endpoint(session, tenant_id, endpoint_id)
    if changes.get("url") is not None:
        endpoint.url = validate_url(
            changes["url"], allow_private=settings.webhook_allow_private_urls
        )
    if changes.get("events") is not None:
        endpoint.events = checked_events(changes["events"])
    if "description" in changes:
        endpoint.description = changes["description"]
    if changes.get("enabled") is not None:
        endpoint.enabled = bool(changes["enabled"])
        endpoint.disabled_reason = None if endpoint.enabled else "disabled by its owner"
    endpoint.updated_at = utcnow()
    session.flush()
    return endpoint


def delete_endpoint(session: Session, tenant_id: str, endpoint_id: str) -> None:
    """Delete the endpoint and its deliveries (none is attempted afterwards)."""
    session.delete(get_endpoint(session, tenant_id, endpoint_id))
    session.flush()


def ping(session: Session, tenant_id: str, endpoint_id: str) -> WebhookDelivery:
    """A `webhook.ping` event delivered to this endpoint only, whatever it subscribes to."""
    endpoint = get_endpoint(session, tenant_id, endpoint_id)
    if not endpoint.enabled:
        raise Conflict(
            f"Webhook {endpoint_id!r} is disabled ({endpoint.disabled_reason}); enable it with "
            f'PATCH /v1/webhooks/{endpoint_id} {{"enabled": true}} first.'
        )
    data = {"webhook_id": endpoint.id, "url": endpoint.url}
    outbox_event = add_event(session, tenant_id, PING, data, [endpoint])
    delivery = session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.event_id == outbox_event.id)
    ).one()
    return delivery
