"""A worker killed with SIGKILL while a recurrent job trains: the job is reclaimed, resumes
from its checkpoint and ends with the weights of an uninterrupted run, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from tests.faults.conftest import MakeStack
from tests.faults.servers import finished, get_job, metrics, models_of, submit, wait_job, weights
from tests.sequence_data import series_csv

pytestmark = pytest.mark.faults

EPOCHS = 40


def test_killed_worker_recurrent_job_resumes_bit_identical(make_stack: MakeStack) -> None:
    stack = make_stack()
    (first,) = stack.start()
    with stack.client(stack.create_key("recurrent-crash")) as client:
        answer = client.post(
            "/v1/datasets",
            files={"file": ("load.csv", series_csv(), "text/csv")},
            data={"layout": "series", "time_column": "day", "group_column": "site"},
        )
        assert answer.status_code == 201, answer.text
        body = {
            "dataset_id": answer.json()["id"],
            "network": {"layers": [{"type": "lstm", "units": 8}, {"units": 4}]},
            "training": {
                "epochs": EPOCHS,
                "batch_size": 1,  # long epochs, so the kill lands mid-training
                "optimizer": {"name": "adam", "learning_rate": 0.001},
                "seed": 5,
                "validation_fraction": 0.2,
                "sequence": {"window": 8, "horizon": 2, "stride": 1},
                "bptt_steps": 4,
            },
        }
        job_id = submit(client, body)
        wait_job(client, job_id, lambda j: j["progress"]["epoch"] >= 3, what="epoch 3")
        stack.kill(first)
        at_kill = get_job(client, job_id)
        assert at_kill["status"] == "running" and at_kill["progress"]["epoch"] < EPOCHS
        before = metrics(client, job_id)

        stack.ready_worker()
        reference_id = submit(client, body)  # the same spec and seed, never interrupted
        job = finished(client, job_id, timeout=180)
        reference = finished(client, reference_id, timeout=180)

        assert job["status"] == "succeeded", (job, stack.logs())
        assert job["attempts"] == 2 and reference["attempts"] == 1
        rows = metrics(client, job_id)
        assert [m["epoch"] for m in rows] == list(range(1, EPOCHS + 1))
        assert rows[: len(before)] == before  # resumed, not restarted
        (model,) = models_of(client, job_id)
        resumed = weights(client, model["id"])
        uninterrupted = weights(client, reference["model_id"])
        assert resumed.keys() == uninterrupted.keys() and "R0_0" in resumed
        for name, array in uninterrupted.items():
            assert np.array_equal(resumed[name], array), name
            assert resumed[name].dtype == array.dtype, name
