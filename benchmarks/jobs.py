"""Client-side helpers of the service benchmark: uploads, jobs, fine-grained status polling."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx

from benchmarks.stack import HOST

POLL_SECONDS = 0.02
COARSE_POLL_SECONDS = 0.1
FINISHED = ("succeeded", "failed", "cancelled")


def client(port: int, key: str, timeout: float = 300) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://{HOST}:{port}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=timeout,
    )


def upload(http: httpx.Client, name: str, content: bytes, target: str = "label") -> dict[str, Any]:
    answer = http.post("/v1/datasets", files={"file": (name, content)}, data={"target": target})
    if answer.status_code != 201:
        raise RuntimeError(f"upload answered {answer.status_code}: {answer.text[:300]}")
    dataset: dict[str, Any] = answer.json()
    return dataset


def submit(http: httpx.Client, dataset_id: str, network: dict, training: dict) -> dict[str, Any]:
    answer = http.post(
        "/v1/jobs", json={"dataset_id": dataset_id, "network": network, "training": training}
    )
    if answer.status_code != 202:
        raise RuntimeError(f"POST /v1/jobs answered {answer.status_code}: {answer.text[:300]}")
    job: dict[str, Any] = answer.json()
    return job


def wait(
    http: httpx.Client,
    job_id: str,
    *,
    timeout: float,
    until: tuple[str, ...] = FINISHED,
    every: float | None = None,
) -> dict[str, Any]:
    """Poll the job until its status is one of `until`: every 20 ms during its first second
    and its last epoch, where the figures are decided, and every 100 ms in between, so that
    answering the polls takes little CPU from the worker on a small machine; or every
    `every` seconds throughout, for figures read from the job's own timestamps."""
    start = time.monotonic()
    deadline = start + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = http.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in until:
            return job
        if job["status"] in FINISHED:
            raise RuntimeError(f"job {job_id} ended {job['status']}: {job.get('error')}")
        progress = job.get("progress") or {}
        last_epoch = progress.get("epoch", 0) >= (progress.get("epochs") or 1) - 1
        fine = last_epoch or time.monotonic() - start < 1.0
        time.sleep(every if every is not None else POLL_SECONDS if fine else COARSE_POLL_SECONDS)
    raise TimeoutError(f"job {job_id} not {until} after {timeout} s")


def succeeded(
    http: httpx.Client, job_id: str, timeout: float, every: float | None = None
) -> dict[str, Any]:
    job = wait(http, job_id, timeout=timeout, every=every)
    if job["status"] != "succeeded":
        raise RuntimeError(f"job {job_id} ended {job['status']}: {job.get('error')}")
    return job


def seconds_between(earlier: str, later: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def engine_seconds(http: httpx.Client, job_id: str) -> float:
    """The seconds the engine reported for its epochs (the worker's own training time)."""
    rows = http.get(f"/v1/jobs/{job_id}/metrics").json()["items"]
    return float(sum(row["seconds"] or 0.0 for row in rows))
