"""Warm starts over real HTTP on real workers: a continued job ends with the weights of one
longer job (dense and recurrent, on both configurations), fine-tune trains from the source's
weights, the model records its parent, and every mismatch is a 422 at submission."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from tests.api.test_submission_rules import two_classes, upload
from tests.sequence_data import sequences_npz
from tests.stack import Stack, wait_for_job

DENSE = {"layers": [{"units": 6, "activation": "tanh"}]}
TRAINING = {
    "batch_size": 16,
    "optimizer": {"name": "adam", "learning_rate": 0.01},
    "schedule": {"name": "step", "step_size": 2, "gamma": 0.5},
    "early_stopping": {"patience": 50},
    "seed": 3,
}


def train(client: httpx.Client, **body: Any) -> dict[str, Any]:
    """Submit a job and wait for it to succeed; its answer."""
    answer = client.post("/v1/jobs", json=body)
    assert answer.status_code == 202, answer.text
    job = wait_for_job(client, answer.json()["id"])
    assert job["status"] == "succeeded", job
    return job


def weights(client: httpx.Client, model_id: str) -> dict[str, np.ndarray]:
    answer = client.get(f"/v1/models/{model_id}/weights")
    assert answer.status_code == 200, answer.text
    with np.load(io.BytesIO(answer.content), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files if name != "__meta__"}


def assert_same_weights(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys() and "W0" in a
    for name in a:
        assert np.array_equal(a[name], b[name]), name


def refused(answer: httpx.Response, loc: list[str | int], *words: str) -> dict[str, Any]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = answer.json()
    assert [e["loc"] for e in problem["errors"]] == [loc], problem
    for word in words:
        assert word in problem["detail"], problem["detail"]
    return problem


def shifted_classes(rows: int, seed: int, shift: float) -> str:
    """Like `two_classes`, with both features moved by `shift` (and the boundary with them)."""
    rng = np.random.default_rng(seed)
    lines = ["a,b,label"]
    for _ in range(rows):
        a, b = (rng.normal(size=2) + shift).round(3)
        lines.append(f"{a},{b},{'yes' if a + b > 2 * shift else 'no'}")
    return "\n".join(lines) + "\n"


def upload_npz(client: httpx.Client, data: bytes) -> str:
    answer = client.post("/v1/datasets", files={"file": ("seq.npz", data, "application/npz")})
    assert answer.status_code == 201, answer.text
    dataset_id: str = answer.json()["id"]
    return dataset_id


def continue_matches_one_longer_job(client, dataset_id, network, training) -> None:
    straight = train(client, dataset_id=dataset_id, network=network,
                     training={**training, "epochs": 5})  # fmt: skip
    source = train(client, dataset_id=dataset_id, network=network,
                   training={**training, "epochs": 2})  # fmt: skip
    # only the epochs to add: the data set, network and the rest of training are the source's
    more = train(client, init_from={"model_id": source["model_id"]}, mode="continue",
                 training={"epochs": 3})  # fmt: skip
    assert more["init_from"] == {"model_id": source["model_id"], "mode": "continue"}
    assert more["dataset_id"] == dataset_id and more["progress"]["epochs"] == 3
    assert_same_weights(weights(client, straight["model_id"]), weights(client, more["model_id"]))
    rows = client.get(f"/v1/jobs/{more['id']}/metrics").json()["items"]
    whole = client.get(f"/v1/jobs/{straight['id']}/metrics").json()["items"]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert [r["train_loss"] for r in rows] == [r["train_loss"] for r in whole[2:]]
    model = client.get(f"/v1/models/{more['model_id']}").json()
    assert model["parent_model_id"] == source["model_id"]
    assert client.get(f"/v1/models/{source['model_id']}").json()["parent_model_id"] is None


def test_a_continued_dense_job_ends_with_the_weights_of_one_longer_job(stack: Stack) -> None:
    with stack.client(stack.create_key(f"warm-dense-{id(stack)}")) as client:
        dataset_id = upload(client, two_classes(150, seed=4))
        continue_matches_one_longer_job(client, dataset_id, DENSE, TRAINING)


def test_a_continued_recurrent_job_ends_with_the_weights_of_one_longer_job(stack: Stack) -> None:
    with stack.client(stack.create_key(f"warm-lstm-{id(stack)}")) as client:
        dataset_id = upload_npz(client, sequences_npz(n=80, T=6, seed=2)[0])
        network = {"layers": [{"type": "lstm", "units": 4}, {"units": 3}]}
        training = {**TRAINING, "bptt_steps": 3, "clip_norm": 1.0}
        continue_matches_one_longer_job(client, dataset_id, network, training)


def test_fine_tune_on_shifted_data_starts_from_the_source_weights(stack: Stack) -> None:
    with stack.client(stack.create_key(f"warm-fine-{id(stack)}")) as client:
        source_data = upload(client, two_classes(200, seed=5))
        shifted_id = upload(client, shifted_classes(40, seed=6, shift=0.5))
        source = train(client, dataset_id=source_data, network=DENSE,
                       training={**TRAINING, "epochs": 20})  # fmt: skip
        tuned = train(
            client,
            dataset_id=shifted_id,
            init_from={"model_id": source["model_id"], "mode": "fine_tune"},
            training={"epochs": 2, "optimizer": {"name": "sgd", "learning_rate": 0.01}},
        )
        assert tuned["network"]["layers"][0]["units"] == 6  # the source's network
        assert tuned["training"]["optimizer"]["name"] == "sgd"  # a fresh optimizer
        model = client.get(f"/v1/models/{tuned['model_id']}").json()
        assert model["parent_model_id"] == source["model_id"]
        assert model["dataset_id"] == shifted_id
        before, after = weights(client, source["model_id"]), weights(client, tuned["model_id"])
        # the source's preprocessing is kept; the weights moved a little from the source's
        for name in ("mean", "scale", "offset"):
            assert np.array_equal(before[name], after[name])
        assert not np.array_equal(before["W0"], after["W0"])
        assert np.abs(before["W0"] - after["W0"]).max() < 0.5


# ---- refusals at submission (one configuration is enough: no worker is involved) ----------


@pytest.fixture(scope="module")
def client(embedded_stack: Stack) -> Iterator[httpx.Client]:
    with embedded_stack.client(embedded_stack.create_key("warm-refusals")) as client:
        yield client


@pytest.fixture(scope="module")
def source(client: httpx.Client) -> dict[str, Any]:
    dataset_id = upload(client, two_classes(60, seed=1))
    job = train(client, dataset_id=dataset_id, network={"layers": [{"units": 4}, {"units": 3}]},
                training={"epochs": 2})  # fmt: skip
    return job


def warm(client: httpx.Client, source: dict[str, Any], mode: str, **body: Any) -> httpx.Response:
    body.setdefault("training", {"epochs": 2})
    return client.post(
        "/v1/jobs", json={"init_from": {"model_id": source["model_id"]}, "mode": mode, **body}
    )


def test_a_model_that_is_not_yours_or_missing_is_refused(client, embedded_stack, source) -> None:
    with embedded_stack.client(embedded_stack.create_key("warm-other")) as other:
        answer = warm(other, source, "continue")
    refused(answer, ["body", "init_from", "model_id"], source["model_id"])
    nope = {"init_from": {"model_id": "mdl_nope"}, "mode": "fine_tune"}
    answer = client.post("/v1/jobs", json={**nope, "training": {"epochs": 1}})
    refused(answer, ["body", "init_from", "model_id"], "mdl_nope")


def test_mode_is_required_and_belongs_to_init_from(client, source) -> None:
    answer = client.post("/v1/jobs", json={"init_from": {"model_id": source["model_id"]},
                                           "training": {"epochs": 1}})  # fmt: skip
    refused(answer, ["body", "mode"], "continue", "fine_tune")
    plain = {"dataset_id": source["dataset_id"], "network": DENSE, "training": {"epochs": 1}}
    answer = client.post("/v1/jobs", json={**plain, "mode": "continue"})
    refused(answer, ["body", "mode"], "init_from")
    answer = warm(client, source, "continue", training={"batch_size": 4})
    refused(answer, ["body", "training", "epochs"], "epochs to train")


def test_continue_with_another_optimizer_or_network_is_refused(client, source) -> None:
    answer = warm(client, source, "continue", training={"epochs": 2, "optimizer": {"name": "sgd"}})
    refused(answer, ["body", "training", "optimizer"], "training.optimizer", "fine_tune")
    network = {"layers": [{"units": 4, "dropout": 0.2}, {"units": 3}]}
    refused(warm(client, source, "continue", network=network), ["body", "network", "layers"])


def test_continue_on_other_data_is_refused(client, source) -> None:
    other = upload(client, two_classes(60, seed=9))
    answer = warm(client, source, "continue", dataset_id=other)
    refused(answer, ["body", "dataset_id"], source["dataset_id"], "fine_tune")


def test_a_layer_of_another_size_is_refused(client, source) -> None:
    network = {"layers": [{"units": 4}, {"units": 5}]}
    answer = warm(client, source, "fine_tune", network=network)
    refused(answer, ["body", "network", "layers", 1, "units"],
            "network.layers[1] has 5 units; the source model's has 3")  # fmt: skip
    answer = warm(client, source, "fine_tune", network={"layers": [{"units": 4}]})
    refused(answer, ["body", "network", "layers"], "1 hidden layers", "has 2")
    sigmoid = {"layers": [{"units": 4}, {"units": 3}], "output_activation": "sigmoid"}
    answer = warm(client, source, "fine_tune", network=sigmoid)
    refused(answer, ["body", "network", "output_activation"], "1 units", "2")


def test_a_missing_or_extra_feature_is_refused(client, source) -> None:
    missing = upload(client, "a,label\n" + "".join(f"{i},{'yes' if i % 2 else 'no'}\n"
                                                   for i in range(20)))  # fmt: skip
    answer = warm(client, source, "fine_tune", dataset_id=missing)
    refused(answer, ["body", "dataset_id"], "Feature 'b' is missing from dataset", missing)
    extra = upload(client, "a,b,c,label\n" + "".join(f"{i},1,2,{'yes' if i % 2 else 'no'}\n"
                                                      for i in range(20)))  # fmt: skip
    answer = warm(client, source, "fine_tune", dataset_id=extra)
    refused(answer, ["body", "dataset_id"], "Feature 'c'", "not a feature of the source")
    text = upload(client, "a,b,label\n" + "".join(f"{i},t{i % 3},{'yes' if i % 2 else 'no'}\n"
                                                  for i in range(20)))  # fmt: skip
    answer = warm(client, source, "fine_tune", dataset_id=text)
    refused(answer, ["body", "dataset_id"], "Feature 'b' is categorical", "numeric")


def test_other_classes_are_refused(client, source) -> None:
    three = upload(client, "a,b,label\n" + "".join(f"{i},{-i},{['yes', 'no', 'maybe'][i % 3]}\n"
                                                   for i in range(30)))  # fmt: skip
    answer = warm(client, source, "fine_tune", dataset_id=three)
    refused(answer, ["body", "dataset_id"], "class 'maybe'")
    numbers = upload(client, "a,b,label\n" + "".join(f"{i},{-i},{i * 0.37}\n" for i in range(30)))
    answer = warm(client, source, "fine_tune", dataset_id=numbers, task="regression")
    refused(answer, ["body", "task"], "classification model")


def test_new_categories_are_refused(client) -> None:
    rows = "".join(f"{i},{['red', 'green'][i % 2]},{'yes' if i % 3 else 'no'}\n"
                   for i in range(30))  # fmt: skip
    first = upload(client, "a,colour,label\n" + rows)
    source = train(client, dataset_id=first, network=DENSE, training={"epochs": 1})
    second = upload(client, "a,colour,label\n" + rows + "31,blue,yes\n")
    answer = warm(client, source, "fine_tune", dataset_id=second)
    refused(answer, ["body", "dataset_id"], "'colour'", "'blue'", "never saw")


def colours(extra: list[str]) -> str:
    """Twelve colours ten rows each, then one row of each of `extra`: a data set's summary
    lists only its ten most frequent categories, so the extra ones are not in it."""
    rows = [f"{i},c{i % 12:02d},{'yes' if i % 3 else 'no'}" for i in range(120)]
    rows += [f"{i},{colour},yes" for i, colour in enumerate(extra)]
    return "a,colour,label\n" + "\n".join(rows) + "\n"


def test_categories_beyond_the_most_frequent_are_compared(client) -> None:
    source = train(client, dataset_id=upload(client, colours([])), network=DENSE,
                   training={"epochs": 1})  # fmt: skip
    # as many categories as the source knows, one of them new and rare
    swapped = upload(client, colours([]).replace(",c11,", ",c10,") + "999,zz,yes\n")
    answer = warm(client, source, "fine_tune", dataset_id=swapped)
    refused(answer, ["body", "dataset_id"], "'colour'", "1 category", "'zz'", "never saw")
    eight = upload(client, colours([f"new{k}" for k in range(8)]))
    answer = warm(client, source, "fine_tune", dataset_id=eight)
    problem = refused(answer, ["body", "dataset_id"], "'colour'", "8 categories", "'new0'",
                      "'new4'", "and 3 more")  # fmt: skip
    assert "'new5'" not in problem["detail"]  # named in part: the comparison took all eight
    same = upload(client, colours(["c00"]))
    assert warm(client, source, "fine_tune", dataset_id=same).status_code == 202


def registered(client: httpx.Client, name: str, model_id: str, alias: str) -> None:
    assert client.post("/v1/registered-models", json={"name": name}).status_code == 201
    answer = client.post(f"/v1/registered-models/{name}/versions", json={"model_id": model_id})
    assert answer.status_code == 201, answer.text
    answer = client.put(f"/v1/registered-models/{name}/aliases/{alias}", json={"version": 1})
    assert answer.status_code == 200, answer.text


def by_name(client: httpx.Client, **init_from: Any) -> httpx.Response:
    body = {"init_from": init_from, "mode": "fine_tune", "training": {"epochs": 1}}
    return client.post("/v1/jobs", json=body)


def test_a_registered_models_alias_or_version_names_the_source(client, source) -> None:
    registered(client, "warm-source", source["model_id"], "prod")
    job = by_name(client, registered_model="warm-source", alias="prod")
    assert job.status_code == 202, job.text
    assert job.json()["init_from"] == {"registered_model": "warm-source", "alias": "prod",
                                       "version": 1, "model_id": source["model_id"],
                                       "mode": "fine_tune"}  # fmt: skip
    job = by_name(client, registered_model="warm-source", version=1)
    assert job.status_code == 202, job.text
    assert job.json()["init_from"]["model_id"] == source["model_id"]


def test_a_registered_model_that_does_not_resolve_is_refused(client, embedded_stack, source):
    registered(client, "warm-named", source["model_id"], "prod")
    at = ["body", "init_from"]
    refused(by_name(client, registered_model="warm-named", alias="staging"), [*at, "alias"],
            "staging")  # fmt: skip
    refused(by_name(client, registered_model="warm-named", version=7), [*at, "version"], "7")
    refused(by_name(client, registered_model="warm-nothing", alias="prod"), [*at, "alias"],
            "warm-nothing")  # fmt: skip
    refused(by_name(client, registered_model="warm-named"), [*at, "alias"], "alias", "version")
    refused(by_name(client, registered_model="warm-named", alias="prod", version=1),
            [*at, "alias"], "one of them")  # fmt: skip
    refused(by_name(client, registered_model="warm-named", model_id=source["model_id"],
                    alias="prod"), [*at, "model_id"], "once")  # fmt: skip
    with embedded_stack.client(embedded_stack.create_key("warm-named-other")) as other:
        answer = by_name(other, registered_model="warm-named", alias="prod")
    refused(answer, [*at, "alias"], "warm-named")


def test_a_plain_job_still_needs_its_dataset_and_network(client, source) -> None:
    answer = client.post("/v1/jobs", json={"dataset_id": source["dataset_id"],
                                           "training": {"epochs": 1}})  # fmt: skip
    refused(answer, ["body", "network"], "network is required")
    answer = client.post("/v1/jobs", json={"network": DENSE, "training": {"epochs": 1}})
    refused(answer, ["body", "dataset_id"], "dataset_id is required")


def test_a_warm_start_cannot_be_cross_validated(client, source) -> None:
    training = {"epochs": 2, "cross_validation": {"folds": 3}}
    answer = warm(client, source, "fine_tune", training=training)
    refused(answer, ["body", "training", "cross_validation"], "cross-validated")
