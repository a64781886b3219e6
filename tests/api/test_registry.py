"""The model registry over real HTTP (the embedded stack): names, versions, aliases with
If-Match and history, predict by alias or version, the 409 on deleting a registered model's
model, `register` on jobs, tenant isolation."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from tests.inputs.helpers import SMALL_JOB, assert_problem, train_iris
from tests.stack import Stack, wait_for_job

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
RM = "/v1/registered-models"


@pytest.fixture(scope="module")
def owner(embedded_stack: Stack) -> str:
    return embedded_stack.create_key("registry-owner")


@pytest.fixture(scope="module")
def trained(embedded_stack: Stack, owner: str, iris_bytes: bytes) -> list[dict[str, Any]]:
    """Two models of the owner, trained on iris with different seeds."""
    first = train_iris(embedded_stack, owner, iris_bytes)
    with embedded_stack.client(owner) as client:
        body = {"dataset_id": first["dataset_id"], **SMALL_JOB}
        body["training"] = {**SMALL_JOB["training"], "seed": 7}
        job = client.post("/v1/jobs", json=body).json()
        second = wait_for_job(client, job["id"])
    assert second["status"] == "succeeded", embedded_stack.logs()
    return [first, {**first, "job_id": second["id"], "model_id": second["model_id"]}]


def _routed_alias_predicts(stack: Stack) -> float:
    """Alias predicts that went through FastAPI's routing (the per-route figures)."""
    text = stack.client(None).get("/metrics").text
    handler = r"/v1/registered-models/\{name\}/aliases/\{alias\}/predict"
    found = re.findall(
        rf'^http_requests_total\{{handler="{handler}",[^}}]*"2xx"\}} (\S+)$', text, re.M
    )
    return sum(float(value) for value in found)


def _versioned(client: httpx.Client, name: str, models: list[str]) -> None:
    assert client.post(RM, json={"name": name}).status_code == 201
    for model in models:
        assert client.post(f"{RM}/{name}/versions", json={"model_id": model}).status_code == 201


def test_registered_models_names_and_versions(
    embedded_stack: Stack, owner: str, trained: list[dict[str, Any]]
) -> None:
    first, second = (t["model_id"] for t in trained)
    with embedded_stack.client(owner) as client:
        created = client.post(RM, json={"name": "iris", "description": "flowers"})
        assert created.status_code == 201, created.text
        assert created.headers["location"] == f"{RM}/iris"
        assert created.json()["latest_version"] is None and created.json()["aliases"] == {}
        assert_problem(client.post(RM, json={"name": "iris"}), 409)
        assert "name" in str(assert_problem(client.post(RM, json={"name": "-x"}), 422))
        v1 = client.post(f"{RM}/iris/versions", json={"model_id": first})
        v2 = client.post(f"{RM}/iris/versions", json={"model_id": second})
        assert (v1.status_code, v1.json()["version"], v2.json()["version"]) == (201, 1, 2)
        assert v2.json() | {"created_at": None} == {
            "name": "iris", "version": 2, "model_id": second, "aliases": [], "created_at": None
        }  # fmt: skip
        assert_problem(client.post(f"{RM}/iris/versions", json={"model_id": "mdl_none"}), 422)
        assert_problem(client.post(f"{RM}/nope/versions", json={"model_id": first}), 404)
        listed = client.get(f"{RM}/iris/versions", params={"limit": 1}).json()
        assert [v["version"] for v in listed["items"]] == [2] and listed["next_cursor"]
        rest = client.get(f"{RM}/iris/versions", params={"cursor": listed["next_cursor"]})
        assert [v["version"] for v in rest.json()["items"]] == [1]
        assert client.get(f"{RM}/iris/versions/1").json()["model_id"] == first
        assert "no version 9" in assert_problem(client.get(f"{RM}/iris/versions/9"), 404)["detail"]
        names = [m["name"] for m in client.get(RM).json()["items"]]
        assert "iris" in names
        assert client.get(f"{RM}/iris").json()["latest_version"] == 2


def test_aliases_move_with_if_match_and_keep_their_history(
    embedded_stack: Stack, owner: str, trained: list[dict[str, Any]]
) -> None:
    first, second = (t["model_id"] for t in trained)
    with embedded_stack.client(owner) as client:
        _versioned(client, "iris-alias", [first, second])
        path = f"{RM}/iris-alias/aliases/production"
        put = client.put(path, json={"version": 1})
        assert put.status_code == 200 and put.json()["model_id"] == first
        assert put.headers["etag"] == '"1"'
        assert_problem(client.put(path, json={"version": 2}, headers={"If-Match": "2"}), 412)
        moved = client.put(path, json={"version": 2}, headers={"If-Match": "1"})
        assert moved.status_code == 200 and moved.json()["version"] == 2
        assert_problem(client.put(f"{RM}/iris-alias/aliases/12", json={"version": 1}), 422)
        assert_problem(client.put(path, json={"version": 5}), 422)
        assert client.get(f"{RM}/iris-alias").json()["aliases"] == {"production": 2}
        assert client.get(f"{RM}/iris-alias/versions/2").json()["aliases"] == ["production"]
        assert client.get(path).json()["version"] == 2
        assert_problem(client.delete(path, headers={"If-Match": "1"}), 412)
        assert client.delete(path, headers={"If-Match": "2"}).status_code == 204
        assert_problem(client.get(path), 404)
        history = client.get(f"{path}/history").json()["items"]
        assert [(h["version"], h["previous_version"]) for h in history] == [
            (None, 2), (2, 1), (1, None)
        ]  # fmt: skip
        assert all(h["at"].endswith("Z") for h in history)


def test_predict_by_alias_and_version_names_the_version(
    embedded_stack: Stack, owner: str, trained: list[dict[str, Any]]
) -> None:
    first, second = (t["model_id"] for t in trained)
    with embedded_stack.client(owner) as client:
        _versioned(client, "iris-predict", [first, second])
        client.put(f"{RM}/iris-predict/aliases/live", json={"version": 1})
        by_id = client.post(f"/v1/models/{first}/predict", json={"inputs": ROWS}).json()
        for content_type in ("application/json", "application/json; charset=utf-8"):
            # the first content type may be answered by the predict shortcut, the second not
            for _ in range(2):  # a cold resolution, then a remembered one
                answer = client.post(
                    f"{RM}/iris-predict/aliases/live/predict",
                    json={"inputs": ROWS},
                    headers={"content-type": content_type},
                ).json()
                assert answer == by_id | {"version": 1, "alias": "live"}
        time.sleep(0.5)  # a routed request is counted just after its answer has gone out
        routed = _routed_alias_predicts(embedded_stack)
        for _ in range(5):  # a remembered alias, plain JSON: answered without FastAPI's routing
            fast = client.post(f"{RM}/iris-predict/aliases/live/predict", json={"inputs": ROWS})
            assert fast.json() == by_id | {"version": 1, "alias": "live"}
        time.sleep(0.5)
        assert _routed_alias_predicts(embedded_stack) == routed
        second_answer = client.post(
            f"{RM}/iris-predict/versions/2/predict", json={"inputs": ROWS}
        ).json()
        assert second_answer["model_id"] == second and second_answer["version"] == 2
        assert second_answer["alias"] is None
        client.put(f"{RM}/iris-predict/aliases/live", json={"version": 2})
        after = client.post(f"{RM}/iris-predict/aliases/live/predict", json={"inputs": ROWS})
        assert after.json()["version"] == 2 and after.json()["model_id"] == second
        bad = client.post(f"{RM}/iris-predict/aliases/live/predict", json={"inputs": [[1.0]]})
        assert_problem(bad, 422)
        for missing in ("aliases/gone", "versions/3"):
            gone = client.post(f"{RM}/iris-predict/{missing}/predict", json={"inputs": ROWS})
            assert_problem(gone, 404)


def test_a_model_a_version_refers_to_cannot_be_deleted(
    embedded_stack: Stack, owner: str, iris_bytes: bytes
) -> None:
    trained = train_iris(embedded_stack, owner, iris_bytes)
    with embedded_stack.client(owner) as client:
        _versioned(client, "iris-keep", [trained["model_id"]])
        refused = assert_problem(client.delete(f"/v1/models/{trained['model_id']}"), 409)
        assert "version 1 of 'iris-keep'" in refused["detail"]
        assert client.get(f"/v1/models/{trained['model_id']}").status_code == 200
        assert client.delete(f"{RM}/iris-keep").status_code == 204
        assert_problem(client.get(f"{RM}/iris-keep"), 404)
        assert client.delete(f"/v1/models/{trained['model_id']}").status_code == 204


def test_jobs_register_when_they_succeed_and_afterwards(
    embedded_stack: Stack, owner: str, trained: list[dict[str, Any]]
) -> None:
    with embedded_stack.client(owner) as client:
        body = {"dataset_id": trained[0]["dataset_id"], **SMALL_JOB}
        body["register"] = {"name": "iris-jobs", "alias": "candidate"}
        job = client.post("/v1/jobs", json=body)
        assert job.status_code == 202 and job.json()["register"] == body["register"]
        done = wait_for_job(client, job.json()["id"])
        assert done["register"] == {"name": "iris-jobs", "alias": "candidate", "version": 1}
        registered = client.get(f"{RM}/iris-jobs").json()
        assert registered["aliases"] == {"candidate": 1}
        assert client.get(f"{RM}/iris-jobs/versions/1").json()["model_id"] == done["model_id"]

        later = client.post(f"/v1/jobs/{trained[1]['job_id']}/register", json={"name": "iris-jobs"})
        assert later.status_code == 201 and later.json()["version"] == 2
        assert later.json()["model_id"] == trained[1]["model_id"]
        assert_problem(client.post("/v1/jobs/job_none/register", json={"name": "x"}), 404)
        bad = {**body, "register": {"name": "ok", "alias": "007"}}
        assert_problem(client.post("/v1/jobs", json=bad), 422)


def test_another_tenants_names_are_not_found(
    embedded_stack: Stack, owner: str, trained: list[dict[str, Any]]
) -> None:
    with embedded_stack.client(owner) as client:
        _versioned(client, "iris-private", [trained[0]["model_id"]])
        client.put(f"{RM}/iris-private/aliases/production", json={"version": 1})
    other = embedded_stack.create_key("registry-other")
    with embedded_stack.client(other) as client:
        base = f"{RM}/iris-private"
        for response in (
            client.get(base),
            client.get(f"{base}/versions"),
            client.get(f"{base}/versions/1"),
            client.get(f"{base}/aliases/production/history"),
            client.put(f"{base}/aliases/production", json={"version": 1}),
            client.delete(base),
            client.post(f"{base}/aliases/production/predict", json={"inputs": ROWS}),
            client.post(f"{base}/versions/1/predict", json={"inputs": ROWS}),
            client.post(f"/v1/jobs/{trained[0]['job_id']}/register", json={"name": "mine"}),
        ):
            assert_problem(response, 404)
        assert client.post(RM, json={"name": "iris-private"}).status_code == 201  # free for them
        stolen = client.post(
            f"{RM}/iris-private/versions", json={"model_id": trained[0]["model_id"]}
        )
        assert_problem(stolen, 422)
