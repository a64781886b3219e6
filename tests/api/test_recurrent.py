"""Recurrent networks through real HTTP on both configurations: a time series forecast with an
LSTM (predict, ONNX, weights), and a GRU classifier on sequences of varying length."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import onnxruntime as ort
from neuronal_client import NeuronalClient

from service.engine import Model, chronological_split, window_series
from tests.sequence_data import SERIES_ROWS, sequences_npz, series_csv
from tests.stack import Stack, wait_for_job, wait_until

WINDOW = 12
FORECAST_JOB = {
    "network": {"layers": [{"type": "lstm", "units": 16}]},
    "training": {
        "epochs": 8,
        "batch_size": 16,
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "seed": 3,
        "validation_fraction": 0.2,
        "sequence": {"window": WINDOW, "horizon": 1},
    },
}
CLASSIFIER_JOB = {
    "network": {"layers": [{"type": "gru", "units": 16}, {"units": 8, "activation": "relu"}]},
    "training": {
        "epochs": 25,
        "batch_size": 16,
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "seed": 1,
        "validation_fraction": 0.2,
    },
}


def upload_series(client, data: bytes) -> dict:
    answer = client.post(
        "/v1/datasets",
        files={"file": ("load.csv", data, "text/csv")},
        data={"layout": "series", "time_column": "day", "group_column": "site"},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def last_windows(data: bytes, site: str, sizes: tuple[int, ...]) -> list[list[list[float]]]:
    """The last rows of one site's series, in time order, as [temp, load] steps."""
    rows = sorted(
        (r for r in csv.DictReader(io.StringIO(data.decode())) if r["site"] == site),
        key=lambda r: r["day"],
    )
    steps = [[float(r["temp"]), float(r["load"])] for r in rows]
    return [steps[-size:] for size in sizes]


def test_series_forecast_with_lstm_predict_and_onnx(stack: Stack) -> None:
    data = series_csv()
    with stack.client(stack.create_key("forecast")) as client:
        dataset = upload_series(client, data)
        assert dataset["layout"] == "series" and dataset["n_rows"] == 2 * SERIES_ROWS
        assert dataset["series"] == {
            "time_column": "day",
            "group_column": "site",
            "n_series": 2,
            "shortest_series": SERIES_ROWS,
            "shortest_group": "north",
            "longest_series": SERIES_ROWS,
        }
        assert [f["name"] for f in dataset["features"]] == ["temp"]
        assert dataset["n_features"] == 1 and dataset["target"]["task"] == "regression"

        created = client.post("/v1/jobs", json={"dataset_id": dataset["id"], **FORECAST_JOB})
        assert created.status_code == 202, created.text
        assert created.json()["task"] == "regression"
        job = wait_for_job(client, created.json()["id"])
        assert job["status"] == "succeeded", (job, stack.logs())
        rows = client.get(f"/v1/jobs/{job['id']}/metrics").json()["items"]
        assert [r["epoch"] for r in rows] == list(range(1, 9))
        assert rows[-1]["val_loss"] is not None and rows[-1]["train_loss"] < rows[0]["train_loss"]

        model_id = job["model_id"]
        sequences = last_windows(data, "north", (WINDOW, 7))
        answer = client.post(f"/v1/models/{model_id}/predict", json={"sequences": sequences})
        assert answer.status_code == 200, answer.text
        predictions = np.array(answer.json()["predictions"])
        assert predictions.shape == (2,) and np.isfinite(predictions).all()

        weights = client.get(f"/v1/models/{model_id}/weights")
        assert weights.status_code == 200
        local = Model.from_bytes(weights.content)
        assert local.recurrent is not None and local.steps == WINDOW
        with np.load(io.BytesIO(weights.content), allow_pickle=False) as npz:
            assert {"R0_0", "R0_1", "R0_2"} <= set(npz.files)  # the LSTM's weights and bias
        # the windows of each site in time order, validated on the last ones of each site,
        # with scaling fitted on the training windows alone
        ordered = sorted(csv.DictReader(io.StringIO(data.decode())), key=lambda r: r["day"])
        windows = window_series(
            [[float(r["temp"])] for r in ordered], [float(r["load"]) for r in ordered],
            WINDOW, groups=[r["site"] for r in ordered],
        )  # fmt: skip
        train, val = chronological_split(windows.group, 0.2)
        steps = windows.X[train].reshape(-1, 2)
        assert np.allclose(local.mean, steps.mean(axis=0), rtol=1e-5, atol=1e-6)
        val_loss = np.mean((local.predict(windows.X[val]) - windows.y[val]) ** 2)
        assert abs(val_loss - rows[-1]["val_loss"]) <= 1e-4 * max(val_loss, 1e-3)
        padded = np.zeros((2, WINDOW, 2))
        padded[0], padded[1, :7] = sequences[0], sequences[1]
        lengths = np.array([WINDOW, 7])
        assert np.allclose(local.predict(padded, lengths), predictions, rtol=0, atol=1e-9)

        onnx_bytes = client.get(f"/v1/models/{model_id}/onnx")
        assert onnx_bytes.status_code == 200, onnx_bytes.text
        session = ort.InferenceSession(onnx_bytes.content)
        (out,) = session.run(["predictions"], {"sequences": padded, "lengths": lengths})
        assert np.abs(out[:, 0] - predictions).max() <= 1e-5


def test_sequences_with_lengths_train_a_gru_classifier(stack: Stack, tmp_path) -> None:
    blob, X, lengths, y = sequences_npz()
    key = stack.create_key("sequences")
    with stack.client(key) as client:
        upload = client.post(
            "/v1/datasets", files={"file": ("seq.npz", blob, "application/octet-stream")}
        )
        assert upload.status_code == 201, upload.text
        dataset = upload.json()
        assert dataset["layout"] == "sequences" and dataset["sequence_length"] == 10
        assert dataset["n_features"] == 2 and dataset["n_rows"] == len(y)
        assert sorted(dataset["target"]["classes"]) == ["down", "up"]

        created = client.post("/v1/jobs", json={"dataset_id": dataset["id"], **CLASSIFIER_JOB})
        assert created.status_code == 202, created.text
        job = wait_for_job(client, created.json()["id"])
        assert job["status"] == "succeeded", (job, stack.logs())
        assert job["metrics"]["val_accuracy"] >= 0.75, job["metrics"]

        # fresh sequences of the same rule, sent at their own lengths
        _, X2, lengths2, y2 = sequences_npz(n=40, seed=7)
        sequences = [X2[i, : lengths2[i]].tolist() for i in range(len(y2))]
        answer = client.post(f"/v1/models/{job['model_id']}/predict", json={"sequences": sequences})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert np.allclose(np.sum(body["probabilities"], axis=1), 1.0, atol=1e-5)
        assert np.mean(np.array(body["predictions"]) == y2) >= 0.75
        with NeuronalClient(stack.url, key) as typed:
            assert typed.predict(job["model_id"], sequences=sequences) == body

        onnx_bytes = client.get(f"/v1/models/{job['model_id']}/onnx")
        assert onnx_bytes.status_code == 200, onnx_bytes.text
        session = ort.InferenceSession(onnx_bytes.content)
        (proba,) = session.run(
            ["probabilities"], {"sequences": X2, "lengths": lengths2.astype(np.int64)}
        )
        assert np.abs(proba - np.array(body["probabilities"])).max() <= 1e-5

        confusion = client.get(f"/v1/models/{job['model_id']}/confusion")
        assert confusion.status_code == 200, confusion.text
        assert confusion.json()["n_rows"] == round(0.2 * len(y))


def test_sequences_skip_the_short_predict_path_and_agree(embedded_stack: Stack) -> None:
    from tests.api.test_fast_predict import ROUTE, SHORT, _routed

    blob, X, lengths, _ = sequences_npz(n=60, T=5)
    with embedded_stack.client(embedded_stack.create_key("recurrent-fast")) as client:
        dataset = client.post("/v1/datasets", files={"file": ("s.npz", blob)}).json()["id"]
        job = client.post("/v1/jobs", json={"dataset_id": dataset, **CLASSIFIER_JOB}).json()
        path = f"/v1/models/{wait_for_job(client, job['id'])['model_id']}/predict"
        routed = _routed(embedded_stack)
        body = json.dumps({"sequences": [X[i, : lengths[i]].tolist() for i in range(3)]})
        client.post(path, content=body, headers=SHORT)  # loads the model, caches the key
        answers = []
        for headers in (SHORT, ROUTE):
            answer = client.post(path, content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            answers.append(answer.json())
        # all three answered by the route (its counter is written just after each reply)
        wait_until(lambda: _routed(embedded_stack) == routed + 3, timeout=10, what="routed")
        assert answers[0] == answers[1]
        rows = client.post(path, content=b'{"inputs": [[0.1, 0.2]]}', headers=SHORT)
        assert rows.status_code == 422 and "reads sequences" in rows.json()["detail"]
