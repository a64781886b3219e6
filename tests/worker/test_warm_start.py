"""Warm-start jobs run in process against a real database: a model keeps its final training
state, a continue trains from it and records its parent, and a source model deleted before the
run fails the job with a message that says so."""

from __future__ import annotations

from pathlib import Path

from service.core.config import Settings
from service.core.db import transaction
from service.core.tables import ModelTrainingState, TrainedModel, TrainingJob
from service.domain.datasets import create_dataset
from service.domain.jobs import create_job
from service.domain.trained_models import delete_model
from service.engine import CheckpointMismatch
from service.engine.checkpoint import FORMAT
from service.engine.serialization import unpack
from tests.worker.test_failures import blobs_csv, ended, submit
from worker.training import run_job


def succeeded(job_id: str, settings: Settings) -> TrainingJob:
    assert run_job(job_id, worker="w1", settings=settings, enqueue=lambda _: True) == "succeeded"
    return ended(job_id)


def warm_job(
    settings: Settings,
    model_id: str,
    mode: str,
    epochs: int,
    **more: str,
) -> str:
    request = {"init_from": {"model_id": model_id}, "mode": mode, "training": {"epochs": epochs}}
    request.update(more)
    with transaction() as session:
        job, _ = create_job(session, "ten_1", request, settings)
        return job.id


def test_a_continue_trains_from_the_stored_state_and_records_its_parent(
    settings: Settings,
    tmp_path: Path,
) -> None:
    source = succeeded(submit(settings, tmp_path, {"epochs": 3, "batch_size": 16}), settings)
    with transaction() as session:
        state = session.get(ModelTrainingState, source.model_id)
        assert state is not None
        _, meta = unpack(state.data, "state", CheckpointMismatch)
        assert meta["format"] == FORMAT and meta["epoch"] == 3 and len(meta["history"]) == 3
    child = succeeded(warm_job(settings, str(source.model_id), "continue", 2), settings)
    assert child.progress.epoch == 2 and child.progress.epochs == 2
    with transaction() as session:
        model = session.get(TrainedModel, child.model_id)
        assert model is not None and model.parent_model_id == source.model_id
        state = session.get(ModelTrainingState, child.model_id)
        assert state is not None
        assert unpack(state.data, "state", CheckpointMismatch)[1]["epoch"] == 5


def shifted_dataset(settings: Settings, tmp_path: Path) -> str:
    """The blobs again, scaled and moved: other statistics than the source's data."""
    rows = blobs_csv(tmp_path / "source.csv").read_text().splitlines()
    lines = [rows[0]]
    for row in rows[1:]:
        a, b, label = row.split(",")
        lines.append(f"{float(a) * 3 + 5:.4f},{float(b) * 3 + 5:.4f},{label}")
    path = tmp_path / "shifted.csv"
    path.write_text("\n".join(lines) + "\n")
    with transaction() as session:
        dataset = create_dataset(
            session, "ten_1", path, filename="shifted.csv", content_type="text/csv",
            name=None, target="label", size_bytes=path.stat().st_size, sha256="1" * 64,
            max_rows=settings.max_dataset_rows, max_columns=settings.max_dataset_columns,
        )  # fmt: skip
        return dataset.id


def test_a_fine_tuned_model_can_be_continued(
    settings: Settings,
    tmp_path: Path,
) -> None:
    source = succeeded(submit(settings, tmp_path, {"epochs": 2}), settings)
    other = shifted_dataset(settings, tmp_path)
    tuned = succeeded(
        warm_job(settings, str(source.model_id), "fine_tune", 2, dataset_id=other), settings
    )
    more = succeeded(warm_job(settings, str(tuned.model_id), "continue", 2), settings)
    assert more.dataset_id == other
    with transaction() as session:
        model = session.get(TrainedModel, more.model_id)
        assert model is not None and model.parent_model_id == tuned.model_id


def test_a_source_deleted_before_the_run_fails_the_job_saying_so(
    settings: Settings,
    tmp_path: Path,
) -> None:
    source = succeeded(submit(settings, tmp_path, {"epochs": 2}), settings)
    job_id = warm_job(settings, str(source.model_id), "fine_tune", 1)
    with transaction() as session:
        delete_model(session, "ten_1", str(source.model_id))
    assert run_job(job_id, worker="w1", settings=settings, enqueue=lambda _: True) == "failed"
    job = ended(job_id)
    assert job.error_code == "training_error", job.error
    assert f"The model {source.model_id!r} this job starts from has been deleted" in str(job.error)
