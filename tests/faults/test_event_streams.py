"""A thousand open event streams on the embedded default (SQLite) leave ordinary requests
and the worker's heartbeats as they were, and streams are capped per tenant and in total
(429 with Retry-After). Loopback only, every phase bounded in time."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.inputs.helpers import SMALL_JOB, assert_problem, query
from tests.stack import Stack, wait_until

STREAMS = 1000
TOTAL_CAP = STREAMS + 2
LONG_JOB: dict[str, Any] = {  # on 20,000 rows one epoch takes about a second
    **SMALL_JOB,
    "training": {**SMALL_JOB["training"], "epochs": 1000, "batch_size": 1},
}


@pytest.fixture(scope="module")
def streams_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        "NEURONAL_MAX_EVENT_STREAMS_PER_TENANT": str(STREAMS),
        "NEURONAL_MAX_EVENT_STREAMS": str(TOTAL_CAP),
    }
    stack = Stack(tmp_path_factory.mktemp("streams"), env, embedded=True)
    stack.start_api()
    yield stack
    stack.stop()


async def _open_stream(port: int, key: str, job_id: str) -> tuple[asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /v1/jobs/{job_id}/events HTTP/1.1\r\nHost: a\r\n"
        f"Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    asyncio.get_running_loop().create_task(_drain(reader))
    return writer, head


async def _open_streams(port: int, key: str, job_id: str) -> list[Any]:
    opened = []
    for _ in range(STREAMS // 100):  # a hundred connections at a time
        opened += await asyncio.gather(*(_open_stream(port, key, job_id) for _ in range(100)))
    return opened


async def _drain(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


async def _latencies(client: httpx.AsyncClient, path: str, count: int) -> list[float]:
    seconds = []
    for _ in range(count):
        started = time.monotonic()
        response = await client.get(path)
        assert response.status_code == 200, response.text
        seconds.append(time.monotonic() - started)
        await asyncio.sleep(0.05)
    return seconds


def _heartbeat(stack: Stack, job_id: str) -> datetime:
    (value,) = query(stack, "SELECT heartbeat_at FROM training_jobs WHERE id = ?", job_id)[0]
    return datetime.fromisoformat(value)


async def _with_streams_open(stack: Stack, key: str, job_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=10) as client:
        before = await _latencies(client, f"/v1/jobs/{job_id}", 20)
        started = time.monotonic()
        opened = await asyncio.wait_for(_open_streams(stack.port, key, job_id), timeout=90)
        open_seconds = time.monotonic() - started
        heads = [head for _, head in opened]
        beats = []
        for _ in range(8):  # the streams are open: requests and heartbeats meanwhile
            beats.append(await asyncio.to_thread(_heartbeat, stack, job_id))
            await asyncio.sleep(0.5)
        during = await _latencies(client, f"/v1/jobs/{job_id}", 20)
        over_tenant = await asyncio.wait_for(client.get(f"/v1/jobs/{job_id}/events"), 10)
        for writer, _ in opened:
            writer.close()
        return {
            "before": before,
            "during": during,
            "open_seconds": open_seconds,
            "heads": heads,
            "beats": beats,
            "over_tenant": over_tenant,
        }


def test_a_thousand_streams_leave_requests_and_heartbeats_alone(streams_stack: Stack) -> None:
    stack = streams_stack
    key = stack.create_key("watcher")
    with stack.client(key) as client:
        iris = client.post("/v1/datasets", files={"file": ("points.csv", _points())}).json()
        job = client.post("/v1/jobs", json={"dataset_id": iris["id"], **LONG_JOB}).json()
        wait_until(
            lambda: client.get(f"/v1/jobs/{job['id']}").json()["status"] == "running",
            timeout=60,
            what="the job to start",
        )
        try:
            result = asyncio.run(_with_streams_open(stack, key, job["id"]))
        finally:
            client.post(f"/v1/jobs/{job['id']}/cancel")
        assert all(b" 200 " in head.split(b"\r\n", 1)[0] for head in result["heads"])
        assert result["open_seconds"] < 60
        before, during = statistics.median(result["before"]), statistics.median(result["during"])
        print(
            f"GET latency median before {before * 1000:.1f} ms, with streams {during * 1000:.1f} ms"
        )
        assert during < max(5 * before, 0.25), (result["before"], result["during"])
        gaps = [
            (b - a).total_seconds()
            for a, b in zip(result["beats"], result["beats"][1:], strict=False)
        ]
        assert result["beats"][-1] > result["beats"][0] and max(gaps) < 2.0, result["beats"]
        # the tenant is at its cap
        problem = assert_problem(result["over_tenant"], 429)
        assert "NEURONAL_MAX_EVENT_STREAMS_PER_TENANT" in problem["detail"]
        assert int(result["over_tenant"].headers["retry-after"]) >= 1
        # the cancelled job ends: the thousand streams got their status event and closed
        job_now = wait_until(
            lambda: (j := client.get(f"/v1/jobs/{job['id']}").json())["status"] != "running" and j,
            timeout=30,
            what="the job to be cancelled",
        )
        assert job_now["status"] == "cancelled" and job_now["attempts"] == 1
    log = stack.logs()
    assert "database is locked" not in log and "heartbeat for" not in log


def _points() -> bytes:
    rows = "\n".join(f"{i % 97 / 97:.3f},{i % 89 / 89:.3f},{'ab'[i % 2]}" for i in range(20_000))
    return ("x,y,label\n" + rows + "\n").encode()


@pytest.fixture(scope="module")
def capped_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"NEURONAL_MAX_EVENT_STREAMS_PER_TENANT": "2", "NEURONAL_MAX_EVENT_STREAMS": "3"}
    stack = Stack(tmp_path_factory.mktemp("capped"), env, embedded=True)
    stack.start_api()
    yield stack
    stack.stop()


def test_streams_are_capped_per_tenant_and_in_total(capped_stack: Stack) -> None:
    stack = capped_stack
    first, second = stack.create_key("first"), stack.create_key("second")
    with stack.client(first) as mine, stack.client(second) as theirs:
        iris = mine.post("/v1/datasets", files={"file": ("points.csv", _points())}).json()
        job = mine.post("/v1/jobs", json={"dataset_id": iris["id"], **LONG_JOB}).json()
        their_iris = theirs.post("/v1/datasets", files={"file": ("points.csv", _points())}).json()
        their_job = theirs.post("/v1/jobs", json={"dataset_id": their_iris["id"], **LONG_JOB})
        mine_path, theirs_path = (
            f"/v1/jobs/{job['id']}/events",
            f"/v1/jobs/{their_job.json()['id']}/events",
        )
        try:
            with mine.stream("GET", mine_path) as a, mine.stream("GET", mine_path) as b:
                assert (a.status_code, b.status_code) == (200, 200)
                problem = assert_problem(mine.get(mine_path), 429)
                assert "NEURONAL_MAX_EVENT_STREAMS_PER_TENANT" in problem["detail"]
                with theirs.stream("GET", theirs_path) as c:
                    assert c.status_code == 200
                    refused = theirs.get(theirs_path)
                    problem = assert_problem(refused, 429)
                    assert "NEURONAL_MAX_EVENT_STREAMS)" in problem["detail"]
                    assert int(refused.headers["retry-after"]) >= 1

            # closed streams give their places back
            def reopened() -> bool:
                with mine.stream("GET", mine_path) as again:
                    return again.status_code == 200

            wait_until(reopened, timeout=10, what="a closed stream's place to be free again")
        finally:
            mine.post(f"/v1/jobs/{job['id']}/cancel")
            theirs.post(f"/v1/jobs/{their_job.json()['id']}/cancel")
