"""A delivery's state machine on a real database (SQLite and PostgreSQL): one lease per
attempt, the retry schedule, 2xx, 410, the per-endpoint cap, and the sweep's choice."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from service.core.config import Settings
from service.core.db import transaction, utcnow
from service.core.outbox import add_event
from service.core.tables import Tenant, WebhookDelivery, WebhookEndpoint
from service.domain.webhooks.attempts import (
    Outcome,
    claim,
    due_deliveries,
    next_waiting,
    record,
)

OK, FIVE_HUNDRED, GONE = Outcome(200, None, 0.01), Outcome(500, None, 0.01), Outcome(410, None, 0)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, webhook_retry_schedule=[0, 60, 60],
                    webhook_max_deliveries_per_endpoint=2)  # fmt: skip


def deliveries(url: str, endpoint_id: str, count: int) -> list[str]:
    with transaction(url) as session:
        if session.get(Tenant, "ten_1") is None:
            session.add(Tenant(id="ten_1", name="t"))
        endpoint = WebhookEndpoint(
            id=endpoint_id,
            tenant_id="ten_1",
            url="http://x.test/",
            events=["job.failed"],
            secret_encrypted=b"s",
            enabled=True,
        )
        session.add(endpoint)
        session.flush()
        for n in range(count):
            add_event(session, "ten_1", "job.failed", {"n": n}, [endpoint])
        session.flush()
        return sorted(
            d.id for d in session.query(WebhookDelivery).filter_by(endpoint_id=endpoint_id)
        )


def row(url: str, delivery_id: str) -> WebhookDelivery:
    with transaction(url) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        return delivery


def test_retries_follow_the_schedule_then_fail(database_url: str, settings: Settings) -> None:
    (delivery_id,) = deliveries(database_url, "wh_1", 1)
    for attempt in (1, 2, 3):
        with transaction(database_url) as session:
            claimed = claim(session, delivery_id, settings)
            assert claimed is not None and claimed.attempt == attempt
            assert claim(session, delivery_id, settings) is None  # leased
        with transaction(database_url) as session:
            delay = record(session, claimed, FIVE_HUNDRED, settings)
        stored = row(database_url, delivery_id)
        if attempt < 3:
            assert delay == 60 and stored.status == "pending"
            with transaction(database_url) as session:
                assert claim(session, delivery_id, settings) is None  # not yet due
                session.execute(update(WebhookDelivery).values(next_attempt_at=utcnow()))
        else:
            assert delay is None and stored.status == "failed"
    assert [line["status_code"] for line in row(database_url, delivery_id).log] == [500] * 3


def test_a_2xx_delivers_and_a_410_disables(database_url: str, settings: Settings) -> None:
    first, second, third = deliveries(database_url, "wh_2", 3)
    with transaction(database_url) as session:
        claimed = claim(session, first, settings)
        assert claimed is not None
    with transaction(database_url) as session:
        assert record(session, claimed, OK, settings) is None
    done = row(database_url, first)
    assert done.status == "delivered" and done.lag_seconds is not None and done.lag_seconds >= 0
    with transaction(database_url) as session:
        claimed = claim(session, second, settings)
        assert claimed is not None
    with transaction(database_url) as session:
        record(session, claimed, GONE, settings)
        endpoint = session.get(WebhookEndpoint, "wh_2")
        assert endpoint is not None and not endpoint.enabled
        assert "410" in (endpoint.disabled_reason or "")
    with transaction(database_url) as session:
        assert claim(session, third, settings) is None  # the endpoint is disabled: failed unsent
    left = row(database_url, third)
    assert left.status == "failed" and left.attempts == 0 and "disabled" in (left.last_error or "")


def test_an_endpoint_holds_at_most_its_share_of_attempts(
    database_url: str, settings: Settings
) -> None:
    slow = deliveries(database_url, "wh_slow", 3)
    (other,) = deliveries(database_url, "wh_other", 1)
    with transaction(database_url) as session:
        first = claim(session, slow[0], settings)
        assert first is not None
        assert claim(session, slow[1], settings) is not None
        assert claim(session, slow[2], settings) is None  # two in flight already
        assert claim(session, other, settings) is not None  # another endpoint is not held up
        assert next_waiting(session, "wh_slow") == slow[2]
        assert due_deliveries(session, settings) == []  # its message counts as sent
    with transaction(database_url) as session:
        record(session, first, OK, settings)  # a slot is free: the waiting one goes now
        claimed = claim(session, slow[2], settings)
        assert claimed is not None and claimed.endpoint_id == "wh_slow"
        assert next_waiting(session, "wh_slow") is None


def test_the_sweep_resends_a_lease_that_ran_out(database_url: str, settings: Settings) -> None:
    (delivery_id,) = deliveries(database_url, "wh_3", 1)
    with transaction(database_url) as session:
        assert due_deliveries(session, settings) == []  # its message was just sent
        assert claim(session, delivery_id, settings) is not None  # then its worker dies
    past = utcnow() - timedelta(seconds=settings.webhook_resend_after_seconds + 1)
    with transaction(database_url) as session:
        session.execute(update(WebhookDelivery).values(enqueued_at=past))
        assert due_deliveries(session, settings) == []  # still leased
        session.execute(update(WebhookDelivery).values(locked_until=past))
        assert due_deliveries(session, settings) == [delivery_id]
        claimed = claim(session, delivery_id, settings)
        assert claimed is not None and claimed.attempt == 2


def test_the_sweep_leaves_a_busy_endpoints_waiting_deliveries_to_its_attempts(
    database_url: str, settings: Settings
) -> None:
    """A receiver that never answers: its waiting deliveries are not resent while its share of
    attempts is in flight (claiming them would fail anyway), and are once a lease runs out."""
    slow = deliveries(database_url, "wh_silent", 3)
    past = utcnow() - timedelta(seconds=settings.webhook_resend_after_seconds + 1)
    with transaction(database_url) as session:
        assert claim(session, slow[0], settings) is not None
        assert claim(session, slow[1], settings) is not None
        session.execute(update(WebhookDelivery).values(enqueued_at=past))
        assert due_deliveries(session, settings) == []  # both slots are held
        session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == slow[0]).values(locked_until=past)
        )  # that attempt's worker died
        assert sorted(due_deliveries(session, settings)) == [slow[0], slow[2]]


def test_claims_side_by_side_keep_the_endpoint_cap(database_url: str, tmp_path: Path) -> None:
    """Eight threads claim deliveries of one endpoint at the same moment, as a delivery
    worker's pool does with a burst of messages: two attempts in flight, no more."""
    settings = Settings(data_dir=tmp_path, webhook_max_deliveries_per_endpoint=2)
    burst = deliveries(database_url, "wh_burst", 8)
    barrier = threading.Barrier(len(burst))

    def claim_one(delivery_id: str) -> bool:
        barrier.wait()
        with transaction(database_url) as session:
            return claim(session, delivery_id, settings) is not None

    for _ in range(3):  # a race: lost only now and then without the lock
        with ThreadPoolExecutor(len(burst)) as pool:
            claimed = list(pool.map(claim_one, burst))
        assert sum(claimed) == 2, claimed
        with transaction(database_url) as session:
            session.execute(update(WebhookDelivery).values(locked_until=None))
