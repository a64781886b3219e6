"""Dataset routes: upload, list, read, delete."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from service.api.deps import SessionDep, SettingsDep, TenantDep
from service.api.problems import V1_PROBLEMS, problem_responses
from service.api.schemas import DatasetOut, DatasetPage
from service.api.uploads import multipart_body, receive_upload
from service.core import db, scratch
from service.domain import datasets
from service.domain.ingest import CsvStream

router = APIRouter(prefix="/v1/datasets", tags=["datasets"], responses=V1_PROBLEMS)

UPLOAD_BODY = multipart_body("name", "target", "layout", "time_column", "group_column")


@router.post(
    "",
    status_code=201,
    response_model=DatasetOut,
    openapi_extra=UPLOAD_BODY,
    responses=problem_responses(400, 413, 415),
)
async def upload_dataset(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    tenant_id: TenantDep,
    settings: SettingsDep,
) -> DatasetOut:
    """Upload a CSV, JSON-records or NPZ file; it is parsed, summarised and stored."""
    with scratch.upload_folder(settings, "dataset") as folder:
        path = Path(folder) / "upload"
        stream = CsvStream(path)  # a CSV is parsed while it arrives
        try:
            upload = await receive_upload(
                request, path, settings.max_upload_bytes, "the data set", stream
            )
        except BaseException:
            stream.abandon()
            raise
        try:
            dataset = await run_in_threadpool(
                datasets.create_dataset,
                session,
                tenant_id,
                upload.path,
                filename=upload.filename,
                content_type=upload.content_type,
                name=upload.text("name"),
                target=upload.text("target"),
                size_bytes=upload.size,
                sha256=upload.sha256,
                max_rows=settings.max_dataset_rows,
                max_columns=settings.max_dataset_columns,
                max_bytes=settings.max_upload_bytes,
                stream=stream,
                layout=upload.text("layout"),
                time_column=upload.text("time_column"),
                group_column=upload.text("group_column"),
            )
        finally:
            stream.close()
    # the commit skipped SQLite's WAL checkpoint so the reply is not kept waiting for it
    background.add_task(db.wal_checkpoint, settings.database_url)
    return DatasetOut.model_validate(dataset)


@router.get("", response_model=DatasetPage)
def list_datasets(
    session: SessionDep,
    tenant_id: TenantDep,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
) -> DatasetPage:
    """Your data sets in summary form (no per-feature summaries: those are on
    GET /v1/datasets/{id})."""
    page = datasets.list_datasets(session, tenant_id, limit=limit, cursor=cursor)
    return DatasetPage.model_validate(page)


@router.get("/{dataset_id}", response_model=DatasetOut)
def get_dataset(dataset_id: str, session: SessionDep, tenant_id: TenantDep) -> DatasetOut:
    return DatasetOut.model_validate(datasets.get_dataset(session, tenant_id, dataset_id))


@router.delete(
    "/{dataset_id}", status_code=204, response_class=Response, responses=problem_responses(409)
)
def delete_dataset(dataset_id: str, session: SessionDep, tenant_id: TenantDep) -> Response:
    datasets.delete_dataset(session, tenant_id, dataset_id)
    return Response(status_code=204)
