"""Helpers shared by the bad-input and security tests: problem assertions, a trained model."""

from __future__ import annotations

import http.client
import io
import pickle
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tests.stack import Stack, wait_for_job

# the limits of the `limited_stack` fixture
UPLOAD_LIMIT = 1_000_000
PREDICT_ROWS = 50
TRAINING_BUDGET = 150_000  # iris has 150 rows: at most 1000 epochs

SMALL_JOB: dict[str, Any] = {
    "network": {"layers": [{"units": 8, "activation": "tanh"}]},
    "training": {"epochs": 5, "batch_size": 32, "optimizer": {"name": "sgd", "learning_rate": 0.1}},
}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with `status` and a detail a caller can act on."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    assert isinstance(body["detail"], str) and len(body["detail"]) > 15, body
    return body


def train_iris(stack: Stack, key: str, iris: bytes) -> dict[str, Any]:
    """Upload iris, train a small model on it and return the dataset, job and model ids."""
    with stack.client(key) as client:
        dataset = client.post("/v1/datasets", files={"file": ("iris.csv", iris)})
        assert dataset.status_code == 201, dataset.text
        dataset_id = dataset.json()["id"]
        job = client.post("/v1/jobs", json={"dataset_id": dataset_id, **SMALL_JOB})
        assert job.status_code == 202, job.text
        done = wait_for_job(client, job.json()["id"])
        assert done["status"] == "succeeded", stack.logs()
        return {"dataset_id": dataset_id, "job_id": done["id"], "model_id": done["model_id"]}


def search_and_webhook(stack: Stack, key: str, ids: dict[str, Any]) -> dict[str, Any]:
    """A one-trial search on `ids`' dataset, a webhook endpoint and a test delivery of it:
    their ids, for tests that walk every route."""
    with stack.client(key) as client:
        search = client.post("/v1/searches", json={
            "dataset_id": ids["dataset_id"], "base": SMALL_JOB,
            "space": {"training.seed": {"choice": [0]}}, "limits": {"max_trials": 1},
        })  # fmt: skip
        assert search.status_code == 202, search.text
        webhook = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook",
                                                     "events": ["job.succeeded"]})  # fmt: skip
        assert webhook.status_code == 201, webhook.text
        webhook_id = webhook.json()["id"]
        client.post(f"/v1/webhooks/{webhook_id}/test")
        deliveries = client.get(f"/v1/webhooks/{webhook_id}/deliveries").json()["items"]
        assert deliveries, "the test ping is a delivery"
        return {"search_id": search.json()["id"], "webhook_id": webhook_id,
                "delivery_id": deliveries[0]["id"]}  # fmt: skip


def sqlite_path(stack: Stack) -> str:
    return str(stack.tmp / "data" / "neuronal.db")


def query(stack: Stack, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows from the embedded stack's SQLite database, read directly."""
    with sqlite3.connect(sqlite_path(stack), timeout=30) as connection:
        return list(connection.execute(sql, params))


def execute(stack: Stack, sql: str, *params: Any) -> None:
    """Change the embedded stack's SQLite database directly, behind the API's back."""
    connection = sqlite3.connect(sqlite_path(stack), timeout=30)
    try:
        with connection:
            connection.execute(sql, params)
    finally:
        connection.close()


class _Booby:
    """Unpickling this creates a file: if the file exists, pickled code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Path.touch, (self.marker,))


def pickle_payload(marker: Path) -> bytes:
    """A pickle that creates `marker` when loaded."""
    return pickle.dumps(_Booby(marker))


def npz_with_pickled_objects(marker: Path, key: str = "X") -> bytes:
    """An .npz whose `key` is an object array (saved as a pickle) that creates `marker`."""
    arrays: dict[str, np.ndarray] = {"X": np.ones((2, 1)), "y": np.array([0, 1])}
    arrays[key] = np.array([[_Booby(marker)], [_Booby(marker)]], dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # allow_pickle defaults to True when saving
    return buffer.getvalue()


def prove_payload_runs(tmp: Path) -> None:
    """The payloads above really run code when loaded unsafely, so refusing them matters."""
    control = tmp / "control-pickle"
    pickle.loads(pickle_payload(control))
    assert control.exists()
    control = tmp / "control-npz"
    with np.load(io.BytesIO(npz_with_pickled_objects(control)), allow_pickle=True) as archive:
        archive["X"]
    assert control.exists()


def raw_get(stack: Stack, path: str, headers: dict[str, bytes]) -> httpx.Response:
    """A GET with header bytes httpx would refuse to send (trailing blanks, non-ASCII)."""
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        answer = connection.getresponse()
        return httpx.Response(
            answer.status,
            headers=answer.getheaders(),
            content=answer.read(),
            request=httpx.Request("GET", stack.url + path),
        )
    finally:
        connection.close()
