"""Batch prediction routes: submit a file of rows for a model, follow the job, download the CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from service.api.deps import ProducerDep, SessionDep, SettingsDep, TenantDep
from service.api.events import (
    STREAM_PROBLEMS,
    resume_point,
    still_streaming,
    stream_hub,
    stream_slot,
)
from service.api.problems import V1_PROBLEMS, problem_responses
from service.api.schemas_models import PredictionJobOut, PredictionJobPage
from service.api.uploads import multipart_body, receive_upload
from service.core import scratch
from service.core.db import session_factory
from service.core.lifecycle import TERMINAL
from service.domain import batch_predictions as predictions
from service.domain import trained_models as models_registry

router = APIRouter(tags=["predictions"], responses=V1_PROBLEMS)

UPLOAD_BODY = multipart_body()


@router.post(
    "/v1/models/{model_id}/predictions",
    status_code=202,
    response_model=PredictionJobOut,
    openapi_extra=UPLOAD_BODY,
    responses=problem_responses(400, 413, 415),
)
async def create_prediction_job(
    model_id: str,
    request: Request,
    response: Response,
    background: BackgroundTasks,
    session: SessionDep,
    tenant_id: TenantDep,
    settings: SettingsDep,
    producer: ProducerDep,
) -> PredictionJobOut:
    """Upload rows to predict (CSV, JSON records or NPZ `X`; columns matched by the model's
    feature names, others ignored) and queue them for a worker."""
    await run_in_threadpool(models_registry.get_model, session, tenant_id, model_id)
    with scratch.upload_folder(settings, "predict") as folder:
        upload = await receive_upload(
            request, Path(folder) / "upload", settings.max_upload_bytes, "the rows to predict"
        )
        job = await run_in_threadpool(
            predictions.create_prediction_job,
            session,
            tenant_id,
            model_id,
            upload.path,
            filename=upload.filename,
            content_type=upload.content_type,
            settings=settings,
        )
    # the session commits before the response; the message is sent after it
    background.add_task(producer.enqueue_prediction, job.id)
    response.headers["Location"] = f"/v1/predictions/{job.id}"
    return PredictionJobOut.model_validate(job)


@router.get("/v1/predictions", response_model=PredictionJobPage)
def list_prediction_jobs(
    session: SessionDep,
    tenant_id: TenantDep,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
) -> PredictionJobPage:
    page = predictions.list_prediction_jobs(session, tenant_id, limit=limit, cursor=cursor)
    return PredictionJobPage.model_validate(page)


@router.get("/v1/predictions/{job_id}", response_model=PredictionJobOut)
def get_prediction_job(job_id: str, session: SessionDep, tenant_id: TenantDep) -> PredictionJobOut:
    job = predictions.get_prediction_job(session, tenant_id, job_id)
    return PredictionJobOut.model_validate(job)


@router.get(
    "/v1/predictions/{job_id}/result",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **problem_responses(409)},
)
def download_predictions(job_id: str, session: SessionDep, tenant_id: TenantDep) -> Response:
    """The predictions as CSV, one row per input row in order: the input's columns, then
    `prediction`, then a `probability_<class>` column per class for a classifier (text that
    a spreadsheet would run as a formula starts with '). 409 until the job has succeeded."""
    data = predictions.prediction_csv(session, tenant_id, job_id)
    return Response(
        data,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{job_id}.csv"'},
    )


@router.post(
    "/v1/predictions/{job_id}/cancel",
    status_code=202,
    response_model=PredictionJobOut,
    responses=problem_responses(409),
)
def cancel_prediction_job(
    job_id: str, session: SessionDep, tenant_id: TenantDep
) -> PredictionJobOut:
    """Cancel the job: at once if queued, after the current chunk of rows if running."""
    job = predictions.cancel_prediction_job(session, tenant_id, job_id)
    return PredictionJobOut.model_validate(job)


@router.delete("/v1/predictions/{job_id}", status_code=204, response_class=Response)
def delete_prediction_job(job_id: str, session: SessionDep, tenant_id: TenantDep) -> Response:
    predictions.delete_prediction_job(session, tenant_id, job_id)
    return Response(status_code=204)


def _existing_job(job_id: str, request: Request, tenant_id: TenantDep) -> str:
    _read_job(request.app.state.settings.database_url, tenant_id, job_id)
    return job_id


@router.get(
    "/v1/predictions/{job_id}/events", response_class=EventSourceResponse, responses=STREAM_PROBLEMS
)
async def prediction_events(
    request: Request,
    after: int = Depends(resume_point),
    _slot: None = Depends(stream_slot),  # before the job is read: a refusal costs no query
    job_id: str = Depends(_existing_job),
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: `progress` each time a chunk of rows is done, then one `status`.

    `Last-Event-ID` (the last row count received) resumes after it; a value that is not
    such an id answers 400. Streams per tenant are capped as for training jobs (429)."""
    with stream_hub(request).watch("prediction", job_id, after) as watch:
        while still_streaming(request) and not watch.gone:
            await watch.next_poll()
            if watch.snapshot is None:
                continue
            job: PredictionJobOut = watch.snapshot
            if job.progress.rows_done > watch.after:
                watch.after = job.progress.rows_done
                yield ServerSentEvent(
                    event="progress", id=str(watch.after), data=job.progress.model_dump()
                )
            if job.status in TERMINAL:
                yield ServerSentEvent(event="status", data=job.model_dump(mode="json"))
                return


def _read_job(url: str, tenant_id: str, job_id: str) -> None:
    with session_factory(url)() as session:
        predictions.get_prediction_job(session, tenant_id, job_id)
