"""Batch predictions: a file of rows → a job on the workers → a CSV, on both configurations,
plus the no-target parse mode underneath and the client and CLI on top."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from neuronal_client import NeuronalClient

from service.domain.ingest import (
    DatasetFormatError,
    decode_columns,
    encode_columns,
    parse_dataset,
    parse_features,
)
from tests.stack import ROOT, Stack, wait_for_job, wait_until

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
IRIS_JOB = {
    "network": {"layers": [{"units": 16, "activation": "relu"}]},
    "training": {
        "epochs": 30,
        "batch_size": 16,
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "seed": 1,
        "validation_fraction": 0.2,
    },
}
_trained: dict[str, tuple[str, str, str]] = {}


def trained(stack: Stack, iris_bytes: bytes) -> tuple[str, str, str]:
    """(api key, dataset id, model id) of one iris model per stack, trained once."""
    if stack.url not in _trained:
        key = stack.create_key("batch-predictions")
        with stack.client(key) as client:
            files = {"file": ("iris.csv", iris_bytes, "text/csv")}
            dataset = client.post("/v1/datasets", files=files).json()
            created = client.post("/v1/jobs", json={"dataset_id": dataset["id"], **IRIS_JOB})
            job = wait_for_job(client, created.json()["id"])
            assert job["status"] == "succeeded", (job, stack.logs())
        _trained[stack.url] = (key, dataset["id"], job["model_id"])
    return _trained[stack.url]


def feature_rows(iris_bytes: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(iris_bytes.decode())))


def rows_csv(rows: list[dict[str, str]], columns: list[str]) -> bytes:
    """The rows with an extra `row_id` column first, columns reordered, no target."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row_id", *columns])
    for i, row in enumerate(rows):
        writer.writerow([f"r{i}", *(row[c] for c in columns)])
    return out.getvalue().encode()


def submit(client: httpx.Client, model_id: str, data: bytes, name: str = "rows.csv") -> Any:
    return client.post(
        f"/v1/models/{model_id}/predictions", files={"file": (name, data, "text/csv")}
    )


def wait_for_prediction(client: httpx.Client, job_id: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"/v1/predictions/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    result: dict[str, Any] = wait_until(finished, timeout=60, what=job_id, interval=0.1)
    return result


def read_events(client: httpx.Client, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    with client.stream("GET", f"/v1/predictions/{job_id}/events") as stream:
        assert stream.status_code == 200
        name = None
        for line in stream.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and name:
                events.append((name, json.loads(line.split(":", 1)[1])))
    return events


def test_a_file_of_rows_becomes_a_csv_equal_to_predict(stack: Stack, iris_bytes: bytes) -> None:
    key, _, model_id = trained(stack, iris_bytes)
    rows = feature_rows(iris_bytes)
    with stack.client(key) as client:
        created = submit(client, model_id, rows_csv(rows, FEATURES[::-1]))
        assert created.status_code == 202, created.text
        job = created.json()
        assert job["id"].startswith("pj_") and job["model_id"] == model_id
        assert job["status"] in ("queued", "running") and job["result_url"] is None
        assert job["progress"]["n_rows"] == 150
        assert created.headers["location"] == f"/v1/predictions/{job['id']}"

        done = wait_for_prediction(client, job["id"])
        assert done["status"] == "succeeded", (done, stack.logs())
        assert done["progress"] == {"rows_done": 150, "n_rows": 150, "fraction": 1.0}
        assert done["attempts"] == 1 and done["result_url"] == f"/v1/predictions/{job['id']}/result"
        events = read_events(client, job["id"])
        assert events[0] == ("progress", done["progress"])
        assert events[-1][0] == "status" and events[-1][1]["status"] == "succeeded"
        listed = client.get("/v1/predictions", params={"limit": 1}).json()
        assert listed["items"][0]["id"] == job["id"]

        result = client.get(done["result_url"])
        assert result.status_code == 200 and result.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(result.text)))
        records = [{c: float(row[c]) for c in FEATURES} for row in rows]
        expected = client.post(f"/v1/models/{model_id}/predict", json={"records": records}).json()
    assert len(table) == 150
    probabilities = [f"probability_{c}" for c in expected["classes"]]
    assert list(table[0]) == ["row_id", *FEATURES[::-1], "prediction", *probabilities]
    assert [r["row_id"] for r in table] == [f"r{i}" for i in range(150)]
    assert [[float(r[c]) for c in FEATURES] for r in table] == [list(r.values()) for r in records]
    assert [r["prediction"] for r in table] == expected["predictions"]
    got = [[float(r[p]) for p in probabilities] for r in table]
    assert np.allclose(got, expected["probabilities"], rtol=0, atol=1e-12)


def test_refusals_and_cancelling_a_queued_job(stack: Stack, iris_bytes: bytes) -> None:
    key, dataset_id, model_id = trained(stack, iris_bytes)
    rows = feature_rows(iris_bytes)[:5]
    with stack.client(key) as client, stack.client(stack.create_key("batch-other")) as other:
        missing = submit(client, model_id, rows_csv(rows, FEATURES[:3]))
        assert missing.status_code == 422
        assert "petal_width" in missing.json()["detail"]
        assert missing.json()["errors"][0]["loc"] == ["body", "file", "petal_width"]
        assert submit(other, model_id, rows_csv(rows, FEATURES)).status_code == 404

        # a long training job holds the only worker, so the next prediction job stays queued
        busy = client.post(
            "/v1/jobs",
            json={
                "dataset_id": dataset_id,
                **IRIS_JOB,
                "training": {**IRIS_JOB["training"], "epochs": 5000, "batch_size": 1},
            },
        ).json()
        wait_until(
            lambda: client.get(f"/v1/jobs/{busy['id']}").json()["status"] == "running",
            timeout=30,
            what="the blocking job to start",
        )
        try:
            job = submit(client, model_id, rows_csv(rows, FEATURES)).json()
            assert job["status"] == "queued"
            early = client.get(f"/v1/predictions/{job['id']}/result")
            assert early.status_code == 409
            assert early.headers["content-type"] == "application/problem+json"
            assert "queued" in early.json()["detail"]

            for method, path in [
                ("GET", ""),
                ("GET", "/result"),
                ("GET", "/events"),
                ("POST", "/cancel"),
                ("DELETE", ""),
            ]:
                answer = other.request(method, f"/v1/predictions/{job['id']}{path}")
                assert answer.status_code == 404, (method, path, answer.text)
            assert job["id"] not in [j["id"] for j in other.get("/v1/predictions").json()["items"]]

            cancelled = client.post(f"/v1/predictions/{job['id']}/cancel")
            assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
            assert client.get(f"/v1/predictions/{job['id']}/result").status_code == 409
            assert client.delete(f"/v1/predictions/{job['id']}").status_code == 204
            assert client.get(f"/v1/predictions/{job['id']}").status_code == 404
        finally:
            client.post(f"/v1/jobs/{busy['id']}/cancel")
            assert wait_for_job(client, busy["id"], timeout=60)["status"] == "cancelled"


def test_client_and_cli(embedded_stack: Stack, iris_bytes: bytes, tmp_path: Path) -> None:
    key, _, model_id = trained(embedded_stack, iris_bytes)
    rows = feature_rows(iris_bytes)
    path = tmp_path / "rows.csv"
    path.write_bytes(rows_csv(rows, FEATURES))
    with NeuronalClient(embedded_stack.url, key) as client:
        job = client.predict_batch(model_id, path)
        assert job["id"] in [j["id"] for j in client.list_prediction_jobs()["items"]]
        seen: list[dict[str, Any]] = []
        final = client.wait_for_prediction_job(job["id"], on_progress=seen.append, timeout=60)
        assert final["status"] == "succeeded" and seen[-1]["rows_done"] == 150
        from_client = client.download_predictions(job["id"])

    out = tmp_path / "out.csv"
    env = {**embedded_stack.env, "NEURONAL_URL": embedded_stack.url, "NEURONAL_API_KEY": key}
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "predict", model_id, str(path), "--batch",
         "--output", str(out)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrote 150 predictions" in done.stderr
    assert out.read_bytes() == from_client
    assert len(list(csv.DictReader(io.StringIO(from_client.decode())))) == 150


def test_features_only_parse_mode(tmp_path: Path) -> None:
    one_column = tmp_path / "one.csv"
    one_column.write_text("x\n1\nNA\n3\n")  # blank lines are skipped, as in datasets
    parsed = parse_features(one_column)
    assert parsed.n_rows == 3 and parsed.first_row == 2
    assert np.array_equal(parsed.columns["x"], [1.0, np.nan, 3.0], equal_nan=True)

    no_target = tmp_path / "x.npz"
    np.savez(no_target, X=np.arange(6.0).reshape(3, 2))
    parsed = parse_features(no_target)
    assert list(parsed.columns) == ["x0", "x1"] and parsed.format == "npz"
    with pytest.raises(DatasetFormatError, match="no 'y' array"):
        parse_dataset(no_target)

    records = tmp_path / "rows.json"
    records.write_text('[{"a": 0.1, "b": "red"}, {"a": 2.5, "b": null}]')
    parsed = parse_features(records)
    columns, n_rows = decode_columns(encode_columns(parsed.columns, parsed.n_rows))
    assert n_rows == 2 and columns["a"].tolist() == [0.1, 2.5]  # float64 kept exactly
    assert columns["b"].tolist() == ["red", ""]
