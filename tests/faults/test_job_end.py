"""Jobs that end early: cancelled while queued or running, diverged, or over the time limit.
Each ends once, in its final state, and nothing brings it back."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import MakeStack
from tests.faults.servers import (
    finished,
    get_job,
    job_body,
    metrics,
    models_of,
    submit,
    synthetic_csv,
    upload,
    wait_job,
)

pytestmark = pytest.mark.faults


def test_cancel_queued_job_never_runs_and_running_job_stops_within_an_epoch(
    make_stack: MakeStack,
) -> None:
    stack = make_stack()
    stack.start(workers=0)  # nothing consumes yet: the first job stays queued
    with stack.client(stack.create_key("cancel")) as client:
        dataset_id = upload(client, synthetic_csv(1000))
        queued = submit(client, job_body(dataset_id, epochs=5))
        answer = client.post(f"/v1/jobs/{queued}/cancel")
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "cancelled"

        worker = stack.ready_worker()  # its queue holds the cancelled job's message first
        running = submit(client, job_body(dataset_id, epochs=300))
        wait_job(client, running, lambda j: j["progress"]["epoch"] >= 3, what="epoch 3")
        answer = client.post(f"/v1/jobs/{running}/cancel")
        assert answer.status_code == 202, answer.text
        asked_at = answer.json()["progress"]["epoch"]
        job = finished(client, running)
        assert job["status"] == "cancelled", job
        assert asked_at <= job["progress"]["epoch"] <= asked_at + 1
        assert len(metrics(client, running)) == job["progress"]["epoch"]
        assert job["attempts"] == 1 and job["model_id"] is None and job["error"] is None

        never = get_job(client, queued)
        assert never["status"] == "cancelled" and never["attempts"] == 0
        assert never["started_at"] is None and never["progress"]["epoch"] == 0
        assert metrics(client, queued) == [] and models_of(client, queued) == []
        assert models_of(client, running) == []
    log = stack.worker_log(worker)
    assert f"job {queued} attempt" not in log  # its message arrived and was a no-op
    assert "'skipped'" in log and "'cancelled'" in log


def test_divergence_fails_with_advice(make_stack: MakeStack) -> None:
    stack = make_stack()
    stack.start()
    with stack.client(stack.create_key("diverge")) as client:
        body = job_body(upload(client, synthetic_csv(300)), epochs=20)
        body["network"] = {"layers": [{"units": 8, "activation": "relu"}]}
        body["training"]["optimizer"] = {"name": "sgd", "learning_rate": 1e6}
        job = finished(client, submit(client, body))
        assert job["status"] == "failed", job
        assert job["error_code"] == "training_error"
        epoch = len(metrics(client, job["id"])) + 1  # it failed in the epoch after the last row
        assert f"epoch {epoch}" in job["error"]
        assert "lower the learning rate" in job["error"].lower()
        assert job["attempts"] == 1 and job["model_id"] is None


def test_time_limit_fails_once_and_stays_failed(make_stack: MakeStack) -> None:
    stale_after, reaper_interval = 2.0, 0.5
    stack = make_stack(
        NEURONAL_JOB_TIME_LIMIT_SECONDS="1.5",
        NEURONAL_STALE_AFTER_SECONDS=str(stale_after),
        NEURONAL_REAPER_INTERVAL_SECONDS=str(reaper_interval),
    )
    (worker,) = stack.start()
    with stack.client(stack.create_key("time-limit")) as client:
        job_id = submit(client, job_body(upload(client, synthetic_csv(1000)), epochs=1000))
        job = finished(client, job_id)
        assert job["status"] == "failed", job
        assert job["error_code"] == "time_limit"
        assert "time limit" in job["error"] and job["progress"]["epoch"] < 1000
        assert job["attempts"] == 1 and job["model_id"] is None
        time.sleep(stale_after + 4 * reaper_interval)  # sweeps that would reclaim a lost job
        assert get_job(client, job_id) == job
    assert stack.worker_log(worker).count(f"job {job_id} attempt") == 1
