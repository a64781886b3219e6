"""Every rule that depends on the dataset is checked by POST /v1/jobs over real HTTP: an
impossible job is a 422 naming the field to change, never a 202 that fails in the worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from service.domain.job_rules import validation_rows
from service.engine.batches import split_rows
from tests.stack import Stack, wait_for_job


@pytest.fixture(scope="module")
def client(embedded_stack: Stack) -> Iterator[httpx.Client]:
    with embedded_stack.client(embedded_stack.create_key("rules")) as client:
        yield client


def upload(client: httpx.Client, text: str) -> str:
    answer = client.post("/v1/datasets", files={"file": ("data.csv", text.encode(), "text/csv")})
    assert answer.status_code == 201, answer.text
    dataset_id: str = answer.json()["id"]
    return dataset_id


def two_classes(rows: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    lines = ["a,b,label"]
    for _ in range(rows):
        a, b = rng.normal(size=2).round(3)
        lines.append(f"{a},{b},{'yes' if a + b > 0 else 'no'}")
    return "\n".join(lines) + "\n"


def submit(client: httpx.Client, dataset_id: str, **training: Any) -> httpx.Response:
    body = {
        "dataset_id": dataset_id,
        "network": {"layers": [{"units": 4, "activation": "tanh"}]},
        "training": {"epochs": 2, **training},
    }
    return client.post("/v1/jobs", json=body)


def refused(answer: httpx.Response, field: str, *words: str) -> str:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert [e["loc"] for e in problem["errors"]] == [field.split(".")], problem
    for word in words:
        assert word in problem["detail"], problem["detail"]
    detail: str = problem["detail"]
    return detail


def test_a_batch_larger_than_the_rows_is_refused(client: httpx.Client) -> None:
    dataset_id = upload(client, two_classes(200))
    refused(submit(client, dataset_id, batch_size=1_000_000_000), "training.batch_size", "200")


def test_a_batch_larger_than_the_training_rows_is_refused(client: httpx.Client) -> None:
    dataset_id = upload(client, two_classes(200))
    answer = submit(client, dataset_id, batch_size=190, validation_fraction=0.1)
    detail = refused(answer, "training.batch_size", "180 training rows", '"full"')
    assert "20 held out" in detail
    assert submit(client, dataset_id, batch_size=180, validation_fraction=0.1).status_code == 202
    assert submit(client, dataset_id, batch_size="full").status_code == 202


def test_the_default_batch_fits_a_small_dataset(client: httpx.Client) -> None:
    # 20 rows: the default batch of 32 used to be stored and then refused by the worker
    dataset_id = upload(client, two_classes(20, seed=3))
    answer = submit(client, dataset_id)
    assert answer.status_code == 202, answer.text
    job = wait_for_job(client, answer.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["training"]["batch_size"] <= 20


def test_a_class_held_out_entirely_is_refused(client: httpx.Client) -> None:
    lone = two_classes(60) + "0.5,0.5,rare\n"  # one row of class "rare"
    dataset_id = upload(client, lone)
    answer = submit(client, dataset_id, validation_fraction=0.6)
    refused(answer, "training.validation_fraction", "'rare'", "only 1 row", "0.5")
    assert submit(client, dataset_id, validation_fraction=0.4).status_code == 202


def test_one_row_leaves_nothing_to_validate_on(client: httpx.Client) -> None:
    dataset_id = upload(client, "x,y\n1.0,2.5\n")
    refused(submit(client, dataset_id), "training.validation_fraction", "validation_fraction 0")
    answer = submit(client, dataset_id, validation_fraction=0, batch_size=1)
    assert answer.status_code == 202, answer.text


def categories(n: int) -> str:
    lines = ["colour,x,label"] + [f"c{i},{i % 7},{'ab'[i % 2]}" for i in range(n)]
    return "\n".join(lines) + "\n"


def test_too_many_categories_are_refused(client: httpx.Client) -> None:
    dataset_id = upload(client, categories(1001))
    refused(submit(client, dataset_id), "dataset_id", "'colour'", "1,001 distinct", "group")


def test_parameters_count_the_one_hot_inputs(client: httpx.Client) -> None:
    # 1000 categories become 1000 inputs: with two layers of 4096 units that is over the
    # 20,000,000-parameter limit, though the file has only two feature columns
    dataset_id = upload(client, categories(1000))
    body = {
        "dataset_id": dataset_id,
        "network": {"layers": [{"units": 4096}, {"units": 4096}]},
        "training": {"epochs": 1},
    }
    refused(client.post("/v1/jobs", json=body), "network.layers", "parameters")


def test_a_text_target_cannot_be_regressed_on(client: httpx.Client) -> None:
    dataset_id = upload(client, two_classes(50))
    body = {"dataset_id": dataset_id, "task": "regression", "network": {}, "training": {}}
    answer = client.post("/v1/jobs", json=body)
    refused(answer, "task", "holds text")


def test_softmax_on_a_regression_target_is_refused(client: httpx.Client) -> None:
    dataset_id = upload(client, "x,y\n" + "".join(f"{i},{i * 0.37:.2f}\n" for i in range(80)))
    body = {"dataset_id": dataset_id, "network": {"output_activation": "softmax"}, "training": {}}
    refused(client.post("/v1/jobs", json=body), "network.output_activation", "regression")


@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.1, 0.25, 0.5, 0.6, 0.9])
@pytest.mark.parametrize("counts", [[200], [3, 5, 90], [1, 1], [1, 7], [2, 2, 2], [50, 1]])
def test_validation_rows_match_the_engine_split(fraction: float, counts: list[int]) -> None:
    labels = np.repeat(np.arange(len(counts)), counts)
    _, held = split_rows(np.random.default_rng(0), len(labels), fraction, labels)
    assert validation_rows(len(labels), fraction, counts) == len(held)
