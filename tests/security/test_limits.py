"""Per-tenant limits: queued + running jobs, and requests per minute; both answer 429 with
Retry-After, and one tenant's limit never touches another tenant."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import pytest

from service.core.ratelimit import RateLimiter
from tests.inputs.helpers import SMALL_JOB, assert_problem, query
from tests.stack import Stack, wait_for_job

MAX_JOBS = 2
PER_MINUTE = 30
LONG_JOB: dict[str, Any] = {
    **SMALL_JOB,
    "training": {**SMALL_JOB["training"], "epochs": 3000, "batch_size": 1},
}


def _limited_stack(tmp: Any, setting: str, value: int) -> Iterator[Stack]:
    stack = Stack(tmp, {setting: str(value)}, embedded=True)
    stack.start_api()
    yield stack
    stack.stop()


# Each limit gets a server of its own: polling a job's status must not spend the request rate.
@pytest.fixture(scope="module")
def jobs_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from _limited_stack(
        tmp_path_factory.mktemp("job-limit"), "NEURONAL_MAX_RUNNING_JOBS_PER_TENANT", MAX_JOBS
    )


@pytest.fixture(scope="module")
def rate_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from _limited_stack(
        tmp_path_factory.mktemp("rate-limit"), "NEURONAL_RATE_LIMIT_PER_MINUTE", PER_MINUTE
    )


def _retry_after(response: Any) -> int:
    value = int(response.headers["retry-after"])
    assert value >= 1
    return value


def test_too_many_active_jobs_is_429_per_tenant(jobs_stack: Stack, iris_bytes: bytes) -> None:
    stack = jobs_stack
    busy, other = stack.create_key("busy"), stack.create_key("other")
    with stack.client(busy) as client, stack.client(other) as neighbour:
        dataset = client.post("/v1/datasets", files={"file": ("iris.csv", iris_bytes)}).json()
        body = {"dataset_id": dataset["id"], **LONG_JOB}
        first = [
            client.post("/v1/jobs", json=body, headers={"Idempotency-Key": f"job-{i}"})
            for i in range(MAX_JOBS)
        ]
        assert [r.status_code for r in first] == [202] * MAX_JOBS, [r.text for r in first]
        refused = client.post("/v1/jobs", json=body)
        problem = assert_problem(refused, 429)
        assert str(MAX_JOBS) in problem["detail"] and "cancel" in problem["detail"]
        _retry_after(refused)
        assert len(client.get("/v1/jobs").json()["items"]) == MAX_JOBS  # nothing stored
        # replaying an accepted job is an answer, not a new job: not refused
        again = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": "job-0"})
        assert again.status_code == 202 and again.json()["id"] == first[0].json()["id"]
        # another tenant is not affected
        theirs = neighbour.post("/v1/datasets", files={"file": ("iris.csv", iris_bytes)}).json()
        small = neighbour.post("/v1/jobs", json={"dataset_id": theirs["id"], **SMALL_JOB})
        assert small.status_code == 202, small.text
        # a finished (here: cancelled) job frees its slot
        assert client.post(f"/v1/jobs/{first[0].json()['id']}/cancel").status_code == 202
        wait_for_job(client, first[0].json()["id"], timeout=60)
        replacement = client.post("/v1/jobs", json=body)
        assert replacement.status_code == 202, replacement.text
        for job in (first[1], replacement):
            client.post(f"/v1/jobs/{job.json()['id']}/cancel")
        tenant = query(stack, "SELECT id FROM tenants WHERE name = 'busy'")[0][0]
        assert query(stack, "SELECT count(*) FROM training_jobs WHERE tenant_id = ?", tenant) == [
            (MAX_JOBS + 1,)
        ]
        wait_for_job(neighbour, small.json()["id"])


def test_request_rate_is_limited_per_tenant(rate_stack: Stack) -> None:
    stack = rate_stack
    chatty, quiet = stack.create_key("chatty"), stack.create_key("quiet")
    with stack.client(chatty) as client, stack.client(quiet) as neighbour:
        start = time.monotonic()
        allowed = 0
        while (response := client.get("/v1/models")).status_code == 200:
            allowed += 1
            assert allowed <= 2 * PER_MINUTE, "the rate limit never kicked in"
        elapsed = time.monotonic() - start
        problem = assert_problem(response, 429)
        assert f"{PER_MINUTE}" in problem["detail"]
        # a burst of one minute's allowance, plus whatever refilled while it was sent
        assert PER_MINUTE <= allowed <= PER_MINUTE + math.ceil(elapsed * PER_MINUTE / 60) + 1
        wait = _retry_after(response)
        assert wait <= math.ceil(60 / PER_MINUTE)
        assert neighbour.get("/v1/models").status_code == 200  # other tenants are unaffected
        time.sleep(wait)
        assert client.get("/v1/models").status_code == 200  # and it refills
    with stack.client(None) as anonymous:
        assert anonymous.get("/healthz").status_code == 200  # operations are not limited


def test_token_bucket_arithmetic() -> None:
    """The bucket itself, on a clock of our choosing: burst, refill, wait, per tenant."""
    limiter = RateLimiter(per_minute=60)  # one token a second, bursts of 60
    assert [limiter.acquire("a", now=100.0) for _ in range(60)] == [0] * 60
    assert limiter.acquire("a", now=100.0) == 1
    assert limiter.acquire("b", now=100.0) == 0  # b has its own bucket
    assert limiter.acquire("a", now=100.5) == 1  # half a token is not enough
    assert limiter.acquire("a", now=101.0) == 0  # the refilled token
    assert limiter.acquire("a", now=101.0) == 1
    assert [limiter.acquire("a", now=1000.0) for _ in range(61)][-2:] == [0, 1]  # capped at 60
    slow = RateLimiter(per_minute=6)  # a token every 10 s
    assert [slow.acquire("c", now=0.0) for _ in range(7)][-1] == 10
    assert slow.acquire("c", now=4.0) == 6
