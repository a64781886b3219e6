"""Cross-validation on real `neuronal worker` processes over PostgreSQL and Redis: folds run
side by side on two workers, a fold whose worker is killed is reclaimed and the job still
ends with the figures of an uninterrupted run, and cancelling the job cancels its folds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from service.core.db import transaction
from service.core.tables import CvFold
from tests.faults.conftest import MakeStack
from tests.faults.servers import (
    FaultStack,
    finished,
    get_job,
    job_body,
    submit,
    synthetic_csv,
    upload,
    wait_job,
)
from tests.stack import wait_until

pytestmark = pytest.mark.faults

FOLDS = 4


def cv_body(dataset_id: str, epochs: int) -> dict[str, Any]:
    return job_body(dataset_id, epochs=epochs, cross_validation={"folds": FOLDS})


def folds_of(stack: FaultStack, job_id: str) -> list[CvFold]:
    with transaction(stack.database_url) as session:
        folds = session.scalars(select(CvFold).where(CvFold.job_id == job_id).order_by(CvFold.fold))
        rows = list(folds)
        session.expunge_all()
        return rows


def test_folds_overlap_in_time_on_two_workers(make_stack: MakeStack) -> None:
    stack = make_stack()
    stack.start(workers=2)
    with stack.client(stack.create_key("cv-parallel")) as client:
        job_id = submit(client, cv_body(upload(client, synthetic_csv(300)), epochs=4))
        job = finished(client, job_id, timeout=180)
        assert job["status"] == "succeeded", (job, stack.logs())
        assert len(job["cv_metrics"]["val_loss"]["folds"]) == FOLDS
        folds = folds_of(stack, job_id)
        assert [f.status for f in folds] == ["succeeded"] * FOLDS
        assert len({f.worker for f in folds}) == 2  # both workers trained folds
        spans: list[tuple[datetime, datetime]] = []
        for fold in folds:
            assert fold.started_at is not None and fold.finished_at is not None
            spans.append((fold.started_at, fold.finished_at))
        overlapping = [
            (a, b) for a in range(FOLDS) for b in range(a + 1, FOLDS)
            if spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]
        ]  # fmt: skip
        assert overlapping, spans
        # the final model came after every fold, on all rows
        last_fold = max(end for _, end in spans)
        assert job["started_at"] is not None and job["model_id"] is not None
        assert datetime.fromisoformat(job["finished_at"]) > last_fold


def test_a_killed_worker_during_folds_still_ends_with_the_right_cv_metrics(
    make_stack: MakeStack,
) -> None:
    stack = make_stack()
    (first,) = stack.start()
    with stack.client(stack.create_key("cv-crash")) as client:
        # folds of a few seconds each, so that one is surely caught past its first epoch
        body = cv_body(upload(client, synthetic_csv(2000)), epochs=25)
        job_id = submit(client, body)

        def running_fold() -> CvFold | None:
            return next((f for f in folds_of(stack, job_id)
                         if f.status == "running" and f.epoch >= 1), None)  # fmt: skip

        fold = wait_until(running_fold, timeout=120, what="a fold past its first epoch")
        stack.kill(first)
        assert get_job(client, job_id)["status"] == "running"
        stack.ready_worker()  # its reaper reclaims the dead worker's fold
        job = finished(client, job_id, timeout=240)
        assert job["status"] == "succeeded", (job, stack.logs())
        folds = {f.fold: f for f in folds_of(stack, job_id)}
        assert folds[fold.fold].attempts == 2  # reclaimed from the dead worker, trained again
        assert all(f.status == "succeeded" for f in folds.values())

        reference = finished(client, submit(client, body), timeout=240)  # never interrupted
        assert reference["status"] == "succeeded"
        assert job["cv_metrics"] == reference["cv_metrics"]
        a = client.get(f"/v1/jobs/{job_id}/cv-predictions").text
        b = client.get(f"/v1/jobs/{reference['id']}/cv-predictions").text
        assert a == b


def test_cancelling_the_job_cancels_its_folds(make_stack: MakeStack) -> None:
    stack = make_stack()
    stack.start()
    with stack.client(stack.create_key("cv-cancel")) as client:
        job_id = submit(client, cv_body(upload(client, synthetic_csv(600)), epochs=500))
        wait_until(
            lambda: any(f.status == "running" and f.epoch >= 1 for f in folds_of(stack, job_id)),
            timeout=120,
            what="a fold past its first epoch",
        )
        answer = client.post(f"/v1/jobs/{job_id}/cancel")
        assert answer.status_code == 202, answer.text
        statuses = [f.status for f in folds_of(stack, job_id)]
        assert statuses.count("cancelled") == FOLDS - 1, statuses  # the queued ones at once
        job = wait_job(client, job_id, lambda j: j["status"] == "cancelled", timeout=30)
        assert job["model_id"] is None and job["cv_metrics"] is None
        assert [f.status for f in folds_of(stack, job_id)] == ["cancelled"] * FOLDS
        assert client.get(f"/v1/jobs/{job_id}/cv-predictions").status_code == 409
