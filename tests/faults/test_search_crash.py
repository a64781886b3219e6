"""A worker killed with SIGKILL in the middle of a search: the search still ends succeeded,
with every trial ended, no configuration trained twice and the killed trial resumed."""

from __future__ import annotations

import pytest

from tests.faults.conftest import MakeStack
from tests.faults.servers import synthetic_csv, upload
from tests.search_helpers import TRIAL_ENDED, base_body, create, search_body, trials, wait_search
from tests.stack import wait_until

pytestmark = pytest.mark.faults


def test_a_search_survives_a_killed_worker(make_stack: MakeStack) -> None:
    stack = make_stack()
    stack.start(workers=2)
    with stack.client(stack.create_key("search-crash")) as client:
        dataset_id = upload(client, synthetic_csv(400))
        space = {"training.optimizer.learning_rate": {"choice": [0.01, 0.02, 0.05, 0.1, 0.2]},
                 "network.layers[0].units": {"choice": [4, 8]}}  # fmt: skip
        body = search_body(dataset_id, space, base=base_body(epochs=12, batch_size=2),
                           limits={"max_trials": 6, "max_parallel": 2})  # fmt: skip
        search_id = create(client, body)["id"]

        def running_trial() -> str | None:
            for job in trials(client, search_id):
                if job["status"] == "running" and job["progress"]["epoch"] >= 2:
                    return str(job["id"])
            return None

        victim = wait_until(running_trial, timeout=90, what="a trial past epoch 2")
        stack.kill(stack.worker_of(victim))
        stack.ready_worker()

        search = wait_search(client, search_id, timeout=240)
        assert search["status"] == "succeeded", stack.logs()
        jobs = trials(client, search_id)
        assert len(jobs) == 6 and search["trials"]["total"] == 6
        assert all(job["status"] in TRIAL_ENDED for job in jobs)
        keys = {tuple(sorted(job["params"].items())) for job in jobs}
        assert len(keys) == 6
        killed = next(job for job in jobs if job["id"] == victim)
        assert killed["status"] == "succeeded" and killed["attempts"] == 2
        assert search["best"] is not None and search["best"]["model_id"] is not None


def test_a_search_left_unscheduled_is_moved_on_by_the_workers_sweep(
    make_stack: MakeStack,
) -> None:
    """A trial that ended where no worker could schedule the next (here: cancelled while
    queued, before any worker ran): the workers' periodic sweep starts the next trial."""
    stack = make_stack()
    stack.start(workers=0)
    with stack.client(stack.create_key("search-sweep")) as client:
        dataset_id = upload(client, synthetic_csv(200))
        space = {"training.optimizer.learning_rate": {"choice": [0.05, 0.1]}}
        body = search_body(dataset_id, space, strategy="grid", base=base_body(epochs=3),
                           limits={"max_trials": 2, "max_parallel": 1})  # fmt: skip
        search_id = create(client, body)["id"]
        (first,) = trials(client, search_id)
        assert first["status"] == "queued"
        assert client.post(f"/v1/jobs/{first['id']}/cancel").status_code == 202
        assert [j["status"] for j in trials(client, search_id)] == ["cancelled"]

        stack.ready_worker()
        search = wait_search(client, search_id, timeout=60)
        assert search["status"] == "succeeded", stack.logs()
        assert [j["status"] for j in trials(client, search_id)] == ["cancelled", "succeeded"]
        assert search["best"]["trial"] == 2
