"""Shapes of the webhook routes: endpoints (the secret only in the answer that creates one)
and their deliveries."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from service.api.schemas import FromRow, Strict, UTCDatetime
from service.core.outbox import EVENT_TYPES

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
URL_FIELD = Field(
    description="Where events are POSTed: http(s), resolving to public addresses only (unless "
    "the server allows private ones).",
    min_length=1,
    max_length=2000,
    examples=["https://example.com/hooks/neuronal"],
)


class WebhookRequest(Strict):
    url: str = URL_FIELD
    events: list[EventType] = Field(
        description="The event types to deliver here.", min_length=1, max_length=len(EVENT_TYPES)
    )
    description: str | None = Field(None, max_length=1000)


class WebhookUpdate(Strict):
    url: str | None = Field(None, min_length=1, max_length=2000)
    events: list[EventType] | None = Field(None, min_length=1, max_length=len(EVENT_TYPES))
    description: str | None = Field(None, max_length=1000)
    enabled: bool | None = Field(
        None, description="false stops deliveries; true re-enables (after a 410, say)."
    )


class WebhookOut(FromRow):
    id: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    created_at: UTCDatetime
    updated_at: UTCDatetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="whsec_…: the key that signs every delivery. Shown only in this answer."
    )


class WebhookPage(FromRow):
    items: list[WebhookOut]
    next_cursor: str | None


class DeliveryOut(FromRow):
    id: str
    event: str = Field(validation_alias="event_type", description="The event's type.")
    event_id: str = Field(description="The `webhook-id` header of every attempt.")
    attempts: int
    status: Literal["pending", "delivered", "failed"]
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: UTCDatetime | None
    last_attempt_at: UTCDatetime | None
    delivered_at: UTCDatetime | None
    created_at: UTCDatetime
    log: list[dict[str, Any]] = Field(
        description="One entry per attempt (the latest 50): at, attempt, status_code, error, "
        "seconds, sent_at."
    )


class DeliveryPage(FromRow):
    items: list[DeliveryOut]
    next_cursor: str | None
