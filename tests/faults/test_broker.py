"""The broker misbehaves: restarted empty, down when a job arrives, redelivering a message
whose visibility timeout passed. The database is the truth, so every job still runs once."""

from __future__ import annotations

import time

import httpx
import pytest
import redis

from service.core.queue import QUEUE
from tests.faults.conftest import MakeStack
from tests.faults.servers import (
    RedisServer,
    finished,
    get_job,
    job_body,
    metrics,
    models_of,
    submit,
    synthetic_csv,
    timed,
    upload,
    wait_job,
)
from tests.stack import wait_until

pytestmark = pytest.mark.faults


def assert_ran_once(client: httpx.Client, job_id: str, epochs: int) -> dict:
    job = finished(client, job_id)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 1, job
    assert [m["epoch"] for m in metrics(client, job_id)] == list(range(1, epochs + 1))
    (model,) = models_of(client, job_id)
    assert model["id"] == job["model_id"]
    return job


def test_redis_restarted_empty_loses_no_job(
    make_stack: MakeStack, redis_server: RedisServer
) -> None:
    stack = make_stack()
    stack.start()
    with stack.client(stack.create_key("redis-restart")) as client:
        dataset_id = upload(client, synthetic_csv(1000))
        running = submit(client, job_body(dataset_id, epochs=50))
        wait_job(client, running, lambda j: j["progress"]["epoch"] >= 3, what="epoch 3")
        waiting = [submit(client, job_body(dataset_id, epochs=10, seed=s)) for s in (1, 2)]
        broker = redis.Redis(port=redis_server.port)
        wait_until(lambda: broker.llen(QUEUE) == 2, timeout=10, what="two queued messages")
        assert all(get_job(client, j)["status"] == "queued" for j in waiting)
        redis_server.restart()  # no persistence: the queued messages are gone
        assert get_job(client, running)["status"] == "running"
        assert_ran_once(client, running, 50)
        for job_id in waiting:
            assert_ran_once(client, job_id, 10)


def test_job_submitted_while_redis_is_down_runs_when_it_returns(
    make_stack: MakeStack, redis_server: RedisServer
) -> None:
    stack = make_stack()
    stack.start()
    with stack.client(stack.create_key("redis-down")) as client:
        dataset_id = upload(client, synthetic_csv(200))
        redis_server.stop()
        with timed(5):  # the message is sent after the response: no wait for the broker
            created = client.post("/v1/jobs", json=job_body(dataset_id, epochs=5))
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        with timed(5):
            ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"database": True, "broker": False}
        assert get_job(client, job_id)["status"] == "queued"
        redis_server.start()
        assert_ran_once(client, job_id, 5)
        assert client.get("/readyz").status_code == 200


def test_redelivery_after_visibility_timeout_is_a_no_op(make_stack: MakeStack) -> None:
    visibility_timeout = 1
    stack = make_stack(NEURONAL_VISIBILITY_TIMEOUT_SECONDS=str(visibility_timeout))
    stack.start()
    with stack.client(stack.create_key("visibility")) as client:
        job_id = submit(client, job_body(upload(client, synthetic_csv(1000)), epochs=150))
        started = time.monotonic()
        wait_job(client, job_id, lambda j: j["status"] == "running", what="the job to start")
        time.sleep(max(0.0, visibility_timeout + 0.5 - (time.monotonic() - started)))
        # A worker that starts now sweeps the unacknowledged messages: the one the first
        # worker holds is past its visibility timeout, so Redis delivers it again.
        second = stack.ready_worker()
        wait_until(
            lambda: "'skipped'" in stack.worker_log(second),
            timeout=20,
            what="the second delivery",
        )
        assert get_job(client, job_id)["status"] == "running"
        assert_ran_once(client, job_id, 150)
