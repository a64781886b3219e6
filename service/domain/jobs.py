"""Training jobs: validated at submission, queued in the database, read back for the API."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.db import new_id, utcnow
from service.core.errors import InvalidInput, NotFound, TooManyRequests, field_error, from_engine
from service.core.lifecycle import ACTIVE, STATUSES, JobStatus, cancel
from service.core.pagination import Page, filter_by_status, paginate
from service.core.tables import Dataset, EpochMetric, PredictionJob, Tenant, TrainingJob
from service.domain import warm_start
from service.domain.cross_validation import cancel_cv_job, folds_of
from service.domain.cv_rules import check_cross_validation
from service.domain.datasets import get_dataset
from service.domain.hopfield_jobs import validate_hopfield_job
from service.domain.job_cost import check_cost, estimate
from service.domain.job_rules import check_dataset_rules, input_width
from service.domain.registry import check_register_request
from service.engine import SpecError, check_layout, validate_spec
from service.engine.hopfield import is_hopfield

ACTIVE_JOBS_RETRY_SECONDS = 30
IDEMPOTENCY_WINDOW = timedelta(hours=24)


def create_job(
    session: Session,
    tenant_id: str,
    request: dict[str, Any],
    settings: Settings,
    *,
    idempotency_key: str | None = None,
) -> tuple[TrainingJob, bool]:
    """Validate `request` against its dataset and queue a job; returns (job, created)."""
    request_hash = _hash_request(request)
    if idempotency_key:
        earlier = _job_for_idempotency_key(session, tenant_id, idempotency_key)
        if earlier is not None:
            if earlier.request_hash != request_hash:
                raise InvalidInput(
                    "This Idempotency-Key was already used with a different body; "
                    "use a new key for a new job.",
                    errors=[field_error(["header", "Idempotency-Key"], "reused with another body")],
                )
            return earlier, False
    request, source = warm_start.complete_request(session, tenant_id, request)
    task, network, training = validate_job_request(session, tenant_id, request, settings)
    register = _register_option(request)
    init_from = None
    if source is not None:
        spec = (task, network, training)
        init_from = warm_start.check_source_fits(session, tenant_id, source, request, spec)
    check_active_jobs(
        session, TrainingJob, tenant_id, settings.max_running_jobs_per_tenant,
        tasks=job_tasks(training, settings.max_running_jobs_per_tenant),
    )  # fmt: skip
    job = TrainingJob(
        id=new_id("job"),
        tenant_id=tenant_id,
        dataset_id=request["dataset_id"],
        status=JobStatus.QUEUED,
        task=task,
        network=network,
        training=training,
        epochs=training.get("epochs", 1),  # a Hopfield job is one storing pass
        cv_folds=folds_of(training),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        enqueued_at=utcnow(),
        register=register,
        init_from=init_from,
    )
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:
        # a concurrent request with the same Idempotency-Key won the race: answer with its job
        earlier = _job_for_idempotency_key(session, tenant_id, idempotency_key or "")
        if earlier is None or earlier.request_hash != request_hash:
            raise
        return earlier, False
    return job, True


def _register_option(request: dict[str, Any]) -> dict[str, Any] | None:
    """The job's `register` option, checked; a Hopfield network has no predictions to serve."""
    register = check_register_request(request.get("register"))
    if register is not None and is_hopfield(request.get("network")):
        raise InvalidInput(
            "register names a model to predict with by name, and a Hopfield network recalls "
            "patterns instead of predicting; drop register from this job.",
            errors=[field_error(["body", "register"], "not for a Hopfield network")],
        )
    return register


def job_tasks(training: dict[str, Any], limit: int) -> int:
    """The tasks a job counts for: one training, or with k folds the k folds and then the final
    training on every row, at most the whole `limit` (a job alone always fits; its folds then
    wait for each other)."""
    return min((folds_of(training) or 0) + 1, limit)


def active_tasks(session: Session, tenant_id: str, limit: int) -> int:
    """The tasks the tenant's queued and running training jobs stand for: a cross-validated
    job counts its folds and its final training (at most `limit`) until its folds are done,
    then one."""
    on_folds = and_(TrainingJob.cv_folds.is_not(None), TrainingJob.cv_metrics.is_(None))
    weight = case(
        (and_(on_folds, TrainingJob.cv_folds + 1 > limit), limit),
        (on_folds, TrainingJob.cv_folds + 1),
        else_=1,
    )
    total = session.scalar(
        select(func.coalesce(func.sum(weight), 0)).where(
            TrainingJob.tenant_id == tenant_id, TrainingJob.status.in_(ACTIVE)
        )
    )
    return int(total or 0)


def check_active_jobs(
    session: Session,
    table: type[TrainingJob | PredictionJob],
    tenant_id: str,
    limit: int,
    *,
    tasks: int = 1,
    kind: str = "jobs",
    cancel_path: str = "/v1/jobs/{id}/cancel",
) -> None:
    """Refuse a new job of `tasks` tasks while the tenant's queued or running rows in `table`
    would then stand for more than `limit` tasks (`active_tasks` for training jobs).

    Locking the tenant's row first serialises concurrent submissions of one tenant on
    PostgreSQL, so two requests cannot both take the last slot. SQLite ignores the lock: on
    the single-host embedded default two simultaneous submissions may both get the last slot.
    """
    session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
    if table is TrainingJob:
        active = active_tasks(session, tenant_id, limit)
    else:
        active = int(
            session.scalar(
                select(func.count())
                .select_from(table)
                .where(table.tenant_id == tenant_id, table.status.in_(ACTIVE))
            )
            or 0
        )
    if active + tasks > limit:
        what = f"{active} queued or running {kind}" if table is not TrainingJob else (
            f"queued or running {kind} that stand for {active} tasks (a cross-validated job "
            "counts its folds and its final training)"
        )  # fmt: skip
        raise TooManyRequests(
            f"You already have {what}; this server's limit per tenant is {limit} "
            f"(NEURONAL_MAX_RUNNING_JOBS_PER_TENANT) and this job needs {tasks}; wait for one "
            f"to finish or cancel one (POST {cancel_path}), then submit again.",
            retry_after=ACTIVE_JOBS_RETRY_SECONDS,
        )


def validate_job_request(
    session: Session, tenant_id: str, request: dict[str, Any], settings: Settings
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The task and normalized specs of a job request, or InvalidInput naming the field."""
    try:
        dataset = get_dataset(session, tenant_id, request["dataset_id"])
    except NotFound as exc:
        raise InvalidInput(exc.detail, errors=[field_error("dataset_id", "not found")]) from exc
    if is_hopfield(request.get("network")):
        return validate_hopfield_job(session, dataset, request)
    if request.get("training") is None:
        raise InvalidInput(
            "training is required: epochs, batch size, optimizer (see the API's job body).",
            errors=[field_error(["body", "training"], "Field required")],
        )
    target = dataset.target
    task = request.get("task") or target["task"]
    n_features = input_width(dataset.features)
    if dataset.layout == "series":
        task, n_features = _series_task(request, dataset), n_features + 1  # the target too
    n_classes = _class_count(task, target)
    requested = request.get("training") or {}
    try:
        network, training = validate_spec(
            request.get("network") or {},
            requested,
            task=task,
            n_features=n_features,
            n_classes=n_classes,
            n_samples=dataset.n_rows,
        )
        check_layout_fits(dataset, network, training)
    except SpecError as exc:
        raise from_engine(exc) from exc
    check_dataset_rules(dataset, training, task, batch_size_given="batch_size" in requested)
    check_cross_validation(
        dataset, training, task, settings, batch_size_given="batch_size" in requested
    )
    check_cost(estimate(dataset, network, training, task, settings), training, settings)
    budget = training["epochs"] * dataset.n_rows
    if budget > settings.max_training_budget:
        raise InvalidInput(
            f"epochs × rows is {budget:,}, over this server's budget of "
            f"{settings.max_training_budget:,}; train for fewer epochs or on fewer rows.",
            errors=[field_error("training.epochs", "over the epochs × rows budget")],
        )
    return task, network, training


def _series_task(request: dict[str, Any], dataset: Dataset) -> str:
    """A forecast is a regression; refuse any other task, or a softmax output, on a series."""
    task = request.get("task")
    if task not in (None, "regression"):
        raise InvalidInput(
            f"Dataset {dataset.id!r} is a time series: a forecast predicts a future value of "
            f"its target, so the task is regression, not {task!r}; drop task or set it to "
            "regression.",
            errors=[field_error("task", "a forecast is a regression")],
        )
    network = request.get("network")
    if isinstance(network, dict) and network.get("output_activation") == "softmax":
        raise InvalidInput(
            "network.output_activation softmax gives class probabilities, but a forecast "
            "predicts a number; use linear (the default) or leave it out.",
            errors=[field_error("network.output_activation", "softmax on a forecast")],
        )
    return "regression"


def check_layout_fits(dataset: Dataset, network: dict[str, Any], training: dict[str, Any]) -> None:
    """Refuse a network or sequence setting the dataset's layout cannot train (SpecError)."""
    check_layout(network, training, dataset.layout)
    info = dataset.layout_info or {}
    steps = info.get("sequence_length")
    window = training.get("sequence")
    if window is not None:
        need, shortest = window["window"] + window["horizon"], info["shortest_series"]
        if need > shortest:
            group = info.get("shortest_group")
            which = f"the shortest series (group {group!r})" if group else "the series"
            raise SpecError(
                "training.sequence.window",
                f"training.sequence.window {window['window']} plus horizon "
                f"{window['horizon']} needs {need} rows, but {which} of dataset "
                f"{dataset.id!r} has {shortest}; use a smaller window or horizon.",
            )
        steps = window["window"]
    bptt = training.get("bptt_steps")
    if bptt is not None and steps is not None and bptt > steps:
        raise SpecError(
            "training.bptt_steps",
            f"training.bptt_steps {bptt} is more than the {steps} steps of each sequence; "
            f"use at most {steps}, or leave it out for full backpropagation through time.",
        )


def _class_count(task: str, target: dict[str, Any]) -> int | None:
    if task == "regression":
        if target["kind"] == "categorical":
            raise InvalidInput(
                f"The target {target['name']!r} holds text, so it cannot be a regression target; "
                "use task 'classification' or pick a numeric target.",
                errors=[field_error("task", "regression needs a numeric target")],
            )
        return None
    classes = target.get("classes")
    if classes is None:
        raise InvalidInput(
            f"The target {target['name']!r} looks continuous (too many distinct values to be "
            "classes); use task 'regression' or a target with a few distinct labels.",
            errors=[field_error("task", "the target has no small set of classes")],
        )
    return len(classes)


def _hash_request(request: dict[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _job_for_idempotency_key(session: Session, tenant_id: str, key: str) -> TrainingJob | None:
    job = session.scalar(
        select(TrainingJob).where(
            TrainingJob.tenant_id == tenant_id, TrainingJob.idempotency_key == key
        )
    )
    if job is not None and utcnow() - job.created_at > IDEMPOTENCY_WINDOW:
        job.idempotency_key = None  # expired: free the key for a new job
        session.flush()
        return None
    return job


def get_job(session: Session, tenant_id: str, job_id: str) -> TrainingJob:
    job = session.get(TrainingJob, job_id)
    if job is None or job.tenant_id != tenant_id:
        raise NotFound(f"There is no job {job_id!r}; list yours with GET /v1/jobs.")
    return job


def list_jobs(
    session: Session,
    tenant_id: str,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
    search_id: str | None = None,
) -> Page[Any]:
    stmt = select(TrainingJob).where(TrainingJob.tenant_id == tenant_id)
    if search_id is not None:  # another tenant's search holds none of this tenant's jobs
        stmt = stmt.where(TrainingJob.search_id == search_id)
    stmt = filter_by_status(stmt, TrainingJob.status, status, allowed=STATUSES, noun="job")
    return paginate(session, stmt, TrainingJob.id, limit=limit, cursor=cursor)


def cancel_job(session: Session, tenant_id: str, job_id: str) -> TrainingJob:
    """Cancel a queued job at once; ask a running one to stop after its current epoch."""
    job = get_job(session, tenant_id, job_id)
    return cancel_cv_job(session, job) if job.cv_folds else cancel(session, job)


def job_metrics(session: Session, job_id: str, *, after_epoch: int = 0) -> list[EpochMetric]:
    stmt = (
        select(EpochMetric)
        .where(EpochMetric.job_id == job_id, EpochMetric.epoch > after_epoch)
        .order_by(EpochMetric.epoch)
    )
    return list(session.scalars(stmt))
