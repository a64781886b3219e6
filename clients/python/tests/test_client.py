"""The client against a real `neuronal serve` (embedded default), over real HTTP."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from neuronal_client import (
    ApiError,
    AuthenticationError,
    InvalidRequestError,
    NeuronalClient,
    NotFoundError,
    ServerUnreachable,
    UnsendableRequest,
)

from tests.stack import Stack, free_port

NETWORK = {"layers": [{"units": 16, "activation": "relu"}]}
TRAINING = {
    "epochs": 12,
    "batch_size": 16,
    "optimizer": {"name": "adam", "learning_rate": 0.01},
    "seed": 3,
    "validation_fraction": 0.2,
}


class DropFirst(httpx.BaseTransport):
    """A real transport that loses the answer to the first request matching `path` after the
    server has handled it (the connection drops on the way back), or never sends it."""

    def __init__(self, path: str, *, after_sending: bool = True, times: int = 1) -> None:
        self.inner = httpx.HTTPTransport()
        self.path, self.after_sending, self.left = path, after_sending, times
        self.dropped = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.left and request.url.path.endswith(self.path):
            self.left -= 1
            self.dropped += 1
            if not self.after_sending:
                raise httpx.ConnectError("connection refused (injected)", request=request)
            self.inner.handle_request(request).read()
            raise httpx.ReadError("connection reset (injected)", request=request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def client(server: Stack, key: str) -> Iterator[NeuronalClient]:
    with NeuronalClient(server.url, key, backoff=0.05) as c:
        yield c


@pytest.fixture(scope="module")
def dataset(client: NeuronalClient, iris_bytes: bytes) -> dict[str, Any]:
    return dict(client.upload_dataset(iris_bytes, name="iris", target="species"))


def test_upload_train_watch_predict_download(
    client: NeuronalClient, dataset: dict[str, Any]
) -> None:
    assert dataset["n_rows"] == 150 and dataset["target"]["name"] == "species"
    assert client.get_dataset(dataset["id"])["sha256"] == dataset["sha256"]
    assert dataset["id"] in [d["id"] for d in client.iter_datasets(page_size=1)]

    job = client.create_job(dataset["id"], NETWORK, TRAINING)
    assert job["status"] in ("queued", "running")
    seen: list[dict[str, Any]] = []
    final = client.wait_for_job(job["id"], on_progress=seen.append, timeout=120)
    assert final["status"] == "succeeded", final
    assert [row["epoch"] for row in seen] == list(range(1, 13))
    assert all(row["epochs"] == 12 and "train_loss" in row for row in seen)
    assert seen[-1]["fraction"] == 1.0
    assert len(client.get_metrics(job["id"])) == 12
    assert job["id"] in [j["id"] for j in client.list_jobs(status="succeeded", limit=500)["items"]]

    model_id = final["model_id"]
    assert model_id and client.get_model(model_id)["job_id"] == job["id"]
    assert model_id in [m["id"] for m in client.iter_models()]
    answer = client.predict(model_id, inputs=[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
    assert answer["predictions"] == ["setosa", "virginica"]
    assert np.allclose(np.sum(answer["probabilities"], axis=1), 1.0, atol=1e-5)
    record = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    by_record = client.predict(model_id, records=[record])
    assert by_record["predictions"] == ["setosa"]

    with np.load(io.BytesIO(client.download_weights(model_id)), allow_pickle=False) as npz:
        assert len(npz.files) >= 4

    assert client.health() == {"status": "ok"}
    assert client.ready()["status"] == "ready"


def test_typed_errors_carry_the_problem(
    server: Stack, client: NeuronalClient, dataset: dict[str, Any]
) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.get_job("job_does_not_exist")
    assert missing.value.status == 404 and missing.value.problem["status"] == 404
    assert "job_does_not_exist" in missing.value.detail and missing.value.request_id

    bad = {"layers": [{"units": 0, "activation": "relu"}]}
    with pytest.raises(InvalidRequestError) as invalid:
        client.create_job(dataset["id"], bad, TRAINING)
    assert invalid.value.status == 422
    assert invalid.value.problem["type"].endswith("invalid-input")
    assert invalid.value.errors and "units" in invalid.value.detail

    for key in (None, "nrl_key_not_a_real_key"):
        with (
            NeuronalClient(server.url, key) as anonymous,
            pytest.raises(AuthenticationError) as denied,
        ):
            anonymous.list_datasets()
        assert denied.value.status == 401 and isinstance(denied.value, ApiError)


def test_a_retried_submission_never_creates_a_second_job(server: Stack, iris_bytes: bytes) -> None:
    key = server.create_key("client-retry")
    transport = DropFirst("/v1/jobs")
    with NeuronalClient(server.url, key, backoff=0.05, transport=transport) as client:
        dataset = client.upload_dataset(iris_bytes, filename="iris.csv")
        job = client.create_job(dataset["id"], NETWORK, {**TRAINING, "epochs": 2})
        assert transport.dropped == 1  # the first answer was lost after the server acted
        jobs = client.list_jobs()["items"]
        assert [j["id"] for j in jobs] == [job["id"]]
        again = client.create_job(
            dataset["id"], NETWORK, {**TRAINING, "epochs": 2}, idempotency_key="same-key"
        )
        assert (
            client.create_job(
                dataset["id"], NETWORK, {**TRAINING, "epochs": 2}, idempotency_key="same-key"
            )["id"]
            == again["id"]
        )
        client.wait_for_job(job["id"], timeout=120)
        client.wait_for_job(again["id"], timeout=120)


def test_waiting_falls_back_to_polling_and_still_reports_every_epoch(
    server: Stack, key: str, dataset: dict[str, Any]
) -> None:
    transport = DropFirst("/events", after_sending=False, times=100)
    with NeuronalClient(server.url, key, retries=0, transport=transport) as client:
        job = client.create_job(dataset["id"], NETWORK, {**TRAINING, "epochs": 5})
        seen: list[int] = []
        final = client.wait_for_job(
            job["id"], on_progress=lambda row: seen.append(row["epoch"]), poll_interval=0.1
        )
    assert transport.dropped >= 1
    assert final["status"] == "succeeded" and seen == [1, 2, 3, 4, 5]


def test_wait_times_out_and_cancel_stops_the_job(
    client: NeuronalClient, dataset: dict[str, Any]
) -> None:
    long = {**TRAINING, "epochs": 5000, "batch_size": 1}
    job = client.create_job(dataset["id"], NETWORK, long)
    with pytest.raises(TimeoutError):
        client.wait_for_job(job["id"], timeout=0.5)
    assert client.cancel_job(job["id"])["id"] == job["id"]
    assert client.wait_for_job(job["id"], timeout=60)["status"] == "cancelled"


def test_an_upload_is_resent_only_if_it_never_left(server: Stack, iris_bytes: bytes) -> None:
    key = server.create_key("client-upload-retry")
    never_sent = DropFirst("/v1/datasets", after_sending=False)
    with NeuronalClient(server.url, key, backoff=0.05, transport=never_sent) as client:
        dataset = client.upload_dataset(iris_bytes, filename="iris.csv")
        assert never_sent.dropped == 1
        assert [d["id"] for d in client.list_datasets()["items"]] == [dataset["id"]]

    lost_answer = DropFirst("/v1/datasets")
    with NeuronalClient(server.url, key, backoff=0.05, transport=lost_answer) as client:
        with pytest.raises(ServerUnreachable) as lost:
            client.upload_dataset(iris_bytes, filename="iris.csv")
        assert lost.value.status == 0 and isinstance(lost.value.__cause__, httpx.ReadError)
        assert len(client.list_datasets()["items"]) == 2  # the server stored it once


def test_a_server_that_is_not_there_is_one_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        NeuronalClient(url, "k", retries=1, backoff=0.01) as client,
        pytest.raises(ServerUnreachable) as down,
    ):
        client.list_jobs()
    assert down.value.status == 0 and f"cannot reach the server at {url}" in str(down.value)
    assert isinstance(down.value.__cause__, httpx.ConnectError)
    with NeuronalClient(url, "k") as client, pytest.raises(UnsendableRequest) as unsendable:
        client.get_job("job_\x01")
    assert unsendable.value.status == 0 and isinstance(unsendable.value, ValueError)
    for address in ("localhost:8000", "http://", "ftp://example.org"):
        with pytest.raises(ValueError, match="http:// or https://"):
            NeuronalClient(address)


def test_describe_names_each_field_the_detail_leaves_out(
    client: NeuronalClient, dataset: dict[str, Any]
) -> None:
    not_a_network: Any = [16]
    with pytest.raises(InvalidRequestError) as invalid:
        client.create_job(dataset["id"], not_a_network, TRAINING, task="clasification")
    detail, *more = invalid.value.describe().splitlines()
    assert detail == invalid.value.detail and "body.task" in detail
    assert more == ["  body.network: Input should be a valid dictionary"]


def test_a_warm_start_job_continues_and_fine_tunes(
    client: NeuronalClient, dataset: dict[str, Any]
) -> None:
    source = client.create_job(dataset["id"], NETWORK, {**TRAINING, "epochs": 2})
    source = client.wait_for_job(source["id"], timeout=120)
    model_id = source["model_id"]
    assert model_id
    more = client.create_warm_start_job(model_id, "continue", {"epochs": 2})
    assert more["init_from"] == {"model_id": model_id, "mode": "continue"}
    more = client.wait_for_job(more["id"], timeout=120)
    assert more["status"] == "succeeded" and more["dataset_id"] == dataset["id"]
    assert more["model_id"] and client.get_model(more["model_id"])["parent_model_id"] == model_id
    with pytest.raises(InvalidRequestError) as refused:
        client.create_warm_start_job(model_id, "continue", {"epochs": 1, "l2": 0.5})
    assert "training.l2" in refused.value.detail
    tuned = client.create_warm_start_job(
        model_id, "fine_tune", {"epochs": 1}, dataset_id=dataset["id"], network=NETWORK
    )
    assert client.wait_for_job(tuned["id"], timeout=120)["status"] == "succeeded"
