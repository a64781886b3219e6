"""The short predict path answers exactly what the ordinary route answers, through real HTTP."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from service.api.predict import SHORTCUT_BODY
from tests.inputs.helpers import SMALL_JOB, train_iris
from tests.stack import Stack, wait_for_job

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
# `application/json` exactly is taken by the short path; a charset parameter is not
SHORT = {"content-type": "application/json"}
ROUTE = {"content-type": "application/json; charset=utf-8"}


@pytest.fixture(scope="module")
def owner(embedded_stack: Stack) -> str:
    return embedded_stack.create_key("fast-owner")


@pytest.fixture(scope="module")
def model_id(embedded_stack: Stack, owner: str, iris_bytes: bytes) -> str:
    return str(train_iris(embedded_stack, owner, iris_bytes)["model_id"])


def _counter(stack: Stack, pattern: str) -> float:
    text = stack.client(None).get("/metrics").text
    found = re.search(rf"^{pattern} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def _predicted_ok(stack: Stack) -> float:
    return _counter(stack, r'neuronal_predictions_total\{outcome="ok"\}')


def _routed(stack: Stack) -> float:
    """Predicts that went through FastAPI's routing (the per-route figures)."""
    return _counter(
        stack, r'http_requests_total\{handler="/v1/models/\{model_id\}/predict",[^}]*"2xx"\}'
    )


def _settles_at(read: Callable[[], float], expected: float, seconds: float = 3.0) -> bool:
    """Whether a counter reads `expected` and stays there: the instrumentation counts a
    routed request just after its answer has gone out, so a read right after it may lag."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if read() == expected:
            time.sleep(0.2)
            return read() == expected
        time.sleep(0.05)
    return False


def _steady(read: Callable[[], float]) -> float:
    """A counter's value once two reads 0.2 s apart agree."""
    value = read()
    while True:
        time.sleep(0.2)
        again = read()
        if again == value:
            return value
        value = again


def test_both_paths_give_the_same_answer(embedded_stack: Stack, owner: str, model_id: str) -> None:
    path = f"/v1/models/{model_id}/predict"
    with embedded_stack.client(owner) as client:
        client.post(path, json={"inputs": ROWS})  # loads the model and caches the key
        before = _predicted_ok(embedded_stack)
        answers = {}
        for name, headers in (("short", SHORT), ("route", ROUTE)):
            routed = _routed(embedded_stack)
            client.get("/v1/models?limit=1")  # the key fresh in the cache (it lasts 1 s here)
            body = json.dumps({"inputs": ROWS}).encode()
            response = client.post(path, content=body, headers={**headers, "x-request-id": name})
            assert response.status_code == 200, response.text
            assert _settles_at(lambda: _routed(embedded_stack), routed + (name == "route"))
            assert response.headers["x-request-id"] == name
            assert 'auth;desc="cache"' in response.headers["server-timing"]
            answers[name] = response.json()
        records = [dict(zip(["sepal_length", "sepal_width", "petal_length", "petal_width"], r,
                            strict=True)) for r in ROWS]  # fmt: skip
        by_records = client.post(path, content=json.dumps({"records": records}), headers=SHORT)
    assert answers["short"] == answers["route"]
    assert by_records.json() == answers["short"]
    assert set(answers["short"]) == {"model_id", "predictions", "probabilities", "classes"}
    assert _settles_at(lambda: _predicted_ok(embedded_stack), before + 3), "both paths count"


def test_what_the_short_path_cannot_judge_goes_to_the_route(
    embedded_stack: Stack, owner: str, model_id: str
) -> None:
    path = f"/v1/models/{model_id}/predict"
    stranger = embedded_stack.create_key("fast-stranger")
    with embedded_stack.client(owner) as client:
        client.post(path, json={"inputs": ROWS})
        big = client.post(path, json={"inputs": ROWS * 30}, headers=SHORT)  # 90 rows
        assert big.status_code == 200 and len(big.json()["predictions"]) == 90
        flag = client.post(path, content=b'{"inputs": [[true, 1, 2, 3]]}', headers=SHORT)
        assert flag.status_code == 422 and "not a number" in flag.json()["detail"]
        extra = client.post(path, content=b'{"inputs": [[1, 2, 3, 4]], "x": 1}', headers=SHORT)
        assert extra.status_code == 422
    with embedded_stack.client(stranger) as client:
        client.get("/v1/models")  # the stranger's key is cached too
        other = client.post(path, json={"inputs": ROWS}, headers=SHORT)
        assert other.status_code == 404


FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _both_paths(client: Any, path: str, body: dict[str, Any]) -> list[Any]:
    """The answer of the short path and of the route to one body, request ids set aside."""
    answers = []
    for headers in (SHORT, ROUTE):
        response = client.post(path, content=json.dumps(body).encode(), headers=headers)
        answer = response.json()
        answer.pop("request_id", None)
        answers.append((response.status_code, answer))
    return answers


def test_a_record_without_a_feature_is_the_same_422_on_both_paths(
    embedded_stack: Stack, owner: str, model_id: str
) -> None:
    path = f"/v1/models/{model_id}/predict"
    whole = dict(zip(FEATURES, ROWS[0], strict=True))
    lacking = {k: v for k, v in whole.items() if k != "petal_length"}
    with embedded_stack.client(owner) as client:
        client.post(path, json={"inputs": ROWS})  # the model is loaded, the key cached
        short, route = _both_paths(client, path, {"records": [whole, lacking]})
        assert short == route
        status, problem = short
        assert status == 422 and "Record 1 has no 'petal_length'" in problem["detail"]
        assert problem["errors"][0]["loc"] == ["body", "records", 1, "petal_length"]
        explicit = _both_paths(client, path, {"records": [{**lacking, "petal_length": None}]})
        assert explicit[0] == explicit[1] and explicit[0][0] == 200, "null is a missing value"


def test_an_unseen_category_is_accepted_on_both_paths(embedded_stack: Stack, owner: str) -> None:
    rows = "".join(f"{i % 7},{['red', 'blue'][i % 2]},{'ab'[i % 3 == 0]}\n" for i in range(60))
    with embedded_stack.client(owner) as client:
        dataset = client.post("/v1/datasets", files={"file": ("c.csv", "x,colour,label\n" + rows)})
        assert dataset.status_code == 201, dataset.text
        job = client.post("/v1/jobs", json={"dataset_id": dataset.json()["id"], **SMALL_JOB})
        model = wait_for_job(client, job.json()["id"])["model_id"]
        path = f"/v1/models/{model}/predict"
        client.post(path, json={"records": [{"x": 1, "colour": "red"}]})
        short, route = _both_paths(client, path, {"records": [{"x": 1, "colour": "green"}]})
        assert short == route and short[0] == 200
        lacking = _both_paths(client, path, {"records": [{"x": 1}]})
        assert lacking[0] == lacking[1] and lacking[0][0] == 422
        assert "no 'colour'" in lacking[0][1]["detail"]


def _bodies(rows: list[list[float]]) -> dict[str, tuple[str, bytes]]:
    """The same rows as each kind of predict body: (media type, bytes)."""
    import io

    import numpy as np

    records = [dict(zip(FEATURES, row, strict=True)) for row in rows]
    csv = ",".join(FEATURES) + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows)
    npy = io.BytesIO()
    np.save(npy, np.array(rows), allow_pickle=False)
    return {
        "inputs": ("application/json", json.dumps({"inputs": rows}).encode()),
        "records": ("application/json", json.dumps({"records": records}).encode()),
        "csv": ("text/csv", csv.encode()),
        "npy": ("application/x-npy", npy.getvalue()),
    }


@pytest.mark.parametrize(
    ("count", "padding"),
    [(3, 0), (90, 0), (3, SHORTCUT_BODY)],
    ids=["few rows", "more rows than are predicted one by one", "a body past the shortcut"],
)
def test_every_body_kind_gives_the_same_answer_on_both_paths(
    embedded_stack: Stack, owner: str, model_id: str, count: int, padding: int
) -> None:
    path = f"/v1/models/{model_id}/predict"
    rows = (ROWS * 30)[:count]
    bodies = _bodies(rows)
    if padding:  # trailing line ends, which JSON and CSV readers skip (a .npy has no room)
        del bodies["npy"]
        bodies = {kind: (media, body + b"\n" * padding) for kind, (media, body) in bodies.items()}
    answers = {}
    with embedded_stack.client(owner) as client:
        client.post(path, json={"inputs": ROWS})  # the model is loaded
        routed = _steady(lambda: _routed(embedded_stack))
        for kind, (media_type, body) in bodies.items():
            # the exact media type may take the shortcut; with a parameter it is routed
            for way, content_type in (("short", media_type), ("route", f"{media_type}; x=1")):
                routes = way == "route" or padding > 0
                for _ in range(3):  # on a busy machine the key may go stale before the post
                    client.get("/v1/models?limit=1")  # the key fresh in the cache (for 1 s)
                    headers = {"content-type": content_type}
                    response = client.post(path, content=body, headers=headers)
                    assert response.status_code == 200, (kind, way, response.text)
                    now = _steady(lambda: _routed(embedded_stack))
                    if routes or now == routed:
                        break
                    routed = now  # routed for a stale key: try again
                assert now == routed + routes, (kind, way)
                routed = now
                answers[kind, way] = response.json()
    first = answers["inputs", "route"]
    assert len(first["predictions"]) == count and len(first["probabilities"]) == count
    assert all(answer == first for answer in answers.values()), "one answer for every body"
