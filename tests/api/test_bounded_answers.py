"""Answers are bounded, not only requests: probabilities per predict (rows × classes), the
confusion matrix's classes, and list items (a summary form without per-feature details)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.inputs.helpers import SMALL_JOB, assert_problem
from tests.stack import Stack, wait_for_job

MAX_CELLS = 1000
MAX_CLASSES = 20
CLASSES = 40


@pytest.fixture(scope="module")
def bounded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        "NEURONAL_MAX_PREDICT_CELLS": str(MAX_CELLS),
        "NEURONAL_MAX_CONFUSION_CLASSES": str(MAX_CLASSES),
    }
    stack = Stack(tmp_path_factory.mktemp("bounded"), env, embedded=True)
    stack.start_api()
    yield stack
    stack.stop()


def _many_classes_csv() -> bytes:
    lines = ["a,b,label"] + [
        f"{i % CLASSES + (i % 7) / 10},{(i * 3) % 11},class{i % CLASSES}"
        for i in range(CLASSES * 10)
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def many_classes(bounded_stack: Stack) -> dict[str, Any]:
    key = bounded_stack.create_key("many-classes")
    with bounded_stack.client(key) as client:
        dataset = client.post("/v1/datasets", files={"file": ("c.csv", _many_classes_csv())})
        assert dataset.status_code == 201, dataset.text
        job = client.post("/v1/jobs", json={"dataset_id": dataset.json()["id"], **SMALL_JOB})
        done = wait_for_job(client, job.json()["id"])
        assert done["status"] == "succeeded", bounded_stack.logs()
        return {"key": key, "model_id": done["model_id"]}


def test_predict_answer_over_rows_x_classes_is_422_pointing_at_batch(
    bounded_stack: Stack, many_classes: dict[str, Any]
) -> None:
    model_id = many_classes["model_id"]
    rows = MAX_CELLS // CLASSES
    with bounded_stack.client(many_classes["key"]) as client:
        path = f"/v1/models/{model_id}/predict"
        for inputs in ([[1.0, 2.0]] * (rows + 1),):
            problem = assert_problem(client.post(path, json={"inputs": inputs}), 422)
            assert f"{rows + 1} rows × {CLASSES} classes" in problem["detail"]
            assert f"at most {rows} rows" in problem["detail"]
            assert f"/v1/models/{model_id}/predictions" in problem["detail"]
        records = [{"a": 1.0, "b": 2.0}] * (rows + 1)
        assert_problem(client.post(path, json={"records": records}), 422)
        answer = client.post(path, json={"inputs": [[1.0, 2.0]] * rows})
        assert answer.status_code == 200 and len(answer.json()["probabilities"]) == rows


def test_confusion_of_too_many_classes_is_422_pointing_at_batch(
    bounded_stack: Stack, many_classes: dict[str, Any], iris_bytes: bytes
) -> None:
    model_id = many_classes["model_id"]
    with bounded_stack.client(many_classes["key"]) as client:
        problem = assert_problem(client.get(f"/v1/models/{model_id}/confusion"), 422)
        assert f"{CLASSES} classes" in problem["detail"]
        assert f"/v1/models/{model_id}/predictions" in problem["detail"]
        iris = client.post("/v1/datasets", files={"file": ("iris.csv", iris_bytes)}).json()
        job = client.post("/v1/jobs", json={"dataset_id": iris["id"], **SMALL_JOB}).json()
        small = wait_for_job(client, job["id"])["model_id"]
        matrix = client.get(f"/v1/models/{small}/confusion")
        assert matrix.status_code == 200 and len(matrix.json()["matrix"]) == 3


def test_dataset_lists_carry_summaries_and_the_item_the_details(bounded_stack: Stack) -> None:
    key = bounded_stack.create_key("wide-lister")
    header = ",".join(f"feature_{j}" for j in range(300)) + ",label"
    rows = "\n".join(
        ",".join(str((i * j) % 13) for j in range(300)) + f",c{i % 5}" for i in range(20)
    )
    with bounded_stack.client(key) as client:
        ids = []
        for n in range(10):
            upload = client.post(
                "/v1/datasets", files={"file": (f"wide{n}.csv", f"{header}\n{rows}\n".encode())}
            )
            assert upload.status_code == 201, upload.text
            ids.append(upload.json()["id"])
        listed = client.get("/v1/datasets")
        details = [client.get(f"/v1/datasets/{i}") for i in ids]
    items = listed.json()["items"]
    assert {item["id"] for item in items} == set(ids)
    for item in items:
        assert "features" not in item
        assert item["n_features"] == 300 and item["target"] == {
            "name": "label",
            "kind": "categorical",
            "n_classes": 5,
        }
    assert all(len(d.json()["features"]) == 300 for d in details)
    full = len(json.dumps({"items": [d.json() for d in details], "next_cursor": None}))
    print(f"list of 10 datasets of 300 columns: {len(listed.content):,} bytes (details: {full:,})")
    assert len(listed.content) * 20 < full
