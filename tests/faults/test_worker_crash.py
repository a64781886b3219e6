"""A worker killed with SIGKILL: its job is reclaimed and resumed, or failed after too many
crashes, never lost and never looping."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.faults.conftest import MakeStack
from tests.faults.servers import (
    FAULT_TIMINGS,
    finished,
    get_job,
    job_body,
    metrics,
    models_of,
    submit,
    synthetic_csv,
    upload,
    wait_job,
    weights,
)

pytestmark = pytest.mark.faults

EPOCHS = 60
REAPER_INTERVAL = float(FAULT_TIMINGS["NEURONAL_REAPER_INTERVAL_SECONDS"])


def test_killed_worker_job_resumes_from_checkpoint_bit_identical(make_stack: MakeStack) -> None:
    stack = make_stack()
    (first,) = stack.start()
    with stack.client(stack.create_key("crash")) as client:
        body = job_body(upload(client, synthetic_csv(1000)), epochs=EPOCHS)
        job_id = submit(client, body)
        wait_job(client, job_id, lambda j: j["progress"]["epoch"] >= 5, what="epoch 5")
        stack.kill(first)
        at_kill = get_job(client, job_id)
        assert at_kill["status"] == "running" and at_kill["progress"]["epoch"] < EPOCHS
        before = metrics(client, job_id)
        assert [m["epoch"] for m in before] == list(range(1, len(before) + 1))

        stack.ready_worker()
        reference_id = submit(client, body)  # the same spec and seed, never interrupted
        job = finished(client, job_id)
        reference = finished(client, reference_id)

        assert job["status"] == "succeeded", (job, stack.logs())
        assert job["attempts"] == 2 and reference["attempts"] == 1
        rows = metrics(client, job_id)
        assert [m["epoch"] for m in rows] == list(range(1, EPOCHS + 1))
        # resumed, not restarted: the epochs the first worker recorded are kept as they were
        assert rows[: len(before)] == before
        (model,) = models_of(client, job_id)
        assert model["id"] == job["model_id"]
        resumed = weights(client, model["id"])
        uninterrupted = weights(client, reference["model_id"])
        assert resumed.keys() == uninterrupted.keys()
        for name, array in uninterrupted.items():
            assert np.array_equal(resumed[name], array), name
            assert resumed[name].dtype == array.dtype, name


def test_job_that_kills_every_worker_fails_as_worker_lost(make_stack: MakeStack) -> None:
    max_attempts = 3
    stack = make_stack(NEURONAL_MAX_ATTEMPTS=str(max_attempts), NEURONAL_STALE_AFTER_SECONDS="2")
    stack.start()
    with stack.client(stack.create_key("crash-loop")) as client:
        job_id = submit(client, job_body(upload(client, synthetic_csv(1000)), epochs=EPOCHS))
        for attempt in range(1, max_attempts + 1):
            wait_job(
                client,
                job_id,
                lambda j, a=attempt: j["status"] == "running" and j["attempts"] == a,
                what=f"attempt {attempt}",
            )
            spare = stack.start_worker()  # the next one, warming up while this one dies
            stack.kill(stack.worker_of(job_id))
            assert spare.poll() is None
        job = finished(client, job_id, timeout=30)
        assert job["status"] == "failed", (job, stack.logs())
        assert job["error_code"] == "worker_lost" and job["attempts"] == max_attempts
        assert str(max_attempts) in job["error"]
        assert job["model_id"] is None and models_of(client, job_id) == []
        settled = get_job(client, job_id)
        time.sleep(4 * REAPER_INTERVAL)  # the live worker's reaper sweeps a few more times
        assert get_job(client, job_id) == settled
