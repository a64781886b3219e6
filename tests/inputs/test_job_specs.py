"""Job specs over the limits, and fields a caller may not set: 422 naming the field, no job."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from tests.inputs.helpers import SMALL_JOB, TRAINING_BUDGET, assert_problem, query
from tests.stack import Stack


@pytest.fixture(scope="module")
def key(limited_stack: Stack) -> str:
    return limited_stack.create_key("spec-writer")


@pytest.fixture(scope="module")
def dataset_id(limited_stack: Stack, key: str, iris_bytes: bytes) -> str:
    with limited_stack.client(key) as client:
        response = client.post("/v1/datasets", files={"file": ("iris.csv", iris_bytes)})
        assert response.status_code == 201, response.text
        assert response.json()["n_rows"] == 150
        return str(response.json()["id"])


@pytest.fixture
def no_job_created(limited_stack: Stack, key: str) -> Iterator[None]:
    """The test creates no job: none listed, none in the table."""
    before = query(limited_stack, "SELECT id FROM training_jobs ORDER BY id")
    with limited_stack.client(key) as client:
        listed = client.get("/v1/jobs").json()["items"]
    yield
    assert query(limited_stack, "SELECT id FROM training_jobs ORDER BY id") == before
    with limited_stack.client(key) as client:
        assert client.get("/v1/jobs").json()["items"] == listed


def job(dataset_id: str, edit: dict[str, Any]) -> dict[str, Any]:
    """SMALL_JOB on `dataset_id` with `edit` applied: {"training.epochs": 5, "x": 1}."""
    body: dict[str, Any] = {"dataset_id": dataset_id, **copy.deepcopy(SMALL_JOB)}
    for path, value in edit.items():
        *parents, last = path.split(".")
        node = body
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value
    return body


LAYER = {"units": 2, "activation": "tanh"}
# (edit, where the problem is, words the detail must hold)
OVER_LIMITS = [
    ({"network.layers": [LAYER] * 33}, ["network", "layers"], ["33", "32"]),
    ({"network.layers.0.units": 4097}, ["network", "layers", 0, "units"], ["4096", "4097"]),
    ({"network.layers.0.units": 0}, ["network", "layers", 0, "units"], ["4096"]),
    ({"training.epochs": 10001}, ["training", "epochs"], ["10000", "10001"]),
    ({"training.epochs": 0}, ["training", "epochs"], ["10000"]),
    (
        {"training.epochs": TRAINING_BUDGET // 150 + 1},
        ["training", "epochs"],
        ["budget", f"{TRAINING_BUDGET:,}", "fewer epochs"],
    ),
    ({"training.batch_size": 10**30}, ["training", "batch_size"], ["batch_size"]),
]
UNKNOWN_FIELDS = [
    ({"status": "succeeded"}, ["body", "status"]),
    ({"tenant_id": "ten_someone_else"}, ["body", "tenant_id"]),
    ({"attempts": 0}, ["body", "attempts"]),
    ({"model_id": "mdl_x"}, ["body", "model_id"]),
    ({"id": "job_mine"}, ["body", "id"]),
    ({"network.bogus": 1}, ["network", "bogus"]),
    ({"network.layers.0.kernel_size": 3}, ["network", "layers", 0, "kernel_size"]),
    ({"training.bogus": 1}, ["training", "bogus"]),
    ({"training.optimizer.beta9": 0.9}, ["training", "optimizer", "beta9"]),
    ({"training.early_stopping": {"patience": 2, "extra": 1}}, ["training", "early_stopping"]),
]


@pytest.mark.parametrize(("edit", "loc", "words"), OVER_LIMITS, ids=lambda v: str(v)[:40])
@pytest.mark.usefixtures("no_job_created")
def test_specs_over_the_limits_are_422_naming_the_field(
    limited_stack: Stack,
    key: str,
    dataset_id: str,
    edit: dict[str, Any],
    loc: list[str | int],
    words: list[str],
) -> None:
    with limited_stack.client(key) as client:
        problem = assert_problem(client.post("/v1/jobs", json=job(dataset_id, edit)), 422)
    assert problem["errors"][0]["loc"][: len(loc)] == loc, problem
    for word in words:
        assert word in problem["detail"], problem["detail"]


@pytest.mark.parametrize(("edit", "loc"), UNKNOWN_FIELDS, ids=lambda v: str(v)[:40])
@pytest.mark.usefixtures("no_job_created")
def test_unknown_fields_are_422_naming_them(
    limited_stack: Stack, key: str, dataset_id: str, edit: dict[str, Any], loc: list[str | int]
) -> None:
    with limited_stack.client(key) as client:
        problem = assert_problem(client.post("/v1/jobs", json=job(dataset_id, edit)), 422)
    assert problem["errors"][0]["loc"][: len(loc)] == loc, problem
    name = str(list(edit)[0].split(".")[-1])
    unknown = name if name != "early_stopping" else "extra"
    assert unknown in problem["detail"], problem["detail"]


@pytest.mark.usefixtures("no_job_created")
def test_no_mass_assignment_even_with_a_valid_spec(
    limited_stack: Stack, key: str, dataset_id: str
) -> None:
    """`status`, `attempts`, `tenant_id` next to an otherwise valid job never reach a row."""
    body = job(dataset_id, {"status": "succeeded", "attempts": 99, "tenant_id": "ten_x"})
    with limited_stack.client(key) as client:
        problem = assert_problem(client.post("/v1/jobs", json=body), 422)
    assert {tuple(e["loc"]) for e in problem["errors"]} == {
        ("body", "status"),
        ("body", "attempts"),
        ("body", "tenant_id"),
    }


def test_the_budget_is_exact(limited_stack: Stack, key: str, dataset_id: str) -> None:
    """epochs × rows equal to the budget is accepted (then cancelled and deleted here)."""
    epochs = TRAINING_BUDGET // 150
    with limited_stack.client(key) as client:
        response = client.post("/v1/jobs", json=job(dataset_id, {"training.epochs": epochs}))
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        client.post(f"/v1/jobs/{job_id}/cancel")
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] in ("cancelled", "running")
