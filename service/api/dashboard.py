"""The dashboard page at `/` and its static files under `/static` (not part of the API)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

from service.api import dashboard_files as dashboard

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=FileResponse)
def index() -> FileResponse:
    """The dashboard page."""
    return FileResponse(dashboard.INDEX, media_type="text/html", headers=dashboard.index_headers())


def mount_static(app: FastAPI) -> None:
    """Serve `service/api/static/` under `/static`."""
    app.mount("/static", StaticFiles(directory=dashboard.STATIC_DIR), name="static")
