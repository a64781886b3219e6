"""Tenant isolation: another tenant's ids answer exactly like ids that do not exist.

Every id-bearing operation in the OpenAPI schema is tried, so a route added later is covered
without editing this file.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.inputs.helpers import SMALL_JOB, assert_problem, search_and_webhook, train_iris
from tests.stack import Stack, wait_for_job

PARAM = re.compile(r"\{(\w+)\}")
BODIES: dict[str, Any] = {
    "/predict": {"inputs": [[5.1, 3.5, 1.4, 0.2]]},
    "/recall": {"patterns": [[1, 0, 1, 0]]},
    "/versions": {"model_id": "mdl_0000"},
    "/aliases/{alias}": {"version": 1},
    "/register": {"name": "theirs"},
    "/{search_id}": {"limits": {"max_trials": 2}},
    "/{webhook_id}": {"description": "theirs"},
}


@pytest.fixture(scope="module")
def alice(embedded_stack: Stack) -> str:
    return embedded_stack.create_key("iso-alice")


@pytest.fixture(scope="module")
def mallory(embedded_stack: Stack) -> str:
    return embedded_stack.create_key("iso-mallory")


@pytest.fixture(scope="module")
def alices(embedded_stack: Stack, alice: str, iris_bytes: bytes) -> dict[str, str]:
    """Alice's dataset, job and model ids, and her registered model's name, alias, version."""
    ids = train_iris(embedded_stack, alice, iris_bytes)
    with embedded_stack.client(alice) as client:
        client.post("/v1/registered-models", json={"name": "iso-alice-model"})
        path = "/v1/registered-models/iso-alice-model"
        client.post(f"{path}/versions", json={"model_id": ids["model_id"]})
        client.put(f"{path}/aliases/production", json={"version": 1})
    more = search_and_webhook(embedded_stack, alice, ids)
    return {**ids, **more, "name": "iso-alice-model", "alias": "production", "version": "1"}


@pytest.fixture(scope="module")
def mallorys(embedded_stack: Stack, mallory: str, iris_bytes: bytes) -> dict[str, str]:
    with embedded_stack.client(mallory) as client:
        return {
            "dataset_id": client.post("/v1/datasets", files={"file": ("m.csv", iris_bytes)}).json()[
                "id"
            ]
        }


def id_routes(stack: Stack) -> list[tuple[str, str]]:
    paths = stack.client(None).get("/openapi.json").json()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if path.startswith("/v1/") and PARAM.search(path)
    ]


def _fill(path: str, ids: dict[str, str]) -> str:
    return PARAM.sub(lambda m: ids[m.group(1)], path)


def _masked(detail: str, ids: dict[str, str]) -> str:
    for value in ids.values():
        detail = detail.replace(value, "ID")
    return detail


def _body(path: str) -> Any:
    return next((b for suffix, b in BODIES.items() if path.endswith(suffix)), None)


def test_other_tenants_ids_answer_like_missing_ids(
    embedded_stack: Stack, alice: str, mallory: str, alices: dict[str, str]
) -> None:
    routes = id_routes(embedded_stack)
    assert len(routes) >= 10, routes
    missing = {name: value[:-4] + "0000" for name, value in alices.items()}
    missing["version"] = alices["version"]  # of a registered model that does not exist
    with embedded_stack.client(mallory) as client:
        for method, path in routes:
            body = _body(path)
            theirs = client.request(method, _fill(path, alices), json=body)
            nobodys = client.request(method, _fill(path, missing), json=body)
            assert_problem(theirs, 404)
            assert_problem(nobodys, 404)
            assert _masked(theirs.json()["detail"], alices) == _masked(
                nobodys.json()["detail"], missing
            ), (method, path)
    with embedded_stack.client(alice) as client:  # nothing of alice's was touched
        for name in ("datasets", "jobs", "models"):
            ident = alices[name[:-1] + "_id"]
            assert client.get(f"/v1/{name}/{ident}").status_code == 200, name
        predict = client.post(f"/v1/models/{alices['model_id']}/predict", json=BODIES["/predict"])
        assert predict.status_code == 200
        registered = client.get(f"/v1/registered-models/{alices['name']}").json()
        assert registered["aliases"] == {"production": 1}


def test_lists_never_show_another_tenants_items_even_with_their_cursor(
    embedded_stack: Stack, mallory: str, alices: dict[str, str], mallorys: dict[str, str]
) -> None:
    theirs = set(alices.values())
    with embedded_stack.client(mallory) as client:
        for name in ("datasets", "jobs", "models"):
            cursors = [None, "~", *sorted(theirs)]  # "~" sorts after every id
            for cursor in cursors:
                params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
                page = client.get(f"/v1/{name}", params=params)
                assert page.status_code == 200, page.text
                ids = {item["id"] for item in page.json()["items"]}
                assert not ids & theirs, (name, cursor)
        listed = client.get("/v1/datasets", params={"cursor": "~"}).json()["items"]
        assert [d["id"] for d in listed] == [mallorys["dataset_id"]]


def test_cannot_train_on_another_tenants_dataset(
    embedded_stack: Stack, mallory: str, alices: dict[str, str]
) -> None:
    with embedded_stack.client(mallory) as client:
        theirs = client.post("/v1/jobs", json={"dataset_id": alices["dataset_id"], **SMALL_JOB})
        nobodys = client.post("/v1/jobs", json={"dataset_id": "ds_0000", **SMALL_JOB})
        for response in (theirs, nobodys):
            assert assert_problem(response, 422)["errors"][0]["loc"] == ["dataset_id"]
        jobs = client.get("/v1/jobs").json()["items"]
        assert all(job["dataset_id"] != alices["dataset_id"] for job in jobs)


def test_idempotency_keys_are_per_tenant(
    embedded_stack: Stack,
    alice: str,
    mallory: str,
    alices: dict[str, str],
    mallorys: dict[str, str],
) -> None:
    """The same Idempotency-Key in another tenant never answers with the first tenant's job."""
    header = {"Idempotency-Key": "shared-key-17"}
    with embedded_stack.client(alice) as client:
        body = {"dataset_id": alices["dataset_id"], **SMALL_JOB}
        first = client.post("/v1/jobs", json=body, headers=header)
        assert first.status_code == 202, first.text
    with embedded_stack.client(mallory) as client:
        replay = client.post("/v1/jobs", json=body, headers=header)
        assert assert_problem(replay, 422)["errors"][0]["loc"] == ["dataset_id"]
        own = client.post(
            "/v1/jobs", json={**body, "dataset_id": mallorys["dataset_id"]}, headers=header
        )
        assert own.status_code == 202 and own.json()["id"] != first.json()["id"]
        wait_for_job(client, own.json()["id"])
    with embedded_stack.client(alice) as client:
        wait_for_job(client, first.json()["id"])
