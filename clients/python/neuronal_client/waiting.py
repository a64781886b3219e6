"""Waiting for a job: follow its event stream, and poll if the stream fails."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from neuronal_client.errors import ServerError, ServerUnreachable

STREAM_READ_TIMEOUT = 60.0
T = TypeVar("T")


class Deadline:
    """When waiting for `job_id` must give up (never, without a timeout)."""

    def __init__(self, job_id: str, timeout: float | None) -> None:
        self.job_id = job_id
        self.at = None if timeout is None else time.monotonic() + timeout
        limit = STREAM_READ_TIMEOUT if timeout is None else min(timeout, STREAM_READ_TIMEOUT)
        self.read_timeout = max(limit, 0.1)

    def check(self) -> None:
        """Raise TimeoutError once the deadline has passed."""
        if self.at is not None and time.monotonic() > self.at:
            raise TimeoutError(f"job {self.job_id} has not finished within the timeout")


def follow(
    events: Iterable[tuple[str, dict[str, Any]]],
    on_progress: Callable[[dict[str, Any]], None],
    deadline: Deadline,
) -> dict[str, Any] | None:
    """Hand every `progress` event to `on_progress`; the finished job from the `status`
    event, or None when the stream failed or ended before it (then poll)."""
    try:
        for event, data in events:
            if event == "progress":
                on_progress(data)
            elif event == "status":
                return data
            deadline.check()
    except (ServerUnreachable, ServerError):
        deadline.check()
    return None


def poll(
    fetch: Callable[[], T], finished: Callable[[T], bool], deadline: Deadline, interval: float
) -> T:
    """`fetch()` every `interval` seconds until `finished` says so; the last answer."""
    while True:
        answer = fetch()
        if finished(answer):
            return answer
        deadline.check()
        time.sleep(interval)
