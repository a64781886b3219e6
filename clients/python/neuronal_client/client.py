"""`NeuronalClient`: every route of Neuronal's HTTP API (docs/api.md), one method each."""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, cast

import httpx

from neuronal_client.searches import SearchRoutes
from neuronal_client.transport import DEFAULT_URL, Transport
from neuronal_client.types import (
    FINISHED,
    DatasetInfo,
    EpochProgress,
    JobInfo,
    JobStatus,
    ListPage,
    ModelInfo,
    PredictionJobInfo,
    PredictionProgress,
    PredictionResult,
    RecallResult,
)
from neuronal_client.waiting import Deadline, follow, poll

FileLike = str | Path | bytes | IO[bytes]


class NeuronalClient(SearchRoutes):
    """One connection pool to a Neuronal server, authenticated with one API key (the
    search routes come from `SearchRoutes`).

    Raises ValueError for a `base_url` that is not an http:// or https:// address."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": "neuronal-client/0.1"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._api = Transport(
            base_url, headers, timeout=timeout, retries=retries, backoff=backoff,
            transport=transport,
        )  # fmt: skip

    def __enter__(self) -> NeuronalClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._api.close()

    def health(self) -> dict[str, Any]:
        """GET /healthz: the API process is up."""
        return cast(dict[str, Any], self._api.json("GET", "/healthz"))

    def ready(self) -> dict[str, Any]:
        """GET /readyz: `{"status": "ready"|"unavailable", "checks": {...}}`, never raising
        for a 503 (that answer is the information)."""
        response = self._api.send("GET", "/readyz", retry=False, answers=(503,))
        return cast(dict[str, Any], response.json())

    # -- datasets ----------------------------------------------------------------------------

    def upload_dataset(
        self,
        path_or_bytes: FileLike,
        *,
        name: str | None = None,
        target: str | None = None,
        filename: str | None = None,
        layout: str | None = None,
        time_column: str | None = None,
        group_column: str | None = None,
    ) -> DatasetInfo:
        """Upload a CSV, JSON-records or NPZ file (a path, bytes, or a binary file object);
        `filename` names bytes so the server can tell the format (default `data.csv`).
        `layout="series"` (with `time_column`, `group_column`) uploads a time series."""
        fields = (("name", name), ("target", target), ("layout", layout),
                  ("time_column", time_column), ("group_column", group_column))  # fmt: skip
        data = {k: v for k, v in fields if v}
        return cast(DatasetInfo, self._upload("/v1/datasets", path_or_bytes, filename, data))

    def list_datasets(self, limit: int = 50, cursor: str | None = None) -> ListPage[DatasetInfo]:
        params = {"limit": limit, "cursor": cursor}
        return cast(ListPage[DatasetInfo], self._api.json("GET", "/v1/datasets", params=params))

    def iter_datasets(self, page_size: int = 100) -> Iterator[DatasetInfo]:
        """Every dataset of the tenant, following cursors."""
        return self._api.pages("/v1/datasets", {"limit": page_size})

    def get_dataset(self, dataset_id: str) -> DatasetInfo:
        return cast(DatasetInfo, self._api.json("GET", f"/v1/datasets/{dataset_id}"))

    def delete_dataset(self, dataset_id: str) -> None:
        self._api.json("DELETE", f"/v1/datasets/{dataset_id}", retry=False)

    # -- training jobs -----------------------------------------------------------------------

    def create_job(
        self,
        dataset_id: str,
        network: dict[str, Any],
        training: dict[str, Any],
        task: str | None = None,
        idempotency_key: str | None = None,
    ) -> JobInfo:
        """Submit a training job. Sent under an Idempotency-Key (a fresh one unless given) so
        the retries of a transient failure can never create a second job."""
        body: dict[str, Any] = {"dataset_id": dataset_id, "network": network, "training": training}
        if task is not None:
            body["task"] = task
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return cast(JobInfo, self._api.json("POST", "/v1/jobs", json=body, headers=headers))

    def list_jobs(
        self, status: JobStatus | None = None, limit: int = 50, cursor: str | None = None
    ) -> ListPage[JobInfo]:
        params = {"status": status, "limit": limit, "cursor": cursor}
        return cast(ListPage[JobInfo], self._api.json("GET", "/v1/jobs", params=params))

    def iter_jobs(self, status: JobStatus | None = None, page_size: int = 100) -> Iterator[JobInfo]:
        """Every job of the tenant (optionally with one status), following cursors."""
        return self._api.pages("/v1/jobs", {"limit": page_size, "status": status})

    def get_job(self, job_id: str) -> JobInfo:
        return cast(JobInfo, self._api.json("GET", f"/v1/jobs/{job_id}"))

    def get_metrics(self, job_id: str) -> list[dict[str, Any]]:
        """The job's per-epoch metrics rows, oldest first."""
        rows = self._api.json("GET", f"/v1/jobs/{job_id}/metrics")["items"]
        return cast(list[dict[str, Any]], rows)

    def cancel_job(self, job_id: str) -> JobInfo:
        return cast(JobInfo, self._api.json("POST", f"/v1/jobs/{job_id}/cancel"))

    def iter_events(
        self, job_id: str, *, last_event_id: str | None = None, read_timeout: float = 60.0
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """The job's server-sent events as `(event, data)`: `progress` once per epoch (after
        `last_event_id`, an epoch number), then `status` with the finished job."""
        return self._api.events(f"/v1/jobs/{job_id}/events", last_event_id, read_timeout)

    def wait_for_job(
        self,
        job_id: str,
        on_progress: Callable[[EpochProgress], None] | None = None,
        timeout: float | None = None,
        *,
        poll_interval: float = 1.0,
    ) -> JobInfo:
        """Block until the job finishes and return it. `on_progress` gets every epoch's row
        once, in order, with the job's `epochs` and `fraction` done as the server sends them.
        Follows the event stream; if the stream fails, polls instead (rows caught up by one
        poll share that poll's fraction). Raises TimeoutError after `timeout` seconds."""
        deadline = Deadline(job_id, timeout)
        seen = 0

        def report(row: dict[str, Any]) -> None:
            nonlocal seen
            if row.get("epoch", 0) > seen:
                seen = row["epoch"]
                if on_progress is not None:
                    on_progress(cast(EpochProgress, row))

        events = self.iter_events(job_id, read_timeout=deadline.read_timeout)
        finished = follow(events, report, deadline)
        if finished is not None:
            return cast(JobInfo, finished)

        def fetch() -> JobInfo:
            job = self.get_job(job_id)
            progress = job["progress"]
            if on_progress is not None and progress["epoch"] > seen:
                for row in self.get_metrics(job_id):
                    # the job's progress as the server wrote it when this poll read it
                    done = {"epochs": progress["epochs"], "fraction": progress["fraction"]}
                    report({**row, **done})
            return job

        return poll(fetch, lambda job: job["status"] in FINISHED, deadline, poll_interval)

    # -- models ------------------------------------------------------------------------------

    def list_models(self, limit: int = 50, cursor: str | None = None) -> ListPage[ModelInfo]:
        params = {"limit": limit, "cursor": cursor}
        return cast(ListPage[ModelInfo], self._api.json("GET", "/v1/models", params=params))

    def iter_models(self, page_size: int = 100) -> Iterator[ModelInfo]:
        """Every model of the tenant, following cursors."""
        return self._api.pages("/v1/models", {"limit": page_size})

    def get_model(self, model_id: str) -> ModelInfo:
        return cast(ModelInfo, self._api.json("GET", f"/v1/models/{model_id}"))

    def delete_model(self, model_id: str) -> None:
        self._api.json("DELETE", f"/v1/models/{model_id}", retry=False)

    def download_weights(self, model_id: str) -> bytes:
        """The model as `.npz` bytes (load with `numpy.load(io.BytesIO(b), allow_pickle=False)`)."""
        return self._api.send("GET", f"/v1/models/{model_id}/weights", retry=True).content

    def predict(
        self,
        model_id: str,
        inputs: list[list[Any]] | None = None,
        records: list[dict[str, Any]] | None = None,
        sequences: list[list[list[Any]]] | None = None,
    ) -> PredictionResult:
        """Predictions for raw rows (`inputs`, in feature order), `records` (by name), or
        `sequences` of steps (a recurrent model)."""
        body: dict[str, Any] = {"inputs": inputs} if inputs is not None else {"records": records}
        if sequences is not None:
            body = {"sequences": sequences}
        path = f"/v1/models/{model_id}/predict"
        return cast(PredictionResult, self._api.json("POST", path, json=body))

    # -- batch predictions -------------------------------------------------------------------

    def predict_batch(
        self, model_id: str, path_or_bytes: FileLike, *, filename: str | None = None
    ) -> PredictionJobInfo:
        """Queue a file of rows (CSV, JSON records or NPZ `X`; columns matched by the model's
        feature names, others ignored) for prediction on the workers; returns the job.
        `filename` names bytes so the server can tell the format (default `rows.csv`)."""
        path = f"/v1/models/{model_id}/predictions"
        name = filename or ("rows.csv" if not isinstance(path_or_bytes, str | Path) else None)
        return cast(PredictionJobInfo, self._upload(path, path_or_bytes, name, {}))

    def list_prediction_jobs(
        self, limit: int = 50, cursor: str | None = None
    ) -> ListPage[PredictionJobInfo]:
        params = {"limit": limit, "cursor": cursor}
        page = self._api.json("GET", "/v1/predictions", params=params)
        return cast(ListPage[PredictionJobInfo], page)

    def get_prediction_job(self, job_id: str) -> PredictionJobInfo:
        return cast(PredictionJobInfo, self._api.json("GET", f"/v1/predictions/{job_id}"))

    def cancel_prediction_job(self, job_id: str) -> PredictionJobInfo:
        return cast(PredictionJobInfo, self._api.json("POST", f"/v1/predictions/{job_id}/cancel"))

    def delete_prediction_job(self, job_id: str) -> None:
        self._api.json("DELETE", f"/v1/predictions/{job_id}", retry=False)

    def wait_for_prediction_job(
        self,
        job_id: str,
        on_progress: Callable[[PredictionProgress], None] | None = None,
        timeout: float | None = None,
        *,
        poll_interval: float = 1.0,
    ) -> PredictionJobInfo:
        """Block until the prediction job finishes and return it; `on_progress` gets
        `{"rows_done", "n_rows", "fraction"}` as rows get done. Follows the event stream, and
        polls if it fails. Raises TimeoutError after `timeout` seconds."""
        deadline = Deadline(job_id, timeout)

        def report(progress: Any) -> None:
            if on_progress is not None:
                on_progress(cast(PredictionProgress, progress))

        events = self._api.events(f"/v1/predictions/{job_id}/events", None, deadline.read_timeout)
        finished = follow(events, report, deadline)
        if finished is not None:
            return cast(PredictionJobInfo, finished)

        def fetch() -> PredictionJobInfo:
            job = self.get_prediction_job(job_id)
            report(job["progress"])
            return job

        return poll(fetch, lambda job: job["status"] in FINISHED, deadline, poll_interval)

    def download_predictions(self, job_id: str) -> bytes:
        """The CSV of a succeeded prediction job (ConflictError before it has succeeded)."""
        return self._api.send("GET", f"/v1/predictions/{job_id}/result", retry=True).content

    # -- Hopfield networks -------------------------------------------------------------------

    def recall(
        self,
        model_id: str,
        patterns: list[list[int | float]],
        max_iterations: int | None = None,
        seed: int | None = None,
    ) -> RecallResult:
        """Settle each probe in a stored Hopfield network: `states`, `energy` (per sweep),
        `iterations`, `converged`, `nearest_pattern` and `hamming`, one entry per probe."""
        body: dict[str, Any] = {"patterns": patterns}
        if max_iterations is not None:
            body["max_iterations"] = max_iterations
        if seed is not None:
            body["seed"] = seed
        answer = self._api.json("POST", f"/v1/models/{model_id}/recall", json=body)
        return cast(RecallResult, answer)

    # -- uploads -----------------------------------------------------------------------------

    def _upload(
        self, route: str, source: FileLike, filename: str | None, data: dict[str, str]
    ) -> Any:
        """POST one file as multipart; not retried once sent (it is not idempotent)."""
        if isinstance(source, str | Path):
            path = Path(source)
            with path.open("rb") as handle:
                return self._upload(route, handle, filename or path.name, data)
        name = filename or "data.csv"
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        files = {"file": (name, source, content_type)}
        return self._api.json("POST", route, files=files, data=data, retry=False)
