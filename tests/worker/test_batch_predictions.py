"""Batch prediction runs and their reaping against a real database, in process: chunks,
redelivery, cancellation, a deleted model, lost workers; and the checks made at submission."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from service.core.config import Settings
from service.core.db import transaction, utcnow
from service.core.errors import InvalidInput
from service.core.queue import Producer
from service.core.tables import ModelBlob, PredictionJob, Tenant, TrainedModel
from service.domain.batch_predictions import select_features
from service.domain.ingest import ParsedFeatures, encode_columns
from service.engine import Model
from tests.worker.conftest import N_ROWS


def add_job(model: Model, columns: dict[str, np.ndarray], job_id: str, **extra: Any) -> str:
    with transaction() as session:
        if session.get(Tenant, "ten_1") is None:
            session.add(Tenant(id="ten_1", name="t"))
            session.flush()
        if session.get(TrainedModel, "mdl_1") is None:
            data = model.to_bytes()
            session.add(
                TrainedModel(
                    id="mdl_1", tenant_id="ten_1", job_id="job_1", dataset_id="ds_1",
                    task=model.task, network=model.network, training=model.training,
                    features=model.features, classes=model.classes, metrics={},
                    size_bytes=len(data),
                )
            )  # fmt: skip
            session.flush()
            session.add(ModelBlob(model_id="mdl_1", data=data))
        values = {
            "status": "queued", "attempts": 0, "enqueued_at": utcnow(), "cancel_requested": False,
            **extra,
        }  # fmt: skip
        session.add(
            PredictionJob(
                id=job_id, tenant_id="ten_1", model_id="mdl_1", format="csv", n_rows=N_ROWS,
                rows_done=0, input_data=encode_columns(columns, N_ROWS), **values,
            )
        )  # fmt: skip
    return job_id


def job(job_id: str) -> PredictionJob:
    with transaction() as session:
        found = session.get(PredictionJob, job_id)
        assert found is not None
        _ = found.output_data  # load the deferred result before the session closes
        return found


def run(job_id: str, settings: Settings, **options: Any) -> str:
    """One attempt of `job_id` by worker "w", which re-enqueues on the settings' broker."""
    from worker.batch_predictions import run_batch

    enqueue = Producer(settings).enqueue_prediction
    return run_batch(job_id, worker="w", settings=settings, enqueue=enqueue, **options)


def test_chunks_make_one_csv_row_per_input_row(
    settings: Settings, model: Model, columns: dict[str, np.ndarray]
) -> None:
    job_id = add_job(model, columns, "pj_ok")
    assert run(job_id, settings, chunk_rows=40) == "succeeded"
    done = job(job_id)
    assert done.status == "succeeded" and done.rows_done == N_ROWS and done.attempts == 1
    assert done.output_data is not None
    table = list(csv.DictReader(io.StringIO(gzip.decompress(done.output_data).decode())))
    assert list(table[0]) == [*columns, "prediction", "probability_a", "probability_b"]
    rows = [[columns["x"][i], columns["colour"][i] or None] for i in range(N_ROWS)]
    rows[5][0] = None
    expected = model.predict_proba(rows)
    got = np.array([[float(r["probability_a"]), float(r["probability_b"])] for r in table])
    assert np.allclose(got, expected, atol=1e-6)
    assert [r["prediction"] for r in table] == [model.classes[i] for i in expected.argmax(1)]
    # a redelivered message for a finished job does nothing
    assert run(job_id, settings) == "skipped"


def test_cancel_and_a_deleted_model_end_the_job(
    settings: Settings, model: Model, columns: dict[str, np.ndarray]
) -> None:
    cancelling = add_job(model, columns, "pj_cancel", cancel_requested=True)
    assert run(cancelling, settings, chunk_rows=40) == "cancelled"
    assert job(cancelling).status == "cancelled" and job(cancelling).rows_done == 40

    orphan = add_job(model, columns, "pj_orphan")
    with transaction() as session:
        session.delete(session.get(TrainedModel, "mdl_1"))
    assert run(orphan, settings) == "failed"
    failed = job(orphan)
    assert failed.status == "failed" and "'mdl_1' was deleted" in (failed.error or "")


def test_the_reaper_requeues_lost_prediction_jobs(
    settings: Settings, model: Model, columns: dict[str, np.ndarray]
) -> None:
    from worker.reaper import reap_once

    old = utcnow() - timedelta(seconds=600)
    stale = add_job(model, columns, "pj_stale", status="running", attempts=1, heartbeat_at=old)
    lost = add_job(
        model, columns, "pj_lost", status="running", attempts=settings.max_attempts,
        heartbeat_at=old,
    )  # fmt: skip
    unsent = add_job(model, columns, "pj_unsent", enqueued_at=old)
    assert set(reap_once(settings, Producer(settings))) == {stale, unsent}
    assert job(stale).status == "queued"
    assert job(lost).status == "failed" and job(lost).error_code == "worker_lost"
    assert reap_once(settings, Producer(settings)) == []


def test_submission_keeps_every_column_and_types_the_model_ones() -> None:
    features = [{"name": "x", "kind": "numeric"}, {"name": "colour", "kind": "categorical"}]
    parsed = ParsedFeatures(
        format="csv",
        columns={
            "id": np.array(["a", "b"]),
            "colour": np.array([1.0, np.nan]),  # a categorical feature the file spelt in numbers
            "x": np.array(["2.5", "NA"]),
        },
        features=[],
        n_rows=2,
        first_row=2,
    )
    selected = select_features(parsed, features)
    assert list(selected) == ["id", "colour", "x"], "every column, in the file's order"
    assert selected["id"].tolist() == ["a", "b"], "other columns pass through untouched"
    assert np.array_equal(selected["x"], [2.5, np.nan], equal_nan=True)
    assert selected["colour"].tolist() == ["1", ""]

    bad = ParsedFeatures("csv", {"x": np.array(["1", "oops"]), "colour": np.array(["r", "b"])},
                         [], 2, 2)  # fmt: skip
    with pytest.raises(InvalidInput, match="row 3, column 'x' holds 'oops'"):
        select_features(bad, features)
    with pytest.raises(InvalidInput, match="no column 'colour'"):
        select_features(ParsedFeatures("csv", {"x": np.array([1.0])}, [], 1, 2), features)
