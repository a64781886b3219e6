"""Aliases across API processes: two real `neuronal serve` processes on one PostgreSQL (and one
Redis broker, one worker). An alias moved through one is used by the other from the moment the
PUT has answered; two compare-and-swap PUTs racing through both cannot both win."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.inputs.helpers import SMALL_JOB
from tests.search_helpers import base_body, create, search_body, wait_search
from tests.stack import Stack, postgres_database, redis_url, wait_for_job

LEASE = 1.5  # NEURONAL_REGISTRY_CACHE_SECONDS of both processes
ROWS = [[5.1, 3.5, 1.4, 0.2]]
RM = "/v1/registered-models"


@pytest.fixture(scope="module")
def two_apis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Stack, str]]:
    with postgres_database() as database_url:
        env = {
            "NEURONAL_DATABASE_URL": database_url,
            "NEURONAL_BROKER_URL": redis_url(),
            "NEURONAL_REGISTRY_CACHE_SECONDS": str(LEASE),
            # the prediction loops here send tens of thousands of requests a minute
            "NEURONAL_RATE_LIMIT_PER_MINUTE": "1000000",
        }
        first = Stack(tmp_path_factory.mktemp("api-a"), env, embedded=False)
        second = Stack(tmp_path_factory.mktemp("api-b"), env, embedded=False)
        first.neuronal("migrate")
        try:
            first.start_api()
            second.start_api()
            first.start_worker()
            yield first, second, database_url
        finally:
            first.stop()
            second.stop()


@pytest.fixture(scope="module")
def key(two_apis: tuple[Stack, Stack, str]) -> str:
    return two_apis[0].create_key("registry-processes")


@pytest.fixture(scope="module")
def models(two_apis: tuple[Stack, Stack, str], key: str, iris_bytes: bytes) -> list[str]:
    """Three models trained through the first API, with different seeds."""
    stack = two_apis[0]
    with stack.client(key) as client:
        dataset = client.post("/v1/datasets", files={"file": ("iris.csv", iris_bytes)}).json()
        ids = []
        for seed in (1, 2, 3):
            body = {"dataset_id": dataset["id"], **SMALL_JOB}
            body["training"] = {**SMALL_JOB["training"], "seed": seed}
            job = wait_for_job(client, client.post("/v1/jobs", json=body).json()["id"])
            assert job["status"] == "succeeded", stack.logs()
            ids.append(job["model_id"])
    return ids


def _registered(client: httpx.Client, name: str, models: list[str]) -> None:
    assert client.post(RM, json={"name": name}).status_code == 201
    for model in models:
        assert client.post(f"{RM}/{name}/versions", json={"model_id": model}).status_code == 201
    assert client.put(f"{RM}/{name}/aliases/live", json={"version": 1}).status_code == 200


def _version(client: httpx.Client, name: str) -> int:
    answer = client.post(f"{RM}/{name}/aliases/live/predict", json={"inputs": ROWS})
    assert answer.status_code == 200, answer.text
    return int(answer.json()["version"])


def test_a_move_through_one_process_holds_in_the_other_once_answered(
    two_apis: tuple[Stack, Stack, str], key: str, models: list[str]
) -> None:
    first, second, database_url = two_apis
    with first.client(key) as a, second.client(key) as b:
        _registered(a, "moving", models)
        assert _version(b, "moving") == 1  # the second process now remembers live → 1
        # behind the API's back the row changes: the second process keeps its lease...
        engine = create_engine(database_url)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE aliases SET version = 3, model_id = :m FROM registered_models r "
                    "WHERE r.id = aliases.registered_model_id AND r.name = 'moving'"
                ),
                {"m": models[2]},
            )
        engine.dispose()
        assert _version(b, "moving") == 1  # ...so it predicts from memory, no read per request
        started = time.monotonic()
        moved = a.put(f"{RM}/moving/aliases/live", json={"version": 2})
        assert moved.status_code == 200 and time.monotonic() - started >= LEASE
        assert _version(b, "moving") == 2  # the very next request through the other process
        by_version = b.post(f"{RM}/moving/versions/2/predict", json={"inputs": ROWS}).json()
        assert by_version["model_id"] == models[1]


def _versions_around(
    other: Stack, key: str, name: str, wait: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], list[int]]:
    """`wait()` (for a job or a search that moves `name`'s live alias) while clients predict
    through `other` all along, keeping its lease fresh; returns what `wait` returned and the
    versions of the predictions sent after it returned (and the versions seen before)."""
    seen: list[tuple[float, int]] = []
    stop = threading.Event()

    def predict_loop() -> None:
        with other.client(key) as client:
            while not stop.is_set():
                sent = time.monotonic()
                seen.append((sent, _version(client, name)))

    with ThreadPoolExecutor(1) as pool:
        loop = pool.submit(predict_loop)
        try:
            ended = wait()
            answered_at = time.monotonic()
            time.sleep(0.5)
        finally:
            stop.set()
        loop.result()
    assert 1 in {version for _, version in seen}  # the old version was in use
    return ended, [version for sent, version in seen if sent > answered_at]


def test_a_move_by_a_jobs_register_holds_in_the_other_process_once_it_answers(
    two_apis: tuple[Stack, Stack, str], key: str, models: list[str], iris_bytes: bytes
) -> None:
    """The worker moves the alias as the job succeeds; the job answers succeeded only once
    no process can still use what it read before, like a PUT answers."""
    first, second, _ = two_apis
    with first.client(key) as a:
        _registered(a, "by-job", models)
        dataset = a.post("/v1/datasets", files={"file": ("iris.csv", iris_bytes)}).json()
        body = {"dataset_id": dataset["id"], **SMALL_JOB,
                "register": {"name": "by-job", "alias": "live"}}  # fmt: skip
        job, late = _versions_around(
            second,
            key,
            "by-job",
            lambda: wait_for_job(a, a.post("/v1/jobs", json=body).json()["id"]),
        )
    assert job["status"] == "succeeded" and job["register"]["version"] == 4, job
    assert late and set(late) == {4}, late


def test_a_move_by_a_searchs_register_holds_in_the_other_process_once_it_answers(
    two_apis: tuple[Stack, Stack, str], key: str, models: list[str], iris_bytes: bytes
) -> None:
    first, second, _ = two_apis
    with first.client(key) as a:
        _registered(a, "by-search", models)
        dataset = a.post("/v1/datasets", files={"file": ("iris.csv", iris_bytes)}).json()
        space = {"training.optimizer.learning_rate": {"choice": [0.05, 0.1]}}
        body = search_body(
            dataset["id"], space, base=base_body(epochs=2),
            strategy="grid", limits={"max_trials": 2, "max_parallel": 2},
            register={"name": "by-search", "alias": "live"},
        )  # fmt: skip
        search, late = _versions_around(
            second, key, "by-search", lambda: wait_search(a, create(a, body)["id"])
        )
    assert search["status"] == "succeeded" and search["register"]["version"] == 4, search
    assert late and set(late) == {4}, late


def test_a_move_by_a_search_a_patch_ends_holds_in_the_other_process_once_it_answers(
    two_apis: tuple[Stack, Stack, str], key: str, models: list[str], iris_bytes: bytes
) -> None:
    """A PATCH that ends a search (its runtime limit lowered past, the one trial left still
    queued, no worker to run it) registers its best trial through the API process: the PATCH
    answers at once, and the search reads succeeded only once no process can still use what
    it read before the move."""
    first, second, _ = two_apis
    with first.client(key) as a:
        _registered(a, "by-patch", models)
        dataset = a.post("/v1/datasets", files={"file": ("iris.csv", iris_bytes)}).json()
        space = {"training.epochs": {"choice": [2, 5000]}}  # the second would run long
        body = search_body(
            dataset["id"], space, base=base_body(batch_size=1),
            strategy="grid", limits={"max_trials": 2, "max_parallel": 1},
            register={"name": "by-patch", "alias": "live"},
        )  # fmt: skip
        search_id = create(a, body)["id"]
        wait_search(a, search_id, lambda s: s["trials"]["succeeded"] == 1, timeout=60)
        (worker,) = first.workers
        os.killpg(worker.pid, signal.SIGTERM)  # the running second trial is handed back
        worker.wait(timeout=60)
        try:
            patched: list[tuple[float, dict[str, Any]]] = []
            refused: list[tuple[int, dict[str, Any]]] = []

            def patch_then_wait() -> dict[str, Any]:
                time.sleep(0.2)  # the predictions through the other process have begun
                started = time.monotonic()
                answer = a.patch(f"/v1/searches/{search_id}",
                                 json={"limits": {"max_runtime_seconds": 0.001}})  # fmt: skip
                assert answer.status_code == 200, answer.text
                patched.append((time.monotonic() - started, answer.json()))
                more = a.patch(f"/v1/searches/{search_id}", json={"limits": {"max_trials": 5}})
                refused.append((more.status_code, more.json()))  # while it is ending
                return wait_search(a, search_id)

            with second.client(key) as b:
                assert _version(b, "by-patch") == 1  # remembered there from now on
            search, late = _versions_around(second, key, "by-patch", patch_then_wait)
        finally:
            first.start_worker()
    assert search["status"] == "succeeded" and search["register"]["version"] == 4, search
    assert late and set(late) == {4}, late
    ((seconds, answered),) = patched
    assert seconds < LEASE, seconds  # the answer does not wait for the lease
    assert answered["register"]["version"] == 4 and answered["status"] == "running", answered
    ((status, problem),) = refused  # no more trials once the best is registered
    assert status == 409 and "version 4 of 'by-patch'" in problem["detail"], problem


def test_two_if_match_puts_through_two_processes_cannot_both_win(
    two_apis: tuple[Stack, Stack, str], key: str, models: list[str]
) -> None:
    first, second, _ = two_apis
    with first.client(key) as a, second.client(key) as b:
        _registered(a, "raced", models)
        for round_ in range(3):
            current = a.get(f"{RM}/raced").json()["aliases"]["live"]
            targets = [v for v in (1, 2, 3) if v != current]
            with ThreadPoolExecutor(2) as pool:
                statuses = sorted(pool.map(_racing_put(current), (a, b), targets))
            assert statuses == [200, 412], (round_, statuses)
        history = a.get(f"{RM}/raced/aliases/live/history").json()["items"]
        assert len(history) == 4  # set once, then exactly one winner per round
        for newer, older in zip(history, history[1:], strict=False):
            assert newer["previous_version"] == older["version"]


def _racing_put(current: int) -> Any:
    """A PUT of live with If-Match: current, sent when its rival is ready to send too."""
    barrier = threading.Barrier(2)

    def put(client: httpx.Client, version: int) -> int:
        barrier.wait()
        headers = {"If-Match": str(current)}
        response = client.put(
            f"{RM}/raced/aliases/live", json={"version": version}, headers=headers
        )
        return response.status_code

    return put


def test_sixteen_clients_predicting_through_a_move(
    two_apis: tuple[Stack, Stack, str], key: str, models: list[str]
) -> None:
    """Every answer is the old or the new version, none fails, and every prediction that
    started after the PUT answered uses the new version, in both processes."""
    first, second, _ = two_apis
    with first.client(key) as a:
        _registered(a, "busy", models)
    answered_at: list[float] = []
    stop = threading.Event()

    def predict_loop(stack: Stack) -> list[tuple[float, int]]:
        seen = []
        with stack.client(key) as client:
            while not stop.is_set():
                sent = time.monotonic()
                seen.append((sent, _version(client, "busy")))
        return seen

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(predict_loop, (first, second)[i % 2]) for i in range(16)]
        time.sleep(1.0)
        with second.client(key) as b:
            response = b.put(f"{RM}/busy/aliases/live", json={"version": 2})
            answered_at.append(time.monotonic())
            assert response.status_code == 200
        time.sleep(1.5)
        stop.set()
        results: list[Any] = [f.result() for f in futures]
    answers = [answer for seen in results for answer in seen]
    assert {version for _, version in answers} == {1, 2}
    late = [version for sent, version in answers if sent > answered_at[0]]
    assert late and set(late) == {2}
