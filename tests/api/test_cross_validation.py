"""Cross-validation over real HTTP on the embedded stack: refused at submission with a 422
naming what to change, or run fold by fold into cv_metrics whose pooled figures are those of
the out-of-fold predictions the API hands out, each fold's preprocessing fitted on its own
training rows only."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from service.engine import fit
from tests.api.test_recurrent import upload_series
from tests.api.test_submission_rules import two_classes, upload
from tests.api.test_training_options import refused
from tests.sequence_data import series_csv
from tests.stack import Stack, wait_for_job

DENSE = {"layers": [{"units": 6, "activation": "tanh"}]}
TRAINING = {"epochs": 4, "batch_size": 16, "seed": 5, "optimizer": {"name": "adam",
            "learning_rate": 0.05}}  # fmt: skip


@pytest.fixture(scope="module")
def client(embedded_stack: Stack) -> Iterator[httpx.Client]:
    with embedded_stack.client(embedded_stack.create_key("cross-validation")) as client:
        yield client


def submit(client: httpx.Client, dataset_id: str, cv: Any, **training: Any) -> httpx.Response:
    body = {
        "dataset_id": dataset_id,
        "network": DENSE,
        "training": {**TRAINING, "cross_validation": cv, **training},
    }
    return client.post("/v1/jobs", json=body)


def three_classes(counts: tuple[int, int, int], seed: int = 0) -> str:
    """Three classes of the given sizes, and a feature `big` with one huge value in it: a
    scaler fitted with that row differs wildly from one fitted without it."""
    rng = np.random.default_rng(seed)
    lines = ["a,b,big,label"]
    for label, count in zip(("red", "green", "blue"), counts, strict=True):
        centre = {"red": -1.0, "green": 0.0, "blue": 1.0}[label]
        for _ in range(count):
            a, b = (rng.normal(size=2) * 0.7 + centre).round(4)
            lines.append(f"{a},{b},{round(float(rng.normal()) + centre, 4)},{label}")
    lines[7] = lines[7].rsplit(",", 2)[0] + ",5000.0," + lines[7].rsplit(",", 1)[1]
    return "\n".join(lines) + "\n"


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(
    ("cv", "loc", "words"),
    [
        ({"folds": 1}, ["training", "cross_validation", "folds"], ("from 2 to 20",)),
        ({"folds": 21}, ["training", "cross_validation", "folds"], ("from 2 to 20",)),
        ({"folds": 3, "shuffle": True}, ["training", "cross_validation", "shuffle"],
         ("unknown field",)),
    ],
)  # fmt: skip
def test_an_impossible_fold_count_is_refused(client, cv, loc, words) -> None:
    dataset_id = upload(client, two_classes(40))
    refused(submit(client, dataset_id, cv), loc, *words)


def test_a_class_smaller_than_the_folds_is_refused(client) -> None:
    dataset_id = upload(client, three_classes((20, 20, 3)))
    answer = submit(client, dataset_id, {"folds": 4})
    refused(answer, ["training", "cross_validation", "folds"], "'blue'", "only 3 rows", "4 folds")
    answer = submit(client, dataset_id, {"folds": 4, "stratified": False})
    assert answer.status_code == 202, answer.text
    # it stands for 5 of the tenant's 8 tasks: the module's later jobs need them
    assert client.post(f"/v1/jobs/{answer.json()['id']}/cancel").status_code == 202


def test_too_few_rows_per_fold_is_refused(client) -> None:
    dataset_id = upload(client, two_classes(12))
    answer = submit(client, dataset_id, {"folds": 7, "stratified": False}, batch_size=2)
    refused(answer, ["training", "cross_validation", "folds"], "at least 14 rows", "at most 6")


def test_a_batch_larger_than_a_folds_training_rows_is_refused(client) -> None:
    dataset_id = upload(client, two_classes(40))
    answer = submit(client, dataset_id, {"folds": 4}, batch_size=30)
    refused(answer, ["training", "batch_size"], "4 folds", "from 1 to 27")


def test_stratified_folds_on_a_regression_and_folds_of_a_series_are_refused(client) -> None:
    lines = ["x,y", *(f"{i},{i * 0.5}" for i in range(30))]
    regression_id = upload(client, "\n".join(lines) + "\n")
    answer = submit(client, regression_id, {"folds": 3, "stratified": True})
    refused(answer, ["training", "cross_validation", "stratified"], "regression")
    series_id = upload_series(client, series_csv())["id"]
    network = {"layers": [{"type": "gru", "units": 3}]}
    body = {"dataset_id": series_id, "network": network,
            "training": {**TRAINING, "sequence": {"window": 3, "horizon": 1},
                         "cross_validation": {"folds": 3}}}  # fmt: skip
    refused(client.post("/v1/jobs", json=body), ["training", "cross_validation"], "time series")


def test_a_job_without_folds_has_no_out_of_fold_predictions(client) -> None:
    dataset_id = upload(client, two_classes(30))
    body = {"dataset_id": dataset_id, "network": DENSE, "training": TRAINING}
    job = client.post("/v1/jobs", json=body).json()
    assert job["cv_metrics"] is None
    answer = client.get(f"/v1/jobs/{job['id']}/cv-predictions")
    assert answer.status_code == 409, answer.text
    assert "not cross-validated" in answer.json()["detail"]
    assert client.get("/v1/jobs/job_nope/cv-predictions").status_code == 404


@pytest.fixture(scope="module")
def classes_data() -> str:
    return three_classes((41, 30, 13))


@pytest.fixture(scope="module")
def cv_job(client: httpx.Client, classes_data: str) -> dict[str, Any]:
    dataset_id = upload(client, classes_data)
    answer = submit(client, dataset_id, {"folds": 5})
    assert answer.status_code == 202, answer.text
    return wait_for_job(client, answer.json()["id"])


@pytest.fixture(scope="module")
def oof(client: httpx.Client, cv_job: dict[str, Any]) -> list[dict[str, str]]:
    answer = client.get(f"/v1/jobs/{cv_job['id']}/cv-predictions")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    return read_csv(answer.text)


def test_the_job_trains_its_folds_then_its_model(cv_job) -> None:
    assert cv_job["status"] == "succeeded", cv_job
    assert cv_job["model_id"] is not None
    assert cv_job["training"]["cross_validation"] == {"folds": 5, "stratified": True}
    assert cv_job["progress"] == {"epoch": 24, "epochs": 24, "fraction": 1.0}
    metrics = cv_job["cv_metrics"]
    assert set(metrics) == {"val_loss", "val_accuracy"}
    for entry in metrics.values():
        assert len(entry["folds"]) == 5
        assert entry["mean"] == pytest.approx(np.mean(entry["folds"]), abs=1e-12)
        assert entry["std"] == pytest.approx(np.std(entry["folds"]), abs=1e-12)
    assert metrics["val_accuracy"]["mean"] > 0.6  # three well separated blobs


def test_its_event_stream_follows_the_final_training(client, cv_job) -> None:
    events: list[tuple[str, dict]] = []
    with client.stream("GET", f"/v1/jobs/{cv_job['id']}/events") as stream:
        name = None
        for line in stream.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and name:
                events.append((name, json.loads(line.split(":", 1)[1])))
    progress = [e for n, e in events if n == "progress"]
    assert [(e["epoch"], e["epochs"]) for e in progress] == [(k, 4) for k in range(1, 5)]
    assert progress[-1]["fraction"] == 1.0
    assert events[-1][0] == "status" and events[-1][1]["cv_metrics"] == cv_job["cv_metrics"]


def test_stratified_folds_hold_class_counts_within_one(oof) -> None:
    assert [int(line["row"]) for line in oof] == list(range(84))
    for label, count in (("red", 41), ("green", 30), ("blue", 13)):
        per_fold = [sum(1 for x in oof if x["target"] == label and x["fold"] == str(k))
                    for k in range(5)]  # fmt: skip
        assert all(abs(n - count / 5) < 1 for n in per_fold), (label, per_fold)


def test_the_pooled_metrics_are_those_of_the_downloaded_predictions(cv_job, oof) -> None:
    classes = [name.removeprefix("probability_") for name in oof[0] if name.startswith("prob")]
    assert sorted(classes) == ["blue", "green", "red"]
    proba = np.array([[float(x[f"probability_{c}"]) for c in classes] for x in oof])
    truth = np.array([classes.index(x["target"]) for x in oof])
    assert [x["prediction"] for x in oof] == [classes[i] for i in np.argmax(proba, axis=1)]
    log_loss = -np.mean(np.log(np.clip(proba[np.arange(len(truth)), truth], 1e-15, 1)))
    accuracy = np.mean([x["prediction"] == x["target"] for x in oof])
    metrics = cv_job["cv_metrics"]
    assert metrics["val_loss"]["pooled"] == pytest.approx(log_loss, rel=1e-12)
    assert metrics["val_accuracy"]["pooled"] == pytest.approx(accuracy, abs=1e-12)
    for k in range(5):
        held = [x["prediction"] == x["target"] for x in oof if x["fold"] == str(k)]
        assert metrics["val_accuracy"]["folds"][k] == pytest.approx(np.mean(held), abs=1e-12)


def test_each_fold_fits_its_preprocessing_on_its_own_training_rows(
    cv_job, oof, classes_data
) -> None:
    """Every fold's predictions are those of a network trained, scaler included, on the rows
    outside the fold; a scaler that had seen the held-out rows (with the huge value among
    them) gives predictions far from those."""
    table = read_csv(classes_data)
    columns = {name: np.array([float(x[name]) for x in table]) for name in ("a", "b", "big")}
    y = np.array([x["label"] for x in table])
    training = {k: v for k, v in cv_job["training"].items() if k != "cross_validation"}
    outlier_fold = next(int(x["fold"]) for x in oof if int(x["row"]) == 6)
    service = np.array([[float(x[f"probability_{c}"]) for c in ("blue", "green", "red")]
                        for x in oof if x["fold"] == str(outlier_fold)])  # fmt: skip
    held = np.array([int(x["fold"]) == outlier_fold for x in oof])

    def fold_predictions(X: dict[str, np.ndarray], scaling: str) -> np.ndarray:
        model, _ = fit({n: c[~held] for n, c in X.items()}, y[~held], cv_job["network"],
                       {**training, "scaling": scaling}, task="classification")  # fmt: skip
        return model.predict_proba({n: c[held] for n, c in X.items()})

    np.testing.assert_allclose(service, fold_predictions(columns, "standardize"), atol=1e-9)
    leaked = {n: (c - c.mean()) / c.std() for n, c in columns.items()}  # all rows' statistics
    assert np.abs(service - fold_predictions(leaked, "none")).max() > 0.05
    assert math.isfinite(cv_job["cv_metrics"]["val_loss"]["pooled"])


def test_a_regression_is_cross_validated_in_the_targets_units(client) -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(-2, 2, size=60).round(3)
    noise = rng.normal(size=60).round(3)
    rows = (f"{a},{b},{round(3 * a + 10 + b, 4)}" for a, b in zip(x, noise, strict=True))
    lines = ["x,noise,y", *rows]
    dataset_id = upload(client, "\n".join(lines) + "\n")
    answer = submit(client, dataset_id, {"folds": 3})
    assert answer.status_code == 202, answer.text
    assert answer.json()["training"]["cross_validation"] == {"folds": 3, "stratified": False}
    job = wait_for_job(client, answer.json()["id"])
    assert job["status"] == "succeeded", job
    assert set(job["cv_metrics"]) == {"val_loss"}
    oof = read_csv(client.get(f"/v1/jobs/{job['id']}/cv-predictions").text)
    assert list(oof[0]) == ["row", "fold", "target", "prediction"]
    assert sorted(int(line["fold"]) for line in oof) == [0] * 20 + [1] * 20 + [2] * 20
    errors = [(float(line["prediction"]) - float(line["target"])) ** 2 for line in oof]
    assert job["cv_metrics"]["val_loss"]["pooled"] == pytest.approx(np.mean(errors), rel=1e-9)
