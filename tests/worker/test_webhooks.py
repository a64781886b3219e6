"""Webhook deliveries end to end: the real API, training and delivery worker processes,
PostgreSQL and Redis (and the embedded default), a real HTTP receiver on loopback, and the
signatures checked with the `standardwebhooks` package, an implementation we did not write."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from service.core.queue import WEBHOOK_QUEUE
from tests.stack import Stack, postgres_database, redis_url, wait_until
from tests.worker.webhook_receiver import HANG, Receiver
from tests.worker.webhook_stack import (
    WEBHOOK_ENV,
    kill,
    settled,
    start_delivery_worker,
    subscribe,
    train,
)

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """PostgreSQL + Redis, the API, a training worker and a delivery worker."""
    with postgres_database() as database_url:
        env = {"NEURONAL_DATABASE_URL": database_url, "NEURONAL_BROKER_URL": redis_url()}
        stack = Stack(tmp_path_factory.mktemp("webhooks"), {**env, **WEBHOOK_ENV}, embedded=False)
        stack.neuronal("migrate")
        stack.start_api()
        stack.start_worker()
        start_delivery_worker(stack)
        yield stack
        stack.stop()


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`neuronal serve` on SQLite and the folder broker, which starts both workers itself."""
    stack = Stack(tmp_path_factory.mktemp("webhooks-embedded"), WEBHOOK_ENV, embedded=True)
    stack.start_api()
    yield stack
    stack.stop()


@pytest.fixture(params=["embedded", "production"])
def any_stack(request: pytest.FixtureRequest) -> Stack:
    result: Stack = request.getfixturevalue(request.param)
    return result


def test_a_job_success_is_delivered_signed(
    any_stack: Stack, receiver: Receiver, iris_bytes: bytes
) -> None:
    path = f"/signed-{any_stack.embedded}"
    with any_stack.client(any_stack.create_key("hooks-signed")) as client:
        hook = subscribe(client, receiver.url(path), ["job.succeeded", "job.failed"])
        assert hook["secret"].startswith("whsec_") and hook["enabled"] is True
        assert "secret" not in client.get(f"/v1/webhooks/{hook['id']}").json()
        job = train(client, iris_bytes)
        wait_until(lambda: receiver.at(path), timeout=30, what="the delivery")
        (got,) = receiver.at(path)
        payload = Webhook(hook["secret"]).verify(got.body, got.headers)
        assert payload["type"] == "job.succeeded"
        assert payload["data"]["job_id"] == job["id"]
        assert payload["data"]["model_id"] == job["model_id"]
        assert payload["data"]["status"] == "succeeded" and payload["data"]["metrics"]
        assert got.headers["webhook-signature"].startswith("v1,")
        tampered = got.body.replace(job["id"].encode(), b"job_someone_else")
        with pytest.raises(WebhookVerificationError):
            Webhook(hook["secret"]).verify(tampered, got.headers)
        with pytest.raises(WebhookVerificationError):  # another endpoint's secret
            other = subscribe(client, receiver.url(path + "-other"), ["job.failed"])
            Webhook(other["secret"]).verify(got.body, got.headers)
        (delivery,) = wait_until(lambda: settled(client, hook["id"]), timeout=10, what="log")
        assert delivery["status"] == "delivered" and delivery["attempts"] == 1
        assert delivery["event"] == "job.succeeded" and delivery["last_status_code"] == 200
        assert delivery["event_id"] == got.headers["webhook-id"]
    with any_stack.client(any_stack.create_key("hooks-other-tenant")) as stranger:
        assert stranger.get(f"/v1/webhooks/{hook['id']}").status_code == 404
        assert stranger.get(f"/v1/webhooks/{hook['id']}/deliveries").status_code == 404
        redeliver = f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/redeliver"
        assert stranger.post(redeliver).status_code == 404
        assert stranger.delete(f"/v1/webhooks/{hook['id']}").status_code == 404
        assert stranger.get("/v1/webhooks").json()["items"] == []


def test_500_500_200_is_three_attempts_of_one_webhook_id(
    production: Stack, receiver: Receiver
) -> None:
    with production.client(production.create_key("hooks-retry")) as client:
        hook = subscribe(client, receiver.url("/flaky", 500, 500, 200), ["job.succeeded"])
        ping = client.post(f"/v1/webhooks/{hook['id']}/test")
        assert ping.status_code == 202, ping.text
        (delivery,) = wait_until(lambda: settled(client, hook["id"]), timeout=30, what="retries")
        got = receiver.at("/flaky")
        assert len(got) == 3
        assert len({r.headers["webhook-id"] for r in got}) == 1
        for attempt in got:
            Webhook(hook["secret"]).verify(attempt.body, attempt.headers)
        assert json.loads(got[0].body)["type"] == "webhook.ping"
        assert delivery["status"] == "delivered" and delivery["attempts"] == 3
        assert [line["status_code"] for line in delivery["log"]] == [500, 500, 200]
        # a manual redelivery: the same event id once more
        again = client.post(f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/redeliver")
        assert again.status_code == 202, again.text
        wait_until(lambda: len(receiver.at("/flaky")) == 4, timeout=20, what="the redelivery")
        assert receiver.at("/flaky")[3].headers["webhook-id"] == got[0].headers["webhook-id"]
        deliveries = f"/v1/webhooks/{hook['id']}/deliveries"
        wait_until(
            lambda: [d["id"] for d in client.get(deliveries, params={"status": "delivered"})
                     .json()["items"]] == [delivery["id"]],
            timeout=20, what="the redelivered delivery to be listed as delivered",
        )  # fmt: skip
        assert client.get(deliveries, params={"status": "failed"}).json()["items"] == []
        unknown = client.get(deliveries, params={"status": "lost"})
        assert unknown.status_code == 422
        assert "pending, delivered, failed" in unknown.json()["detail"]


def test_410_disables_the_endpoint(production: Stack, receiver: Receiver) -> None:
    with production.client(production.create_key("hooks-gone")) as client:
        hook = subscribe(client, receiver.url("/gone", 410), ["job.succeeded"])
        assert client.post(f"/v1/webhooks/{hook['id']}/test").status_code == 202
        (delivery,) = wait_until(lambda: settled(client, hook["id"]), timeout=30, what="410")
        assert delivery["status"] == "failed" and delivery["last_status_code"] == 410
        assert delivery["attempts"] == 1 and len(receiver.at("/gone")) == 1
        endpoint = client.get(f"/v1/webhooks/{hook['id']}").json()
        assert endpoint["enabled"] is False and "410" in endpoint["disabled_reason"]
        refused = client.post(f"/v1/webhooks/{hook['id']}/test")
        assert refused.status_code == 409 and "PATCH" in refused.json()["detail"]
        enabled = client.patch(f"/v1/webhooks/{hook['id']}", json={"enabled": True})
        assert enabled.json()["enabled"] is True and enabled.json()["disabled_reason"] is None


def test_secrets_are_not_stored_in_plain_text(production: Stack, receiver: Receiver) -> None:
    with production.client(production.create_key("hooks-secret")) as client:
        hook = subscribe(client, receiver.url("/secret"), ["job.failed"])
    secret = hook["secret"]
    raw_key = secret.removeprefix("whsec_")
    engine = create_engine(production.env["NEURONAL_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT * FROM webhook_endpoints WHERE id = :id"), {"id": hook["id"]}
            ).one()
    finally:
        engine.dispose()
    stored = b"".join(value if isinstance(value, bytes) else str(value).encode() for value in row)
    assert secret.encode() not in stored and raw_key.encode() not in stored
    import base64

    assert base64.b64decode(raw_key) not in stored


def test_private_addresses_are_refused_by_default(production: Stack, tmp_path: Path) -> None:
    env = {k: v for k, v in production.env.items() if not k.startswith("NEURONAL_WEBHOOK_")}
    strict = Stack(tmp_path, {**env, "NEURONAL_WEBHOOK_ALLOW_PRIVATE_URLS": "false"},
                   embedded=False)  # fmt: skip
    strict.start_api()
    try:
        with strict.client(production.create_key("hooks-strict")) as client:
            for url in (
                "http://127.0.0.1:9/hook",
                "http://localhost/hook",
                "http://10.1.2.3/hook",
                "http://192.168.0.10/hook",
                "http://169.254.169.254/latest/meta-data/",
                "http://[::1]/hook",
                "http://[::ffff:127.0.0.1]/hook",
                "http://0.0.0.0/hook",
                "http://100.100.100.200/hook",
            ):
                answer = client.post("/v1/webhooks", json={"url": url, "events": ["job.failed"]})
                assert answer.status_code == 422, (url, answer.text)
                problem = answer.json()
                assert "NEURONAL_WEBHOOK_ALLOW_PRIVATE_URLS" in problem["detail"], problem
            answer = client.post(
                "/v1/webhooks", json={"url": "ftp://example.com/x", "events": ["job.failed"]}
            )
            assert answer.status_code == 422 and "http" in answer.json()["detail"]
            assert client.get("/v1/webhooks").json()["items"] == []
    finally:
        strict.stop()


def test_a_delivery_worker_killed_mid_delivery_still_delivers_once(
    production: Stack, receiver: Receiver, iris_bytes: bytes
) -> None:
    """The receiver holds the first delivery; the delivery worker dies with it (kill -9).
    Another delivery worker sends the event again once the attempt's lease runs out."""
    with production.client(production.create_key("hooks-kill")) as client:
        hook = subscribe(client, receiver.url("/hang", HANG), ["job.succeeded"])
        job = train(client, iris_bytes)
        wait_until(lambda: receiver.at("/hang"), timeout=30, what="the first attempt")
        for worker in [w for w in production.workers if w.poll() is None]:
            if "--deliveries" in worker.args:  # type: ignore[operator]
                kill(worker)
        start_delivery_worker(production)
        (delivery,) = wait_until(
            lambda: settled(client, hook["id"]), timeout=60, what="the delivery after the kill"
        )
    assert delivery["status"] == "delivered" and delivery["attempts"] == 2
    got = receiver.at("/hang")
    assert len(got) == 2  # at least once...
    (processed,) = receiver.unique("/hang").values()  # ...and exactly once, deduplicated
    assert json.loads(processed.body)["data"]["job_id"] == job["id"]


def test_an_event_whose_message_was_lost_is_still_delivered(
    production: Stack, receiver: Receiver, iris_bytes: bytes
) -> None:
    """The job's success commits with its event, then the message never reaches a delivery
    worker: the training worker is killed (-9) and the broker's queue of deliveries is lost.
    The delivery workers' sweep finds the delivery in the database and sends it."""
    for worker in [w for w in production.workers if w.poll() is None]:
        if "--deliveries" in worker.args:  # type: ignore[operator]
            kill(worker)
    with production.client(production.create_key("hooks-lost")) as client:
        hook = subscribe(client, receiver.url("/lost"), ["job.succeeded"])
        job = train(client, iris_bytes)
        for worker in [w for w in production.workers if w.poll() is None]:
            kill(worker)
        broker = redis.Redis.from_url(production.env["NEURONAL_BROKER_URL"])
        assert broker.llen(WEBHOOK_QUEUE) >= 1  # the message is there: lose it
        broker.delete(WEBHOOK_QUEUE)
        assert receiver.at("/lost") == []
        start_delivery_worker(production)
        production.start_worker()
        (delivery,) = wait_until(lambda: settled(client, hook["id"]), timeout=60, what="sweep")
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1
    (got,) = receiver.at("/lost")
    assert Webhook(hook["secret"]).verify(got.body, got.headers)["data"]["job_id"] == job["id"]


def metric(text_format: str, name: str) -> float:
    for line in text_format.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} is not in /metrics")


def test_metrics_count_deliveries_by_outcome_and_their_lag(
    production: Stack, receiver: Receiver
) -> None:
    with production.client(production.create_key("hooks-metrics")) as client:
        before = client.get("/metrics").text
        delivered = metric(before, 'neuronal_webhook_deliveries_total{outcome="delivered"}')
        lagged = metric(before, "neuronal_webhook_delivery_lag_seconds_count")
        failed = metric(before, 'neuronal_webhook_deliveries_total{outcome="failed"}')
        good = subscribe(client, receiver.url("/metrics-ok"), ["job.failed"])
        gone = subscribe(client, receiver.url("/metrics-gone", 410), ["job.failed"])
        for hook in (good, gone):
            assert client.post(f"/v1/webhooks/{hook['id']}/test").status_code == 202
        for hook in (good, gone):
            wait_until(lambda h=hook: settled(client, h["id"]), timeout=30, what="both")
        after = client.get("/metrics").text
    assert metric(after, 'neuronal_webhook_deliveries_total{outcome="delivered"}') == delivered + 1
    assert metric(after, 'neuronal_webhook_deliveries_total{outcome="failed"}') == failed + 1
    assert metric(after, "neuronal_webhook_delivery_lag_seconds_count") == lagged + 1
    assert metric(after, 'neuronal_webhook_delivery_lag_seconds_bucket{le="+Inf"}') == lagged + 1
    assert metric(after, "neuronal_webhook_delivery_lag_seconds_sum") > 0
    assert metric(after, "neuronal_webhook_deliveries_pending") >= 0
