"""What the server-sent event streams of jobs and prediction jobs share."""

from __future__ import annotations

import asyncio

from fastapi import Request

POLL_SECONDS = 0.25


def resume_point(last_event_id: str | None) -> int:
    """The progress a reconnecting client has already seen (its Last-Event-ID), else 0."""
    return int(last_event_id) if last_event_id and last_event_id.isdigit() else 0


async def keep_streaming(request: Request) -> bool:
    """Wait one poll interval; False once the client has gone or the server is stopping."""
    if await request.is_disconnected() or request.app.state.shutting_down:
        return False
    await asyncio.sleep(POLL_SECONDS)
    return True
