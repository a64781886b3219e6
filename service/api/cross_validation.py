"""The out-of-fold predictions of a cross-validated job, as CSV."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import SessionDep, TenantDep
from service.api.problems import V1_PROBLEMS, problem_responses
from service.domain import jobs
from service.domain.cross_validation import cv_predictions

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=V1_PROBLEMS)


@router.get(
    "/{job_id}/cv-predictions",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **problem_responses(409)},
)
def download_cv_predictions(job_id: str, session: SessionDep, tenant_id: TenantDep) -> Response:
    """The out-of-fold predictions of a cross-validated job, one line per row of its data
    set in row order: `row` (from 0), `fold`, `target`, `prediction`, then a
    `probability_<class>` column per class for a classifier. 409 until every fold has
    succeeded, or when the job was not cross-validated."""
    csv_text = cv_predictions(session, jobs.get_job(session, tenant_id, job_id))
    return Response(
        csv_text,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{job_id}-cv.csv"'},
    )
