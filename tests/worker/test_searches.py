"""Searches scheduled on two real worker processes over PostgreSQL and Redis: reproducible
sequences, no duplicate configuration under parallel trials, ASHA pruning, the runtime
limit, raising max_trials and cancelling while a search runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.search_helpers import (
    TRIAL_ENDED,
    base_body,
    create,
    get,
    search_body,
    trials,
    upload_iris,
    wait_search,
)
from tests.stack import Stack, postgres_database, redis_url, wait_until


@pytest.fixture(scope="module")
def search_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The API and two `neuronal worker` processes on PostgreSQL and Redis."""
    with postgres_database() as database_url:
        env = {"NEURONAL_DATABASE_URL": database_url, "NEURONAL_BROKER_URL": redis_url()}
        stack = Stack(tmp_path_factory.mktemp("searches"), env, embedded=False)
        stack.neuronal("migrate")
        stack.start_api()
        stack.start_worker()
        stack.start_worker()
        yield stack
        stack.stop()


@pytest.fixture(scope="module")
def client(search_stack: Stack) -> Iterator[httpx.Client]:
    with search_stack.client(search_stack.create_key("searcher")) as client:
        yield client


@pytest.fixture(scope="module")
def iris(client: httpx.Client, iris_bytes: bytes) -> str:
    return upload_iris(client, iris_bytes)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.parametrize(("strategy", "n_trials"), [("random", 4), ("tpe", 7)])
def test_the_same_seed_gives_the_same_sequence_of_configurations(
    client: httpx.Client, iris: str, search_stack: Stack, strategy: str, n_trials: int
) -> None:
    space = {
        "training.optimizer.learning_rate": {"log_uniform": [0.001, 0.5]},
        "network.layers[*].units": {"int": [2, 32]},
        "training.batch_size": {"choice": [8, 16, 32]},
    }
    limits = {"max_trials": n_trials, "max_parallel": 1}
    sequences = []
    for seed in (11, 11, 12):
        body = search_body(iris, space, seed=seed, limits=limits, strategy=strategy,
                           base=base_body(epochs=2))  # fmt: skip
        search = wait_search(client, create(client, body)["id"])
        assert search["status"] == "succeeded", search_stack.logs()
        sequences.append([job["params"] for job in trials(client, search["id"])])
    assert len(sequences[0]) == n_trials
    assert sequences[0] == sequences[1]
    assert sequences[0] != sequences[2]


def test_a_grid_on_two_workers_trains_each_configuration_once(
    client: httpx.Client, iris: str, search_stack: Stack
) -> None:
    space = {
        "training.optimizer.learning_rate": {"choice": [0.05, 0.1, 0.2]},
        "network.layers[0].units": {"choice": [4, 8, 16]},
    }
    body = search_body(iris, space, strategy="grid",
                       limits={"max_trials": 20, "max_parallel": 4})  # fmt: skip
    search = wait_search(client, create(client, body)["id"])
    assert search["status"] == "succeeded", search_stack.logs()
    jobs = trials(client, search["id"])
    configurations = {(j["params"]["training.optimizer.learning_rate"],
                       j["params"]["network.layers[0].units"]) for j in jobs}  # fmt: skip
    assert len(jobs) == 9 and len(configurations) == 9
    assert [j["trial"] for j in jobs] == list(range(1, 10))
    assert all(j["status"] == "succeeded" for j in jobs)
    assert search["trials"]["total"] == 9 and search["trials"]["succeeded"] == 9
    # the configuration really is what was trained
    for job in jobs:
        assert (
            job["training"]["optimizer"]["learning_rate"]
            == job["params"]["training.optimizer.learning_rate"]
        )
        assert job["network"]["layers"][0]["units"] == job["params"]["network.layers[0].units"]
    # the best is the succeeded trial with the lowest val_loss, and its model predicts
    best = min(jobs, key=lambda j: (j["metrics"]["val_loss"], j["trial"]))
    assert search["best"]["job_id"] == best["id"]
    assert search["best"]["model_id"] == best["model_id"]
    board = client.get(f"/v1/searches/{search['id']}/trials").json()["items"]
    assert board[0]["job_id"] == best["id"]
    objectives = [row["objective"] for row in board]
    assert objectives == sorted(objectives)
    predicted = client.post(f"/v1/models/{best['model_id']}/predict",
                            json={"inputs": [[5.1, 3.5, 1.4, 0.2]]})  # fmt: skip
    assert predicted.status_code == 200, predicted.text


def test_asha_prunes_the_crawling_half_at_the_first_rung(
    client: httpx.Client, iris: str, search_stack: Stack
) -> None:
    epochs = 9
    fast, crawling = [0.3, 0.2, 0.1], [1e-6, 2e-6, 5e-7]
    space = {"training.optimizer.learning_rate": {"choice": fast + crawling}}
    body = search_body(
        iris, space, strategy="grid", base=base_body(epochs=epochs, batch_size=8),
        early_termination={"name": "asha", "min_epochs": 1, "reduction_factor": 2},
        limits={"max_trials": 6, "max_parallel": 1},
    )  # fmt: skip
    search = wait_search(client, create(client, body)["id"])
    assert search["status"] == "succeeded", search_stack.logs()
    jobs = trials(client, search["id"])
    slow = [j for j in jobs if j["params"]["training.optimizer.learning_rate"] in crawling]
    assert [j["status"] for j in slow] == ["pruned"] * 3, slow
    assert all(j["progress"]["epoch"] == 1 and j["model_id"] is None for j in slow)
    assert all("early termination" in j["error"] for j in slow)
    assert jobs[0]["status"] == "succeeded"
    total = sum(j["progress"]["epoch"] for j in jobs)
    assert total <= 0.6 * len(jobs) * epochs, total
    assert search["trials"]["pruned"] >= 3
    assert search["best"]["job_id"] in {j["id"] for j in jobs if j["status"] == "succeeded"}


def test_max_runtime_is_kept_within_one_epoch(
    client: httpx.Client, iris: str, search_stack: Stack
) -> None:
    runtime = 3.0
    space = {"training.optimizer.learning_rate": {"uniform": [0.01, 0.1]}}
    body = search_body(iris, space, base=base_body(epochs=5000, batch_size=1),
                       limits={"max_trials": 10, "max_parallel": 2,
                               "max_runtime_seconds": runtime})  # fmt: skip
    search = wait_search(client, create(client, body)["id"], timeout=60)
    jobs = trials(client, search["id"])
    assert all(j["status"] in TRIAL_ENDED for j in jobs)
    assert search["status"] in ("succeeded", "failed")
    started = _at(search["started_at"])
    slowest_epoch = 0.0
    for job in jobs:
        rows = client.get(f"/v1/jobs/{job['id']}/metrics").json()["items"]
        slowest_epoch = max([slowest_epoch, *[row["seconds"] for row in rows]])
    last_end = max(_at(j["finished_at"]) for j in jobs)
    over = (last_end - started).total_seconds() - runtime
    # one epoch, plus the final write of the trial (a busy 2-core machine: a second of slack)
    assert over <= slowest_epoch + 1.0, (over, slowest_epoch)
    assert any(j["status"] == "cancelled" for j in jobs)


def test_raising_max_trials_adds_trials_and_cancel_stops_them(
    client: httpx.Client, iris: str, search_stack: Stack
) -> None:
    space = {"training.optimizer.learning_rate": {"log_uniform": [0.01, 0.3]}}
    body = search_body(iris, space, base=base_body(epochs=40, batch_size=4),
                       limits={"max_trials": 2, "max_parallel": 1})  # fmt: skip
    search_id = create(client, body)["id"]
    wait_search(client, search_id, lambda s: s["status"] == "running", timeout=60)
    answer = client.patch(f"/v1/searches/{search_id}", json={"limits": {"max_trials": 4}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["limits"] == {
        "max_trials": 4,
        "max_parallel": 1,
        "max_runtime_seconds": None,
        "max_failed_trials": None,
    }
    search = wait_search(client, search_id)
    assert search["status"] == "succeeded", search_stack.logs()
    assert search["trials"]["total"] == 4 and search["trials"]["succeeded"] == 4
    assert client.patch(f"/v1/searches/{search_id}",
                        json={"limits": {"max_trials": 9}}).status_code == 409  # fmt: skip

    long = search_body(iris, space, base=base_body(epochs=3000, batch_size=1),
                       limits={"max_trials": 6, "max_parallel": 2})  # fmt: skip
    search_id = create(client, long)["id"]
    wait_until(lambda: any(j["status"] == "running" and j["progress"]["epoch"] >= 1
                           for j in trials(client, search_id)), timeout=60,
               what="a running trial")  # fmt: skip
    answer = client.post(f"/v1/searches/{search_id}/cancel")
    assert answer.status_code == 202, answer.text
    search = wait_search(client, search_id, timeout=30)
    assert search["status"] == "cancelled"
    jobs = trials(client, search_id)
    assert jobs and all(j["status"] == "cancelled" for j in jobs)
    assert len(jobs) <= 2


def test_events_stream_trials_then_the_status(
    client: httpx.Client, iris: str, search_stack: Stack, tmp_path: Path
) -> None:
    space = {"training.optimizer.learning_rate": {"choice": [0.05, 0.2]}}
    body = search_body(iris, space, strategy="grid",
                       limits={"max_trials": 2, "max_parallel": 2})  # fmt: skip
    search_id = create(client, body)["id"]
    events: list[str] = []
    with client.stream("GET", f"/v1/searches/{search_id}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                events.append(line.split(":", 1)[1].strip())
    assert events.count("trial") == 2
    assert "best" in events
    assert events[-1] == "status" and events.count("status") == 1
    assert get(client, search_id)["status"] == "succeeded"
