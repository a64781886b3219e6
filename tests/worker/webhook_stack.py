"""Helpers of the webhook tests and benchmark: fast delivery settings, a delivery worker
process, and the API calls they repeat."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.stack import ROOT, Stack, wait_for_job

WEBHOOK_ENV = {
    "NEURONAL_WEBHOOK_ALLOW_PRIVATE_URLS": "true",
    "NEURONAL_WEBHOOK_RETRY_SCHEDULE": "[0, 0.2, 0.2, 0.2]",
    "NEURONAL_WEBHOOK_SWEEP_INTERVAL_SECONDS": "0.5",
    "NEURONAL_WEBHOOK_RESEND_AFTER_SECONDS": "2",
    "NEURONAL_WEBHOOK_TIMEOUT_SECONDS": "2",
}
SMALL_JOB = {
    "network": {"layers": [{"units": 8, "activation": "relu"}]},
    "training": {"epochs": 3, "batch_size": 32, "seed": 0},
}


def start_delivery_worker(stack: Stack) -> subprocess.Popen[bytes]:
    log = (stack.tmp / f"deliveries-{len(stack.workers)}.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "worker", "--deliveries", "--loglevel", "INFO"],
        env=stack.env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack.workers.append(proc)
    return proc


def kill(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def subscribe(client, url: str, events: list[str]) -> dict:  # type: ignore[no-untyped-def]
    created = client.post("/v1/webhooks", json={"url": url, "events": events})
    assert created.status_code == 201, created.text
    return created.json()


def train(client, iris_bytes: bytes) -> dict:  # type: ignore[no-untyped-def]
    files = {"file": ("iris.csv", iris_bytes, "text/csv")}
    dataset = client.post("/v1/datasets", files=files).json()
    job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], **SMALL_JOB}).json()
    finished = wait_for_job(client, job["id"])
    assert finished["status"] == "succeeded", finished
    return finished


def deliveries(client, webhook_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    answer = client.get(f"/v1/webhooks/{webhook_id}/deliveries")
    assert answer.status_code == 200, answer.text
    items: list[dict] = answer.json()["items"]
    return items


def settled(client, webhook_id: str) -> list[dict] | None:  # type: ignore[no-untyped-def]
    items = deliveries(client, webhook_id)
    return items if items and all(d["status"] != "pending" for d in items) else None
