"""Receivers that never answer do not slow the others: five tenants' silent receivers (more
than a delivery worker's 8 threads / 2 per endpoint) and one tenant's answering receiver, on
the real API and one real delivery worker, on PostgreSQL and Redis and on the embedded default."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack import Stack, postgres_database, redis_url, wait_until
from tests.worker.webhook_receiver import HANG, Receiver
from tests.worker.webhook_stack import WEBHOOK_ENV, settled, start_delivery_worker, subscribe

pytestmark = pytest.mark.services

TIMEOUT_SECONDS = 5.0
SILENT_RECEIVERS = 5
PINGS_EACH = 2


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


ENV = {
    **WEBHOOK_ENV,
    "NEURONAL_WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
    "NEURONAL_WEBHOOK_MAX_CONCURRENT_DELIVERIES": "8",
    "NEURONAL_WEBHOOK_MAX_DELIVERIES_PER_ENDPOINT": "2",
}


@pytest.fixture(params=["production", "embedded"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """PostgreSQL, Redis, the API and one delivery worker; or `neuronal serve` on SQLite and
    the folder broker, which starts its delivery worker itself."""
    if request.param == "embedded":
        running = Stack(tmp_path, ENV, embedded=True)
        running.start_api()
        yield running
        running.stop()
        return
    with postgres_database() as database_url:
        env = {**ENV, "NEURONAL_DATABASE_URL": database_url, "NEURONAL_BROKER_URL": redis_url()}
        running = Stack(tmp_path, env, embedded=False)
        running.neuronal("migrate")
        running.start_api()
        start_delivery_worker(running)
        yield running
        running.stop()


def ping(client, webhook_id: str) -> None:  # type: ignore[no-untyped-def]
    answer = client.post(f"/v1/webhooks/{webhook_id}/test")
    assert answer.status_code == 202, answer.text


def test_silent_receivers_leave_threads_for_an_answering_one(
    stack: Stack, receiver: Receiver
) -> None:
    with stack.client(stack.create_key("hooks-healthy")) as healthy:
        good = subscribe(healthy, receiver.url("/answers"), ["job.succeeded"])
        ping(healthy, good["id"])  # it has answered before the others go silent
        wait_until(lambda: settled(healthy, good["id"]), timeout=20, what="the first answer")

        silent: list[tuple[str, str, str]] = []  # path, webhook id, its tenant's key
        for n in range(SILENT_RECEIVERS):
            key = stack.create_key(f"hooks-silent-{n}")
            with stack.client(key) as tenant:
                path = f"/silent-{n}"
                hook = subscribe(tenant, receiver.url(path, *[HANG] * 50), ["job.succeeded"])
                silent.append((path, hook["id"], key))
        for _ in range(PINGS_EACH):  # the receivers all go silent at once
            for _, webhook_id, key in silent:
                with stack.client(key) as tenant:
                    ping(tenant, webhook_id)

        def hanging() -> int:
            return sum(len(receiver.at(path)) for path, _, _ in silent)

        wait_until(lambda: hanging() >= 4, timeout=10, what="the silent receivers' attempts")
        time.sleep(1.0)  # every attempt the delivery worker will make to them is in flight
        held = hanging()

        lags = []
        for n in range(3):
            start = time.monotonic()
            ping(healthy, good["id"])
            wait_until(
                lambda n=n: len(receiver.at("/answers")) >= n + 2,
                timeout=3 * TIMEOUT_SECONDS,
                what="the answering receiver's ping",
                interval=0.01,
            )
            lags.append(time.monotonic() - start)
        assert max(lags) < TIMEOUT_SECONDS / 5, (lags, held)
        assert held <= 4  # at most half of the 8 threads waited on the silent receivers

    # the silent receivers' deliveries waited for a slot; each of them is still attempted
    def all_attempted() -> bool:
        return all(len(receiver.unique(path)) == PINGS_EACH for path, _, _ in silent)

    wait_until(all_attempted, timeout=6 * TIMEOUT_SECONDS, what="every silent delivery")
