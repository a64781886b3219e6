"""Hyperparameter search routes: create, list, read, leaderboard, change limits, cancel,
live events. Trials are training jobs: every /v1/jobs route works on them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Query, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from service.api.deps import ProducerDep, SessionDep, SettingsDep, TenantDep
from service.api.events import STREAM_PROBLEMS, resume_point, still_streaming, stream_slot
from service.api.problems import BODY_PROBLEMS, V1_PROBLEMS, problem_responses
from service.api.schemas_searches import (
    SearchOut,
    SearchPage,
    SearchPatch,
    SearchRequest,
    TrialOut,
    TrialPage,
)
from service.core.config import Settings
from service.core.db import Database, session_factory
from service.core.pagination import Page
from service.domain import searches
from service.domain.search_end import registered_ahead

POLL_SECONDS = 0.5

log = logging.getLogger("neuronal.searches")

router = APIRouter(prefix="/v1/searches", tags=["searches"], responses=V1_PROBLEMS)


def _enqueue_all(producer: Any, job_ids: list[str]) -> Callable[[], None]:
    def send() -> None:
        for job_id in job_ids:
            producer.enqueue_training(job_id)

    return send


@router.post("", status_code=202, response_model=SearchOut, responses=BODY_PROBLEMS)
def create_search(
    body: SearchRequest,
    response: Response,
    background: BackgroundTasks,
    session: SessionDep,
    tenant_id: TenantDep,
    settings: SettingsDep,
    producer: ProducerDep,
    idempotency_key: str | None = Header(None, max_length=200),
) -> SearchOut:
    """Validate the whole space, store the search and start its first trials."""
    request = body.model_dump(mode="json", by_alias=True)
    request["base"] = body.base.model_dump(mode="json", exclude_none=True)
    search, queued = searches.create_search(
        session, tenant_id, request, settings, idempotency_key=idempotency_key
    )
    background.add_task(_enqueue_all(producer, queued))  # after the session has committed
    response.headers["Location"] = f"/v1/searches/{search.id}"
    return SearchOut.model_validate(searches.describe(session, search))


@router.get("", response_model=SearchPage)
def list_searches(
    session: SessionDep,
    tenant_id: TenantDep,
    status: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
) -> SearchPage:
    page: Page[Any] = searches.list_searches(
        session, tenant_id, status=status, limit=limit, cursor=cursor
    )
    items = [SearchOut.model_validate(searches.describe(session, s)) for s in page.items]
    return SearchPage(items=items, next_cursor=page.next_cursor)


@router.get("/{search_id}", response_model=SearchOut)
def get_search(search_id: str, session: SessionDep, tenant_id: TenantDep) -> SearchOut:
    search = searches.get_search(session, tenant_id, search_id)
    return SearchOut.model_validate(searches.describe(session, search))


@router.get("/{search_id}/trials", response_model=TrialPage)
def search_trials(search_id: str, session: SessionDep, tenant_id: TenantDep) -> TrialPage:
    """The leaderboard: every trial, best objective first."""
    rows = searches.leaderboard(session, tenant_id, search_id)
    return TrialPage(items=[TrialOut.model_validate(row) for row in rows])


@router.patch(
    "/{search_id}",
    response_model=SearchOut,
    responses={**BODY_PROBLEMS, **problem_responses(409)},
)
def update_search(
    search_id: str,
    body: SearchPatch,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    tenant_id: TenantDep,
    settings: SettingsDep,
    producer: ProducerDep,
) -> SearchOut:
    """Change limits while the search runs: raising max_trials adds trials."""
    limits = body.limits.model_dump(exclude_unset=True)
    search, queued = searches.update_limits(session, tenant_id, search_id, limits, settings)
    background.add_task(_enqueue_all(producer, queued))
    if registered_ahead(search):  # it ends a lease after this commit, the answer not held
        background.add_task(_end_after_lease, request.app.state.database, settings, producer,
                            search.id)  # fmt: skip
    return SearchOut.model_validate(searches.describe(session, search))


async def _end_after_lease(
    database: Database, settings: Settings, producer: Any, search_id: str
) -> None:
    """End a search whose alias moved in a committed request once a resolution lease has
    passed, as a PUT of an alias answers a lease after its commit: by the time the search
    reads `succeeded`, no API process predicts with what the alias pointed at before. If this
    process dies meanwhile, the workers' periodic reconcile ends it (a lease later too)."""
    await asyncio.sleep(settings.registry_cache_seconds)

    def end() -> list[str]:
        with database.transaction() as session:
            return searches.end_registered(session, search_id, settings)

    try:
        queued = await run_in_threadpool(end)
    except Exception as exc:  # the database out of reach: the workers' reconcile ends it
        log.warning("search %s not ended after its alias moved: %s", search_id, exc)
        return
    _enqueue_all(producer, queued)()


@router.post(
    "/{search_id}/cancel",
    status_code=202,
    response_model=SearchOut,
    responses=problem_responses(409),
)
def cancel_search(
    search_id: str, session: SessionDep, tenant_id: TenantDep, settings: SettingsDep
) -> SearchOut:
    """Stop the search: queued trials at once, running ones after their current epoch."""
    search = searches.cancel_search(session, tenant_id, search_id, settings)
    return SearchOut.model_validate(searches.describe(session, search))


def _existing_search(search_id: str, request: Request, tenant_id: TenantDep) -> str:
    with session_factory(request.app.state.settings.database_url)() as session:
        searches.get_search(session, tenant_id, search_id)
    return search_id


@router.get("/{search_id}/events", response_class=EventSourceResponse, responses=STREAM_PROBLEMS)
async def search_events_stream(
    request: Request,
    after: int = Depends(resume_point),
    _slot: None = Depends(stream_slot),
    search_id: str = Depends(_existing_search),
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: `trial` as each trial ends, `best` when the best trial changes,
    then one `status` when the search ends. Event ids count the trial events sent, so
    `Last-Event-ID` resumes after that many ended trials."""
    url = request.app.state.settings.database_url
    sent, best = after, None
    while still_streaming(request):
        news = await run_in_threadpool(_read_news, url, search_id, sent)
        if news is None:  # deleted meanwhile
            return
        for trial in news.ended:
            sent += 1
            yield ServerSentEvent(event="trial", id=str(sent), data=trial)
        if news.best is not None and news.best != best:
            best = news.best
            yield ServerSentEvent(event="best", data=best)
        if news.finished:
            yield ServerSentEvent(event="status", data=news.search)
            return
        await asyncio.sleep(POLL_SECONDS)


@dataclass(frozen=True)
class News:
    ended: list[dict[str, Any]]  # trials ended since the last poll, as leaderboard rows
    best: dict[str, Any] | None
    finished: bool
    search: dict[str, Any]  # the search as GET /v1/searches/{id} answers it


def _read_news(url: str, search_id: str, sent: int) -> News | None:
    with session_factory(url)() as session:
        search = session.get(searches.Search, search_id)
        if search is None:
            return None
        described = searches.describe(session, search)
        out = SearchOut.model_validate(described).model_dump(mode="json", by_alias=True)
        ended = searches.ended_trials(session, search)[sent:]
        rows = [TrialOut.model_validate(row).model_dump(mode="json") for row in ended]
        return News(rows, out["best"], out["status"] in searches.SEARCH_TERMINAL, out)
