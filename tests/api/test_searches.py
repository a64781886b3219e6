"""The search routes over real HTTP on PostgreSQL + Redis: every impossible space is a 422
naming the key and value, another tenant's search is a 404, Idempotency-Key, listings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.search_helpers import base_body, create, search_body, upload_iris, wait_search
from tests.stack import Stack


@pytest.fixture(scope="module")
def alice(production_stack: Stack) -> Iterator[httpx.Client]:
    with production_stack.client(production_stack.create_key("search-alice")) as client:
        yield client


@pytest.fixture(scope="module")
def bob(production_stack: Stack) -> Iterator[httpx.Client]:
    with production_stack.client(production_stack.create_key("search-bob")) as client:
        yield client


@pytest.fixture(scope="module")
def iris(alice: httpx.Client, iris_bytes: bytes) -> str:
    return upload_iris(alice, iris_bytes)


def problem(answer: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    return body


LR = "training.optimizer.learning_rate"


@pytest.mark.parametrize(
    ("space", "extra", "names"),
    [
        ({"training.optimiser.learning_rate": {"choice": [0.1]}}, {}, ["optimiser"]),
        ({"network.layers[*].units": {"choice": [8, 0]}}, {}, ["network.layers[*].units", "0"]),
        ({"network.layers[0].activation": {"choice": ["relu", "wobbly"]}}, {}, ["wobbly"]),
        ({"training.epochs": {"int": [0, 5]}}, {}, ["training.epochs", "0"]),
        ({"training.batch_size": {"choice": [8, 100000]}}, {}, ["training.batch_size", "100000"]),
        ({LR: {"uniform": [0.01, 0.1]}}, {"strategy": "grid"}, [LR]),
        ({LR: {"uniform": [0.5, 0.1]}}, {}, [LR]),
        ({LR: {"bell": [0.1, 0.2]}}, {}, [LR]),
        ({}, {}, ["space"]),
    ],
)
def test_an_impossible_space_is_a_422_naming_the_key_and_value(
    alice: httpx.Client, iris: str, space: dict, extra: dict, names: list[str]
) -> None:
    body = problem(alice.post("/v1/searches", json=search_body(iris, space, **extra)))
    for name in names:
        assert name in body["detail"], body
    assert body["errors"][0]["loc"][:2] == ["body", "space"], body


def test_a_grid_larger_than_max_trials_needs_sample(alice: httpx.Client, iris: str) -> None:
    space = {LR: {"choice": [0.01, 0.05, 0.1]}, "network.layers[0].units": {"choice": [4, 8]}}
    limits = {"max_trials": 4, "max_parallel": 1}
    body = search_body(iris, space, strategy="grid", limits=limits)
    refused = problem(alice.post("/v1/searches", json=body))
    assert "6 configurations" in refused["detail"] and "sample" in refused["detail"]
    assert refused["errors"][0]["loc"] == ["body", "limits", "max_trials"]
    search = create(alice, {**body, "sample": True})
    assert search["sample"] is True
    alice.post(f"/v1/searches/{search['id']}/cancel")


def test_other_impossible_searches_are_422(alice: httpx.Client, iris: str) -> None:
    space = {LR: {"choice": [0.1]}}
    cases = [
        (search_body(iris, space, objective={"metric": "val_fun"}), "val_fun"),
        (search_body("ds_nope", space), "ds_nope"),
        (
            search_body(iris, space, base=base_body(epochs=2), early_termination={"min_epochs": 2}),
            "min_epochs",
        ),  # fmt: skip
        (search_body(iris, space, limits={"max_trials": 0}), "max_trials"),
        (search_body(iris, space, register={"name": ""}), "register"),
        (search_body(iris, space, strategy="annealing"), "strategy"),
    ]
    for body, name in cases:
        answer = problem(alice.post("/v1/searches", json=body))
        assert name in answer["detail"] + str(answer.get("errors")), (name, answer)


def test_another_tenants_search_is_not_found(
    alice: httpx.Client, bob: httpx.Client, iris: str
) -> None:
    register = {"name": "iris", "alias": "best"}
    body = search_body(iris, {LR: {"choice": [0.1, 0.2]}}, strategy="grid",
                       base=base_body(epochs=2), register=register)  # fmt: skip
    search = create(alice, body)
    assert search["register"] == {"name": "iris", "alias": "best"}
    sid = search["id"]
    for method, path in [
        ("GET", f"/v1/searches/{sid}"),
        ("GET", f"/v1/searches/{sid}/trials"),
        ("POST", f"/v1/searches/{sid}/cancel"),
        ("GET", f"/v1/searches/{sid}/events"),
    ]:
        problem(bob.request(method, path), 404)
    problem(bob.patch(f"/v1/searches/{sid}", json={"limits": {"max_trials": 5}}), 404)
    assert bob.get("/v1/jobs", params={"search_id": sid}).json()["items"] == []
    assert bob.get("/v1/searches").json()["items"] == []
    listed = alice.get("/v1/searches").json()["items"]
    assert sid in [s["id"] for s in listed]
    nulled = alice.patch(f"/v1/searches/{sid}", json={"limits": {"max_trials": None}})
    assert "max_trials" in problem(nulled)["detail"]
    done = wait_search(alice, sid)
    assert done["status"] == "succeeded"
    assert len(alice.get("/v1/jobs", params={"search_id": sid}).json()["items"]) == 2
    assert alice.get("/v1/jobs", params={"status": "pruned"}).status_code == 200
    assert [s["id"] for s in alice.get("/v1/searches", params={"status": "succeeded"})
            .json()["items"]].count(sid) == 1  # fmt: skip
    assert sid not in [s["id"] for s in alice.get("/v1/searches", params={"status": "running"})
                       .json()["items"]]  # fmt: skip
    unknown = problem(alice.get("/v1/searches", params={"status": "pruned"}))
    assert "not a search status" in unknown["detail"]
    assert unknown["errors"][0]["loc"] == ["query", "status"]


def test_idempotency_key_answers_the_first_search(alice: httpx.Client, iris: str) -> None:
    body = search_body(iris, {LR: {"choice": [0.1, 0.2]}}, strategy="grid",
                       base=base_body(epochs=2))  # fmt: skip
    headers = {"Idempotency-Key": "search-once"}
    first = alice.post("/v1/searches", json=body, headers=headers)
    again = alice.post("/v1/searches", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    other = alice.post("/v1/searches", json={**body, "seed": 5}, headers=headers)
    assert "Idempotency-Key" in problem(other)["detail"]
    done = wait_search(alice, first.json()["id"])
    assert done["trials"]["total"] == 2


def test_a_search_over_folds_ranks_by_their_mean_and_registers_its_best(
    alice: httpx.Client, iris: str
) -> None:
    base = base_body(epochs=2)
    base["training"]["cross_validation"] = {"folds": 2}
    body = search_body(
        iris, {"training.optimizer.learning_rate": {"choice": [0.001, 0.2]}}, base=base,
        strategy="grid", objective={"metric": "cv.val_loss", "goal": "minimize"},
        limits={"max_trials": 2, "max_parallel": 2}, register={"name": "iris-cv", "alias": "best"},
    )  # fmt: skip
    search = wait_search(alice, create(alice, body)["id"], timeout=300)
    assert search["status"] == "succeeded", search

    trials = alice.get(f"/v1/searches/{search['id']}/trials").json()["items"]
    means = {}
    for row in trials:
        job = alice.get(f"/v1/jobs/{row['job_id']}").json()
        means[row["job_id"]] = job["cv_metrics"]["val_loss"]["mean"]
        assert row["objective"] == pytest.approx(means[row["job_id"]])
    assert search["best"]["job_id"] == min(means, key=means.__getitem__)

    assert search["register"]["version"] == 1
    registered = alice.get("/v1/registered-models/iris-cv").json()
    assert registered["aliases"] == {"best": 1}
    version = alice.get("/v1/registered-models/iris-cv/versions/1").json()
    assert version["model_id"] == search["best"]["model_id"]
