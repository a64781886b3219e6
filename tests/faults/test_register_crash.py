"""A worker killed with SIGKILL between the commit that registers a job's model (moving its
alias) and the commit of the job's success: the retry finishes the job with that version,
registering nothing twice."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.faults.conftest import MakeStack
from tests.faults.servers import (
    finished,
    get_job,
    job_body,
    models_of,
    submit,
    synthetic_csv,
    upload,
)
from tests.stack import wait_until

pytestmark = pytest.mark.faults

RM = "/v1/registered-models"


def _registered(client: httpx.Client, name: str) -> dict[str, Any] | None:
    answer = client.get(f"{RM}/{name}")
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_a_job_killed_after_registering_registers_once(make_stack: MakeStack) -> None:
    stack = make_stack()
    # the lease between the two commits is the window the first worker dies in
    first = stack.ready_worker(NEURONAL_REGISTRY_CACHE_SECONDS="120")
    stack.start_api()
    with stack.client(stack.create_key("register-crash")) as client:
        body = job_body(upload(client, synthetic_csv(200)), epochs=3, batch_size=16)
        body["register"] = {"name": "crashed", "alias": "live"}
        job_id = submit(client, body)
        registered = wait_until(
            lambda: _registered(client, "crashed"), timeout=60, what="the version registered"
        )
        assert registered["latest_version"] == 1 and registered["aliases"] == {"live": 1}
        assert get_job(client, job_id)["status"] == "running"
        stack.kill(first)

        stack.ready_worker()
        job = finished(client, job_id, timeout=90)

        assert job["status"] == "succeeded", (job, stack.logs())
        assert job["attempts"] == 2
        assert job["register"] == {"name": "crashed", "alias": "live", "version": 1}
        after = _registered(client, "crashed")
        assert after is not None
        assert after["latest_version"] == 1 and after["aliases"] == {"live": 1}
        versions = client.get(f"{RM}/crashed/versions").json()["items"]
        assert [(v["version"], v["model_id"]) for v in versions] == [(1, job["model_id"])]
        history = client.get(f"{RM}/crashed/aliases/live/history").json()["items"]
        assert [(h["version"], h["previous_version"]) for h in history] == [(1, None)]
        (model,) = models_of(client, job_id)
        assert model["id"] == job["model_id"]
