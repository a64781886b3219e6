"""Training job routes: submit, list, read, metrics, live events, cancel, curves image."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Query, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from service.api.deps import ProducerDep, SessionDep, SettingsDep, TenantDep
from service.api.events import (
    STREAM_PROBLEMS,
    resume_point,
    still_streaming,
    stream_hub,
    stream_slot,
)
from service.api.problems import BODY_PROBLEMS, V1_PROBLEMS, problem_responses
from service.api.schemas import EpochMetricOut, JobOut, JobPage, JobRequest, MetricsOut
from service.core.db import session_factory
from service.core.lifecycle import TERMINAL
from service.core.progress import EpochProgress
from service.domain import curves, jobs

# a progress event's metrics, in the order the stream has always sent them
EVENT_ROW = ("epoch", "train_loss", "val_loss", "learning_rate", "seconds")
ACCURACIES = ("train_accuracy", "val_accuracy")

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=V1_PROBLEMS)


@router.post("", status_code=202, response_model=JobOut, responses=BODY_PROBLEMS)
def create_job(
    body: JobRequest,
    response: Response,
    background: BackgroundTasks,
    session: SessionDep,
    tenant_id: TenantDep,
    settings: SettingsDep,
    producer: ProducerDep,
    idempotency_key: str | None = Header(None, max_length=200),
) -> JobOut:
    """Validate the spec against the dataset, queue the job, and start it on a worker."""
    job, created = jobs.create_job(
        session,
        tenant_id,
        body.model_dump(exclude_none=True, by_alias=True),
        settings,
        idempotency_key=idempotency_key,
    )
    if created:  # the session commits before the response; the message is sent after it
        background.add_task(producer.enqueue_training, job.id)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return JobOut.model_validate(job)


@router.get("", response_model=JobPage)
def list_jobs(
    session: SessionDep,
    tenant_id: TenantDep,
    status: str | None = None,
    search_id: str | None = Query(None, description="Only the trials of this search."),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
) -> JobPage:
    page = jobs.list_jobs(
        session, tenant_id, status=status, search_id=search_id, limit=limit, cursor=cursor
    )
    return JobPage.model_validate(page)


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, session: SessionDep, tenant_id: TenantDep) -> JobOut:
    return JobOut.model_validate(jobs.get_job(session, tenant_id, job_id))


@router.get("/{job_id}/metrics", response_model=MetricsOut)
def get_metrics(job_id: str, session: SessionDep, tenant_id: TenantDep) -> MetricsOut:
    jobs.get_job(session, tenant_id, job_id)
    rows = jobs.job_metrics(session, job_id)
    return MetricsOut(items=[EpochMetricOut.model_validate(row) for row in rows])


@router.post(
    "/{job_id}/cancel", status_code=202, response_model=JobOut, responses=problem_responses(409)
)
def cancel_job(job_id: str, session: SessionDep, tenant_id: TenantDep) -> JobOut:
    """Cancel the job: at once if queued, after the current epoch if running."""
    return JobOut.model_validate(jobs.cancel_job(session, tenant_id, job_id))


def _existing_job(job_id: str, request: Request, tenant_id: TenantDep) -> str:
    _read_job(request.app.state.settings.database_url, tenant_id, job_id)
    return job_id


@router.get("/{job_id}/events", response_class=EventSourceResponse, responses=STREAM_PROBLEMS)
async def job_events(
    request: Request,
    after: int = Depends(resume_point),
    _slot: None = Depends(stream_slot),  # before the job is read: a refusal costs no query
    job_id: str = Depends(_existing_job),
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: `progress` per epoch, then one `status` when the job ends.

    `Last-Event-ID` (the last epoch received) resumes after that epoch; a value that is not
    such an id answers 400. Each tenant may hold NEURONAL_MAX_EVENT_STREAMS_PER_TENANT
    streams open at once (more answer 429 with Retry-After)."""
    with stream_hub(request).watch("training", job_id, after) as watch:
        while still_streaming(request) and not watch.gone:
            await watch.next_poll()
            if watch.snapshot is None:
                continue
            job, rows = watch.snapshot
            for row in rows:
                if row.epoch <= watch.after:
                    continue
                watch.after = row.epoch
                yield ServerSentEvent(
                    event="progress", id=str(watch.after), raw_data=_progress_json(row, job)
                )
            if job.status in TERMINAL:
                yield ServerSentEvent(
                    event="status", data=job.model_dump(mode="json", by_alias=True)
                )
                return


def _progress_json(row: EpochMetricOut, job: JobOut) -> str:
    """An epoch's `progress` event: its metrics row (accuracies only for a classifier) with
    the epochs asked for and the fraction done, as JSON. Plain numbers need no FastAPI
    encoder; a non-finite figure is null, as FastAPI would write it."""
    names = EVENT_ROW + (ACCURACIES if row.train_accuracy is not None else ())
    # a cross-validated job's rows are its final training's: out of its own epochs, not the
    # folds' too (progress.epochs counts folds + 1 trainings)
    trainings = (job.training.get("cross_validation") or {}).get("folds", 0) + 1
    progress = EpochProgress(row.epoch, job.progress.epochs // trainings)
    numbers = {name: getattr(row, name) for name in names}
    numbers |= {"epochs": progress.epochs, "fraction": progress.fraction}
    finite = {
        k: v if not isinstance(v, float) or math.isfinite(v) else None for k, v in numbers.items()
    }
    return json.dumps(finite)


def _read_job(url: str, tenant_id: str, job_id: str) -> None:
    with session_factory(url)() as session:
        jobs.get_job(session, tenant_id, job_id)


@router.get(
    "/{job_id}/curves.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
def job_curves_svg(job_id: str, session: SessionDep, tenant_id: TenantDep) -> Response:
    """The loss (and accuracy) curves so far, as an SVG image to embed elsewhere."""
    svg = curves.job_curves(session, tenant_id, job_id)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})
