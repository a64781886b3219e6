"""Deploys: SIGTERM to a worker hands its job back to another worker; SIGTERM to the API lets
in-flight requests finish and ends event streams cleanly."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
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
from tests.stack import Stack, wait_until

pytestmark = pytest.mark.faults

EPOCHS = 60


def test_sigterm_worker_hands_job_to_another_worker(make_stack: MakeStack) -> None:
    stack = make_stack()
    stack.start(workers=2)
    with stack.client(stack.create_key("deploy")) as client:
        job_id = submit(client, job_body(upload(client, synthetic_csv(1000)), epochs=EPOCHS))
        wait_job(client, job_id, lambda j: j["progress"]["epoch"] >= 5, what="epoch 5")
        leaving = stack.worker_of(job_id)
        leaving.send_signal(signal.SIGTERM)
        leaving.wait(timeout=15)  # warm shutdown: it stops after the current epoch
        assert leaving.returncode == 0, stack.worker_log(leaving)
        assert "'handed_back'" in stack.worker_log(leaving)
        handed = get_job(client, job_id)
        assert handed["status"] in ("queued", "running") and handed["progress"]["epoch"] < EPOCHS
        before = metrics(client, job_id)

        job = finished(client, job_id)
        assert job["status"] == "succeeded", job
        assert job["attempts"] == 1  # a hand-back is not a failed attempt
        assert stack.worker_log(leaving).count(" claimed by ") == 1  # it claimed nothing more
        assert stack.worker_of(job_id) is not leaving
        rows = metrics(client, job_id)
        assert [m["epoch"] for m in rows] == list(range(1, EPOCHS + 1))
        assert rows[: len(before)] == before  # resumed from the hand-back checkpoint
        (model,) = models_of(client, job_id)
        assert model["id"] == job["model_id"]


def embedded_worker(stack: Stack) -> psutil.Process:
    """The Celery worker that `neuronal serve` started alongside the API."""
    assert stack.api is not None

    def find() -> psutil.Process | None:
        assert stack.api is not None
        children = psutil.Process(stack.api.pid).children(recursive=True)
        return next((p for p in children if "celery" in " ".join(p.cmdline())), None)

    found: psutil.Process = wait_until(find, timeout=30, what="the embedded worker")
    return found


def test_restart_of_serve_spends_no_attempt(tmp_path: Path) -> None:
    stack = Stack(tmp_path, {"NEURONAL_STALE_AFTER_SECONDS": "3"}, embedded=True)
    stack.start_api()
    try:
        with stack.client(stack.create_key("restart")) as client:
            job_id = submit(client, job_body(upload(client, synthetic_csv(1000)), epochs=EPOCHS))
            wait_job(client, job_id, lambda j: j["progress"]["epoch"] >= 3, what="epoch 3")
            assert stack.api is not None
            os.killpg(stack.api.pid, signal.SIGTERM)  # a normal restart: serve and its worker
            stack.api.wait(timeout=30)
            stack.start_api()
            resumed = wait_job(
                client, job_id, lambda j: j["status"] == "running", timeout=30, what="resumed"
            )
            assert resumed["attempts"] == 1  # the hand-back was not counted as a crash
            wait_job(
                client, job_id, lambda j: j["progress"]["epoch"] > resumed["progress"]["epoch"]
            )
            embedded_worker(stack).kill()  # a real crash; serve starts another worker
            job = finished(client, job_id, timeout=90)
        assert job["status"] == "succeeded", (job, stack.logs())
        assert job["attempts"] == 2  # one crash, well inside the budget of three
    finally:
        stack.stop()


def slow_multipart(data: bytes, boundary: str, pieces: int, pause: float) -> Iterator[bytes]:
    """A multipart upload of `data` sent in `pieces` chunks, `pause` seconds apart."""
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    step = -(-len(body) // pieces)
    for start in range(0, len(body), step):
        yield body[start : start + step]
        time.sleep(pause)


def test_sigterm_api_completes_requests_and_ends_event_streams(make_stack: MakeStack) -> None:
    stack = make_stack()
    stack.start()
    assert stack.api is not None
    key = stack.create_key("api-deploy")
    with stack.client(key) as client:
        job_id = submit(client, job_body(upload(client, synthetic_csv(1000)), epochs=400))
        wait_job(client, job_id, lambda j: j["status"] == "running", what="the job to start")

    events: list[tuple[str, Any]] = []
    outcome: dict[str, Any] = {}

    def watch() -> None:
        try:
            with stack.client(key) as sse, sse.stream("GET", f"/v1/jobs/{job_id}/events") as r:
                name = None
                for line in r.iter_lines():
                    if line.startswith("event:"):
                        name = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        events.append((name, json.loads(line.split(":", 1)[1])))
            outcome["stream_ended"] = time.monotonic()
        except httpx.HTTPError as exc:
            outcome["stream_error"] = repr(exc)

    def send_upload() -> None:
        boundary = "neuronal-slow-upload"
        with stack.client(key) as uploader:
            outcome["upload"] = uploader.post(
                "/v1/datasets",
                content=slow_multipart(synthetic_csv(2000, seed=5), boundary, 10, 0.2),
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )

    threads = [threading.Thread(target=watch), threading.Thread(target=send_upload)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(events) >= 2, timeout=20, what="progress events")
    time.sleep(0.5)  # the upload is half sent
    os.kill(stack.api.pid, signal.SIGTERM)
    terminated = time.monotonic()
    for thread in threads:
        thread.join(timeout=30)

    assert "stream_error" not in outcome, outcome
    assert outcome["stream_ended"] - terminated < 5, "the event stream held the shutdown"
    assert events and all(name == "progress" for name, _ in events)  # the job still runs
    answer = outcome["upload"]
    assert answer.status_code == 201, answer.text
    assert answer.json()["n_rows"] == 2000
    # uvicorn re-raises the signal once it has shut down gracefully
    assert stack.api.wait(timeout=15) in (0, -signal.SIGTERM)
    assert time.monotonic() - terminated < 8
    assert "Cancel" not in (stack.tmp / "api.log").read_text()  # nothing was cut off


def test_sigterm_during_the_last_epoch_stores_the_model(make_stack: MakeStack) -> None:
    stack = make_stack()
    (worker,) = stack.start()
    with stack.client(stack.create_key("deploy-last-epoch")) as client:
        # one long epoch: the signal arrives while the last epoch trains
        body = job_body(upload(client, synthetic_csv(40_000)), epochs=1)
        job_id = submit(client, body)
        wait_job(client, job_id, lambda j: j["status"] == "running", what="the job to start")
        worker.send_signal(signal.SIGTERM)
        assert get_job(client, job_id)["progress"]["epoch"] == 0  # still in its only epoch
        assert worker.wait(timeout=30) == 0
        job = get_job(client, job_id)
        assert job["status"] == "succeeded", (job, stack.worker_log(worker))
        assert job["attempts"] == 1 and len(metrics(client, job_id)) == 1
        (model,) = models_of(client, job_id)
        assert model["id"] == job["model_id"]
