"""Dataset routes: upload, list, read, delete."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from service import datasets
from service.api.deps import SessionDep, SettingsDep, TenantDep
from service.api.problems import V1_PROBLEMS, problem_responses
from service.api.uploads import multipart_body, read_upload_form, save_upload, uploaded_file
from service.schemas import DatasetOut, DatasetPage

router = APIRouter(prefix="/v1/datasets", tags=["datasets"], responses=V1_PROBLEMS)

UPLOAD_BODY = multipart_body("name", "target")


@router.post(
    "",
    status_code=201,
    response_model=DatasetOut,
    openapi_extra=UPLOAD_BODY,
    responses=problem_responses(400, 413, 415),
)
async def upload_dataset(
    request: Request, session: SessionDep, tenant_id: TenantDep, settings: SettingsDep
) -> dict[str, Any]:
    """Upload a CSV, JSON-records or NPZ file; it is parsed, summarised and stored."""
    form = await read_upload_form(request, settings.max_upload_bytes)
    upload = uploaded_file(form, "the data set")
    name, target = form.get("name"), form.get("target")
    with tempfile.TemporaryDirectory(prefix="neuronal-upload-") as folder:
        path = Path(folder) / "upload"
        size = await run_in_threadpool(save_upload, upload, path)
        await form.close()
        # SHA-256 releases the GIL: the digest is computed on another core while the file
        # is parsed, and filled in before the transaction commits.
        digest = asyncio.ensure_future(run_in_threadpool(_sha256, path))
        try:
            dataset = await run_in_threadpool(
                datasets.create_dataset,
                session,
                tenant_id,
                path,
                filename=upload.filename,
                content_type=upload.content_type,
                name=name if isinstance(name, str) and name else None,
                target=target if isinstance(target, str) and target else None,
                size_bytes=size,
                sha256="",
                max_rows=settings.max_dataset_rows,
                max_columns=settings.max_dataset_columns,
                max_bytes=settings.max_upload_bytes,
            )
        finally:
            sha256 = await digest
        dataset.sha256 = sha256
    return datasets.dataset_view(dataset)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@router.get("", response_model=DatasetPage)
def list_datasets(
    session: SessionDep,
    tenant_id: TenantDep,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
) -> dict[str, Any]:
    page = datasets.list_datasets(session, tenant_id, limit=limit, cursor=cursor)
    return {
        "items": [datasets.dataset_view(d) for d in page.items],
        "next_cursor": page.next_cursor,
    }


@router.get("/{dataset_id}", response_model=DatasetOut)
def get_dataset(dataset_id: str, session: SessionDep, tenant_id: TenantDep) -> dict[str, Any]:
    return datasets.dataset_view(datasets.get_dataset(session, tenant_id, dataset_id))


@router.delete(
    "/{dataset_id}", status_code=204, response_class=Response, responses=problem_responses(409)
)
def delete_dataset(dataset_id: str, session: SessionDep, tenant_id: TenantDep) -> Response:
    datasets.delete_dataset(session, tenant_id, dataset_id)
    return Response(status_code=204)
