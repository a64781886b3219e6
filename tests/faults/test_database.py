"""PostgreSQL restarted under a training job: the worker retries its writes and the job
succeeds; the API answers 503 problem+json at once meanwhile and recovers by itself."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import MakeStack
from tests.faults.servers import (
    PostgresServer,
    finished,
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

EPOCHS = 50
OUTAGE_SECONDS = 2


def test_postgres_restart_mid_training(
    private_postgres: PostgresServer, make_stack: MakeStack
) -> None:
    # Staleness well above the outage: a short outage must not cost the job its attempt.
    stack = make_stack(private_postgres.url("neuronal"), NEURONAL_STALE_AFTER_SECONDS="20")
    (worker,) = stack.start()
    with stack.client(stack.create_key("pg-restart")) as client:
        job_id = submit(client, job_body(upload(client, synthetic_csv(1000)), epochs=EPOCHS))
        seen = wait_job(client, job_id, lambda j: j["progress"]["epoch"] >= 5, what="epoch 5")
        private_postgres.stop()
        assert seen["progress"]["epoch"] < EPOCHS
        down_since = time.monotonic()
        while time.monotonic() - down_since < OUTAGE_SECONDS:
            with timed(5):
                answer = client.get(f"/v1/jobs/{job_id}")
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            problem = answer.json()
            assert problem["status"] == 503 and "database" in problem["detail"]
            assert answer.headers["retry-after"]
            with timed(5):
                ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["database"] is False
            time.sleep(0.3)
        private_postgres.start()

        wait_until(
            lambda: client.get(f"/v1/jobs/{job_id}").status_code == 200,
            timeout=10,
            what="the API to reach the database again",
        )
        assert client.get("/readyz").status_code == 200
        job = finished(client, job_id)
        assert job["status"] == "succeeded", job
        assert job["attempts"] == 1
        assert [m["epoch"] for m in metrics(client, job_id)] == list(range(1, EPOCHS + 1))
        (model,) = models_of(client, job_id)
        assert model["id"] == job["model_id"]
    # the outage really reached the training loop, which waited it out
    assert "database unavailable (OperationalError); retrying" in stack.worker_log(worker)
