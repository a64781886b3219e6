"""The hyperparameter-search routes of `NeuronalClient` (docs/api.md, "Hyperparameter
searches"): create, list, read, change limits, cancel, the leaderboard and the events."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

from neuronal_client.transport import Transport
from neuronal_client.types import ListPage, SearchInfo, TrialInfo
from neuronal_client.waiting import Deadline, poll

SEARCH_FINISHED = ("succeeded", "failed", "cancelled")


class SearchRoutes:
    """Mixed into `NeuronalClient`, which provides `_api`."""

    _api: Transport

    def create_search(self, spec: dict[str, Any], idempotency_key: str | None = None) -> SearchInfo:
        """Start a search from a POST /v1/searches body (`dataset_id`, `base`, `space`,
        `strategy`, `seed`, `objective`, `early_termination`, `limits`). Sent under an
        Idempotency-Key (a fresh one unless given) so a retry never starts a second search."""
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        answer = self._api.json("POST", "/v1/searches", json=spec, headers=headers)
        return cast(SearchInfo, answer)

    def list_searches(self, limit: int = 50, cursor: str | None = None) -> ListPage[SearchInfo]:
        params = {"limit": limit, "cursor": cursor}
        return cast(ListPage[SearchInfo], self._api.json("GET", "/v1/searches", params=params))

    def iter_searches(self, page_size: int = 100) -> Iterator[SearchInfo]:
        """Every search of the tenant, following cursors."""
        return self._api.pages("/v1/searches", {"limit": page_size})

    def get_search(self, search_id: str) -> SearchInfo:
        return cast(SearchInfo, self._api.json("GET", f"/v1/searches/{search_id}"))

    def search_trials(self, search_id: str) -> list[TrialInfo]:
        """The leaderboard: every trial with its params and objective, best first."""
        answer = self._api.json("GET", f"/v1/searches/{search_id}/trials")
        return cast(list[TrialInfo], answer["items"])

    def patch_search(self, search_id: str, limits: dict[str, Any]) -> SearchInfo:
        """Raise or lower a search's limits (`max_trials`, `max_parallel`,
        `max_runtime_seconds`, `max_failed_trials`), also while it runs."""
        path = f"/v1/searches/{search_id}"
        return cast(SearchInfo, self._api.json("PATCH", path, json={"limits": limits}))

    def cancel_search(self, search_id: str) -> SearchInfo:
        """Cancel a search; its running trials end within one epoch."""
        return cast(SearchInfo, self._api.json("POST", f"/v1/searches/{search_id}/cancel"))

    def iter_search_events(
        self, search_id: str, *, last_event_id: str | None = None, read_timeout: float = 60.0
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """The search's server-sent events as `(event, data)`: `trial` as each trial ends,
        `best` when the best trial changes, then one `status` with the finished search."""
        return self._api.events(f"/v1/searches/{search_id}/events", last_event_id, read_timeout)

    def wait_for_search(
        self,
        search_id: str,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        timeout: float | None = None,
        *,
        poll_interval: float = 2.0,
    ) -> SearchInfo:
        """Block until the search finishes and return it; `on_event` gets each `trial` and
        `best` event. Follows the event stream; if it fails, polls the search instead (then
        no events are reported). Raises TimeoutError after `timeout` seconds."""
        from neuronal_client.errors import ServerError, ServerUnreachable

        deadline = Deadline(search_id, timeout)
        try:
            events = self.iter_search_events(search_id, read_timeout=deadline.read_timeout)
            for event, data in events:
                if event == "status" and data.get("status") in SEARCH_FINISHED:
                    return cast(SearchInfo, data)
                if event in ("trial", "best") and on_event is not None:
                    on_event(event, data)
                deadline.check()
        except (ServerUnreachable, ServerError):
            deadline.check()
        return poll(
            lambda: self.get_search(search_id),
            lambda search: search["status"] in SEARCH_FINISHED,
            deadline,
            poll_interval,
        )
