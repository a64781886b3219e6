"""The webhook tables: endpoints, the outbox of events, and deliveries.

They live apart from service/core/tables.py (which re-exports them) because the job lifecycle
records its events here in the same transaction as its moves, and tables.py imports the
lifecycle: this module depends on nothing but the declarative base.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.core.db import Base, CreatedAtMixin, UTCDateTime, utcnow


class WebhookEndpoint(CreatedAtMixin, Base):
    """A tenant's receiver of events. Only the encrypted signing secret is kept
    (service/core/webhook_secrets.py): a reader of the database cannot sign a delivery."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookEvent(CreatedAtMixin, Base):
    """The outbox: one event, written in the transaction of the change it reports. Its id is
    the `webhook-id` of every delivery attempt of it."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class WebhookDelivery(CreatedAtMixin, Base):
    """One event to one endpoint: its state, its attempts so far and when the next is due.

    `enqueued_at` is when its task message was last sent (the sweep resends a due delivery
    whose message is older than `webhook_resend_after_seconds`); `locked_until` is the lease of
    the attempt in flight, so two workers never post the same delivery at once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # the attempts made before the current run of the retry schedule (a manual redelivery
    # starts the schedule again)
    schedule_offset: Mapped[int] = mapped_column(Integer, default=0)
    lag_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)  # event → delivered
    # one line per attempt: {"at", "status_code", "error", "seconds"}
    log: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    event: Mapped[WebhookEvent] = relationship(lazy="joined")

    @property
    def event_type(self) -> str:
        return self.event.type
