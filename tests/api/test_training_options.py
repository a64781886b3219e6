"""Dropout and class weights over real HTTP: refused at submission with a 422 naming the field,
or trained by a real worker into a model whose predictions are deterministic."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.test_recurrent import upload_series
from tests.api.test_submission_rules import two_classes, upload
from tests.sequence_data import series_csv
from tests.stack import Stack, wait_for_job

DENSE = {"layers": [{"units": 4, "activation": "tanh"}]}


@pytest.fixture(scope="module")
def client(embedded_stack: Stack) -> Iterator[httpx.Client]:
    with embedded_stack.client(embedded_stack.create_key("training-options")) as client:
        yield client


@pytest.fixture(scope="module")
def classes_id(client: httpx.Client) -> str:
    return upload(client, two_classes(120))


def submit(client: httpx.Client, dataset_id: str, network: dict, **training: Any):
    body = {"dataset_id": dataset_id, "network": network, "training": {"epochs": 2, **training}}
    return client.post("/v1/jobs", json=body)


def refused(answer: httpx.Response, loc: list[str | int], *words: str) -> None:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert [e["loc"] for e in problem["errors"]] == [loc], problem
    for word in words:
        assert word in problem["detail"], problem["detail"]


@pytest.mark.parametrize("rate", [1, 1.5, -0.1, "0.2"])
def test_a_dense_rate_outside_0_to_1_is_refused(client, classes_id, rate) -> None:
    network = {"layers": [{"units": 4}, {"units": 3, "dropout": rate}]}
    answer = submit(client, classes_id, network)
    refused(answer, ["network", "layers", 1, "dropout"], "network.layers[1].dropout", repr(rate))


def test_an_input_rate_outside_0_to_1_is_refused(client, classes_id) -> None:
    answer = submit(client, classes_id, {**DENSE, "input_dropout": 1.0})
    refused(answer, ["network", "input_dropout"], "network.input_dropout", "from 0 up to")


def test_a_label_that_is_not_a_class_is_refused(client, classes_id) -> None:
    answer = submit(client, classes_id, DENSE, class_weight={"yes": 2, "maybe": 3})
    refused(answer, ["training", "class_weight", "maybe"], "'maybe'", "'no', 'yes'")


@pytest.mark.parametrize("weight", [0, -2, "heavy"])
def test_a_weight_that_is_not_positive_is_refused(client, classes_id, weight) -> None:
    answer = submit(client, classes_id, DENSE, class_weight={"yes": weight})
    refused(answer, ["training", "class_weight"], "'yes'", "positive")


def test_class_weights_on_a_regression_are_refused(client) -> None:
    dataset_id = upload(client, "x,y\n" + "".join(f"{i},{i * 0.37:.2f}\n" for i in range(80)))
    answer = submit(client, dataset_id, DENSE, class_weight="balanced")
    refused(answer, ["training", "class_weight"], "classification", "regression")


def test_class_weights_on_a_forecast_are_refused_and_recurrent_rates_checked(client) -> None:
    dataset = upload_series(client, series_csv())
    window = {"window": 6, "horizon": 1}
    lstm = {"layers": [{"type": "lstm", "units": 4}]}
    answer = submit(client, dataset["id"], lstm, sequence=window, class_weight={"1": 2.0})
    refused(answer, ["training", "class_weight"], "forecast")
    dropped = {"layers": [{"type": "lstm", "units": 4, "dropout": 1}]}
    answer = submit(client, dataset["id"], dropped, sequence=window)
    refused(answer, ["network", "layers", 0, "dropout"], "network.layers[0].dropout")
    dropped["layers"][0]["dropout"] = 0.2
    answer = submit(client, dataset["id"], dropped, sequence=window, epochs=1)
    assert answer.status_code == 202, answer.text
    assert wait_for_job(client, answer.json()["id"])["status"] == "succeeded"


def test_numeric_labels_are_named_by_their_text(client) -> None:
    text = two_classes(80).replace(",yes\n", ",1\n").replace(",no\n", ",0\n")
    dataset_id = upload(client, text)
    assert submit(client, dataset_id, DENSE, class_weight={"1": 4}).status_code == 202
    answer = submit(client, dataset_id, DENSE, class_weight={"2": 4})
    refused(answer, ["training", "class_weight", "2"], "'2'", "0, 1")


def test_a_job_with_dropout_and_class_weights_trains_and_predicts_deterministically(
    client, classes_id
) -> None:
    network = {"layers": [{"units": 8, "activation": "tanh", "dropout": 0.3}], "input_dropout": 0.1}
    answer = submit(client, classes_id, network, epochs=5, class_weight="balanced")
    assert answer.status_code == 202, answer.text
    created = answer.json()
    assert created["network"]["layers"][0]["dropout"] == 0.3
    assert created["network"]["input_dropout"] == 0.1
    assert created["training"]["class_weight"] == "balanced"
    job = wait_for_job(client, created["id"])
    assert job["status"] == "succeeded", job
    rows = {"records": [{"a": 0.3, "b": -0.1}, {"a": 0.3, "b": -0.1}, {"a": -1.2, "b": 0.4}]}
    first = client.post(f"/v1/models/{job['model_id']}/predict", json=rows)
    second = client.post(f"/v1/models/{job['model_id']}/predict", json=rows)
    assert first.status_code == 200, first.text
    assert first.json() == second.json()
    probabilities = first.json()["probabilities"]
    assert probabilities[0] == probabilities[1]
