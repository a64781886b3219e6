"""The client's registry methods against a real server: register, aliases with If-Match,
history, predict by alias or version, and the typed errors of each refusal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from neuronal_client import (
    ConflictError,
    InvalidRequestError,
    NeuronalClient,
    NotFoundError,
    PreconditionFailedError,
)

from tests.stack import Stack

NETWORK = {"layers": [{"units": 8, "activation": "tanh"}]}
TRAINING = {"epochs": 5, "batch_size": 32, "optimizer": {"name": "adam", "learning_rate": 0.05}}
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


@pytest.fixture(scope="module")
def client(server: Stack) -> Iterator[NeuronalClient]:
    with NeuronalClient(server.url, server.create_key("client-registry")) as c:
        yield c


@pytest.fixture(scope="module")
def jobs(client: NeuronalClient, iris_bytes: bytes) -> list[dict[str, Any]]:
    dataset = client.upload_dataset(iris_bytes, target="species")
    finished = []
    for seed in (0, 1):
        job = client.create_job(dataset["id"], NETWORK, {**TRAINING, "seed": seed})
        finished.append(dict(client.wait_for_job(job["id"], timeout=120)))
    assert all(job["status"] == "succeeded" for job in finished), finished
    return finished


def test_register_alias_predict_and_history(
    client: NeuronalClient, jobs: list[dict[str, Any]]
) -> None:
    first, second = (job["model_id"] for job in jobs)
    v1 = client.register_model(first, "sdk-iris", alias="production")  # creates the name
    assert (v1["version"], v1["aliases"]) == (1, ["production"])
    v2 = client.register_job(jobs[1]["id"], "sdk-iris")
    assert v2["version"] == 2 and v2["model_id"] == second
    assert client.get_registered_model("sdk-iris")["aliases"] == {"production": 1}
    assert [v["version"] for v in client.list_model_versions("sdk-iris")["items"]] == [2, 1]
    assert client.get_model_version("sdk-iris", 1)["model_id"] == first
    assert "sdk-iris" in [m["name"] for m in client.iter_registered_models(page_size=1)]

    by_alias = client.predict_registered("sdk-iris", alias="production", inputs=ROWS)
    assert (by_alias["version"], by_alias["alias"], by_alias["model_id"]) == (
        1,
        "production",
        first,
    )
    assert by_alias["predictions"] == client.predict(first, inputs=ROWS)["predictions"]
    with pytest.raises(PreconditionFailedError) as stale:
        client.set_alias("sdk-iris", "production", 2, if_match=2)
    assert stale.value.status == 412 and "version 1" in stale.value.detail
    moved = client.set_alias("sdk-iris", "production", 2, if_match=1)
    assert moved["version"] == 2 and client.get_alias("sdk-iris", "production")["version"] == 2
    by_version = client.predict_registered("sdk-iris", version=2, inputs=ROWS)
    assert by_version["model_id"] == second and by_version["alias"] is None
    history = list(client.alias_history("sdk-iris", "production"))
    assert [(h["version"], h["previous_version"]) for h in history] == [(2, 1), (1, None)]
    client.delete_alias("sdk-iris", "production", if_match=2)
    with pytest.raises(NotFoundError):
        client.get_alias("sdk-iris", "production")
    with pytest.raises(ValueError, match="exactly one"):
        client.predict_registered("sdk-iris", inputs=ROWS)


def test_refusals_are_typed(client: NeuronalClient, jobs: list[dict[str, Any]]) -> None:
    model_id = jobs[0]["model_id"]
    client.register_model(model_id, "sdk-kept")
    with pytest.raises(ConflictError, match="version 1 of 'sdk-kept'"):
        client.delete_model(model_id)
    with pytest.raises(ConflictError, match="already have"):
        client.create_registered_model("sdk-kept")
    with pytest.raises(NotFoundError):
        client.register_model(model_id, "sdk-never", create=False)
    with pytest.raises(InvalidRequestError, match="not an alias"):
        client.set_alias("sdk-kept", "123", 1)
    client.delete_registered_model("sdk-kept")
    with pytest.raises(NotFoundError):
        client.get_registered_model("sdk-kept")
