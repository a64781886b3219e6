"""Upload → train → watch → predict, through real HTTP on both configurations."""

from __future__ import annotations

import io
import json

import numpy as np

from tests.stack import Stack, wait_for_job

IRIS_JOB = {
    "network": {"layers": [{"units": 16, "activation": "relu"}]},
    "training": {
        "epochs": 40,
        "batch_size": 16,
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "seed": 1,
        "validation_fraction": 0.2,
    },
}


def test_upload_train_predict(stack: Stack, iris_bytes: bytes) -> None:
    key = stack.create_key("flow")
    with stack.client(key) as client:
        upload = client.post(
            "/v1/datasets",
            files={"file": ("iris.csv", iris_bytes, "text/csv")},
            data={"name": "iris"},
        )
        assert upload.status_code == 201, upload.text
        dataset = upload.json()
        assert dataset["n_rows"] == 150 and dataset["n_features"] == 4
        assert dataset["target"]["name"] == "species"
        assert sorted(dataset["target"]["classes"]) == ["setosa", "versicolor", "virginica"]
        assert all(f["kind"] == "numeric" and f["missing"] == 0 for f in dataset["features"])

        created = client.post("/v1/jobs", json={"dataset_id": dataset["id"], **IRIS_JOB})
        assert created.status_code == 202, created.text
        assert created.json()["status"] == "queued"
        job = wait_for_job(client, created.json()["id"])
        assert job["status"] == "succeeded", (job, stack.logs())
        assert job["attempts"] == 1 and job["progress"]["epoch"] == 40
        assert job["progress"]["fraction"] == 1.0
        assert job["metrics"]["val_accuracy"] >= 0.85

        metrics = client.get(f"/v1/jobs/{job['id']}/metrics").json()["items"]
        assert [m["epoch"] for m in metrics] == list(range(1, 41))
        assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]

        model = client.get(f"/v1/models/{job['model_id']}").json()
        assert model["job_id"] == job["id"] and model["task"] == "classification"
        assert sorted(model["classes"]) == ["setosa", "versicolor", "virginica"]

        rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
        answer = client.post(f"/v1/models/{model['id']}/predict", json={"inputs": rows})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["predictions"] == ["setosa", "virginica"]
        assert np.allclose(np.sum(body["probabilities"], axis=1), 1.0, atol=1e-5)

        names = [f["name"] for f in dataset["features"]]
        records = [dict(zip(names, r, strict=True)) for r in rows]
        by_records = client.post(f"/v1/models/{model['id']}/predict", json={"records": records})
        assert by_records.json()["predictions"] == body["predictions"]

        weights = client.get(f"/v1/models/{model['id']}/weights")
        assert weights.headers["content-type"] == "application/octet-stream"
        with np.load(io.BytesIO(weights.content), allow_pickle=False) as npz:
            assert len(npz.files) >= 4


def test_events_stream_one_progress_per_epoch_then_status(
    embedded_stack: Stack, iris_bytes: bytes
) -> None:
    key = embedded_stack.create_key("events")
    with embedded_stack.client(key) as client:
        dataset = client.post(
            "/v1/datasets", files={"file": ("iris.csv", iris_bytes, "text/csv")}
        ).json()
        job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], **IRIS_JOB}).json()
        events: list[tuple[str, dict]] = []
        with client.stream("GET", f"/v1/jobs/{job['id']}/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            name = None
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and name:
                    events.append((name, json.loads(line.split(":", 1)[1])))
        progress = [e for n, e in events if n == "progress"]
        assert [e["epoch"] for e in progress] == list(range(1, 41))
        assert events[-1][0] == "status" and events[-1][1]["status"] == "succeeded"
