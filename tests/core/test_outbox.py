"""The outbox on a real session, on SQLite and PostgreSQL: a job's ending writes its event and
deliveries in the transaction of the move (rolled back with it), only for the tenant's enabled
endpoints that subscribe to it, and their messages are sent only once that commits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.core.db import session_factory, transaction, utcnow
from service.core.lifecycle import JobStatus, cancel, claim, finish, reap
from service.core.outbox import record_event, send_deliveries_after_commit
from service.core.tables import (
    PredictionJob,
    Tenant,
    TrainingJob,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from tests.core.test_lifecycle import add_job
from tests.core.test_lifecycle import url as url  # noqa: F401  (the SQLite/PostgreSQL fixture)


@pytest.fixture
def sent() -> Iterator[list[str]]:
    messages: list[str] = []

    def send(delivery_id: str) -> bool:
        messages.append(delivery_id)
        return True

    send_deliveries_after_commit(send)
    yield messages
    send_deliveries_after_commit(None)


def add_endpoint(url: str, endpoint_id: str, events: list[str], *, tenant: str = "ten_1",
                 enabled: bool = True) -> None:  # fmt: skip
    with transaction(url) as session:
        if session.get(Tenant, tenant) is None:
            session.add(Tenant(id=tenant, name=tenant))
            session.flush()
        session.add(WebhookEndpoint(id=endpoint_id, tenant_id=tenant, url="http://x.test/",
                                    events=events, secret_encrypted=b"sealed",
                                    enabled=enabled))  # fmt: skip


def outbox(url: str) -> list[tuple[str, str, str]]:
    """(event type, endpoint, job id) of every delivery."""
    with transaction(url) as session:
        rows = session.execute(
            select(WebhookEvent.type, WebhookDelivery.endpoint_id, WebhookEvent.payload)
            .join(WebhookDelivery, WebhookDelivery.event_id == WebhookEvent.id)
            .order_by(WebhookDelivery.endpoint_id)
        ).all()
    return [(kind, endpoint, payload["data"].get("job_id") or payload["data"].get(
        "prediction_job_id")) for kind, endpoint, payload in rows]  # fmt: skip


def succeed(session: Session, job_id: str) -> None:
    attempt = claim(session, TrainingJob, job_id, "w1")
    assert attempt is not None
    finish(session, TrainingJob, job_id, attempt, JobStatus.SUCCEEDED, model_id="mdl_9")


def test_a_success_records_its_event_in_the_same_transaction(url: str, sent: list[str]) -> None:
    add_endpoint(url, "wh_a", ["job.succeeded"])
    add_endpoint(url, "wh_b", ["job.failed"])  # not subscribed
    add_endpoint(url, "wh_c", ["job.succeeded"], enabled=False)
    add_endpoint(url, "wh_d", ["job.succeeded"], tenant="ten_2")  # another tenant
    job_id = add_job(url, TrainingJob, "job_ok")
    with session_factory(url)() as session:
        succeed(session, job_id)
        assert sent == []  # nothing is sent before the commit...
        session.rollback()  # ...and a rolled-back ending leaves no event behind
    assert outbox(url) == [] and sent == []
    with transaction(url) as session:
        succeed(session, job_id)
        assert sent == []
    assert outbox(url) == [("job.succeeded", "wh_a", job_id)]
    with transaction(url) as session:
        (delivery,) = session.scalars(select(WebhookDelivery)).all()
        payload = delivery.event.payload
    assert sent == [delivery.id]
    assert payload["type"] == "job.succeeded" and payload["timestamp"].endswith("Z")
    assert payload["data"]["model_id"] == "mdl_9" and payload["data"]["status"] == "succeeded"


def test_cancels_and_reaped_failures_are_events_too(url: str, sent: list[str]) -> None:
    add_endpoint(url, "wh_a", ["job.cancelled", "job.failed", "prediction_job.failed"])
    queued = add_job(url, TrainingJob, "job_queued")
    lost = add_job(url, TrainingJob, "job_lost", status="running", attempts=3,
                   heartbeat_at=utcnow() - timedelta(hours=1))  # fmt: skip
    batch = add_job(url, PredictionJob, "pj_cancel")
    with transaction(url) as session:
        cancel(session, session.get(TrainingJob, queued))
        cancel(session, session.get(PredictionJob, batch))  # no prediction_job.cancelled type
        cancel(session, session.get(TrainingJob, queued))  # already cancelled: no second event
    with transaction(url) as session:
        now = utcnow()
        reap(session, TrainingJob, stale_before=now, requeue_before=now, max_attempts=3)
    assert sorted(outbox(url)) == [("job.cancelled", "wh_a", queued), ("job.failed", "wh_a", lost)]
    assert len(sent) == 2


def test_a_batch_prediction_ending_is_an_event(url: str, sent: list[str]) -> None:
    add_endpoint(url, "wh_a", ["prediction_job.succeeded"])
    job_id = add_job(url, PredictionJob, "pj_ok")
    with transaction(url) as session:
        attempt = claim(session, PredictionJob, job_id, "w1")
        assert attempt is not None
        finish(session, PredictionJob, job_id, attempt, JobStatus.SUCCEEDED, rows_done=10)
    assert outbox(url) == [("prediction_job.succeeded", "wh_a", job_id)]
    with transaction(url) as session:
        (event,) = session.scalars(select(WebhookEvent)).all()
    assert event.payload["data"]["result_url"] == f"/v1/predictions/{job_id}/result"
    assert event.payload["data"]["rows_done"] == 10


def test_nothing_is_written_when_nobody_listens(url: str) -> None:
    job_id = add_job(url, TrainingJob, "job_quiet")
    with transaction(url) as session:
        succeed(session, job_id)
        assert record_event(session, "ten_1", "alias.moved", {"alias": "prod"}) is None
    with transaction(url) as session:
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 0


def test_an_unknown_event_type_is_a_programming_error(url: str) -> None:
    with transaction(url) as session, pytest.raises(ValueError, match="not a webhook event"):
        record_event(session, "ten_1", "job.exploded", {})


def test_the_tables_are_known_to_the_migrations(tmp_path: Path) -> None:
    from service.core.db import Base

    assert {"webhook_endpoints", "webhook_events", "webhook_deliveries"} <= set(
        Base.metadata.tables
    )
