"""A typed Python client for Neuronal's HTTP API (API.md), on httpx.

    with NeuronalClient("http://127.0.0.1:8000", api_key) as client:
        dataset = client.upload_dataset("iris.csv", target="species")
        job = client.create_job(dataset["id"], {"layers": [{"units": 16, "activation": "relu"}]},
                                {"epochs": 20, "optimizer": {"name": "adam"}})
        job = client.wait_for_job(job["id"], on_progress=print)
        client.predict(job["model_id"], records=[{"sepal_length": 5.1, ...}])
        batch = client.predict_batch(job["model_id"], "rows.csv")  # a file of many rows
        client.wait_for_prediction_job(batch["id"])
        csv_bytes = client.download_predictions(batch["id"])

Every error answer becomes a `NeuronalError` subclass carrying the problem+json. Reads, job
submission (always under an Idempotency-Key) and predictions are retried on connection errors
and 502/503/504; uploads and deletes are retried only when the connection never opened.
"""

from __future__ import annotations

import mimetypes
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Generic, Literal, TypedDict, TypeVar

import httpx
from httpx_sse import connect_sse

DEFAULT_URL = "http://127.0.0.1:8000"
TRANSIENT_STATUSES = (502, 503, 504)
FINISHED = ("succeeded", "failed", "cancelled")
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
T = TypeVar("T")


class Page(TypedDict, Generic[T]):
    items: list[T]
    next_cursor: str | None


class Dataset(TypedDict, total=False):
    id: str
    name: str
    format: str
    layout: str
    n_rows: int
    n_features: int
    sequence_length: int | None
    series: dict[str, Any] | None
    features: list[dict[str, Any]]
    target: dict[str, Any]
    size_bytes: int
    sha256: str
    created_at: str


class Job(TypedDict, total=False):
    id: str
    status: JobStatus
    dataset_id: str
    task: str
    network: dict[str, Any]
    training: dict[str, Any]
    progress: dict[str, Any]
    metrics: dict[str, Any]
    model_id: str | None
    error: str | None
    error_code: str | None
    attempts: int
    created_at: str
    started_at: str | None
    finished_at: str | None


class Model(TypedDict, total=False):
    id: str
    job_id: str
    dataset_id: str
    task: str
    network: dict[str, Any]
    training: dict[str, Any]
    features: list[dict[str, Any]]
    classes: list[Any] | None
    metrics: dict[str, Any]
    size_bytes: int
    created_at: str


class PredictionJob(TypedDict, total=False):
    id: str
    status: JobStatus
    model_id: str
    filename: str | None
    format: str
    progress: dict[str, Any]
    error: str | None
    error_code: str | None
    attempts: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    result_url: str | None


class Prediction(TypedDict, total=False):
    model_id: str
    predictions: list[Any]
    probabilities: list[list[float]]
    classes: list[Any]


class NeuronalError(Exception):
    """An error answer from the service (or a failure to reach it, with status 0)."""

    def __init__(
        self,
        status: int,
        problem: dict[str, Any],
        *,
        request_id: str | None = None,
        headers: httpx.Headers | None = None,
    ) -> None:
        self.status = status
        self.problem = problem
        self.detail: str = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
        self.request_id = request_id or problem.get("request_id")
        self.headers = headers or httpx.Headers()
        super().__init__(f"{status}: {self.detail}")

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The problem's per-field errors (`loc`, `msg`), if any."""
        return list(self.problem.get("errors") or [])


class AuthenticationError(NeuronalError):
    """401: the API key is missing, unknown or revoked."""


class NotFoundError(NeuronalError):
    """404: no such id for this tenant."""


class ConflictError(NeuronalError):
    """409: the resource is busy (a dataset with a running job, say)."""


class ValidationError(NeuronalError):
    """422: the request was understood but refused; `.errors` names the fields."""


class RateLimitError(NeuronalError):
    """429: slow down; `.retry_after` is the server's hint in seconds."""

    @property
    def retry_after(self) -> float | None:
        value = self.headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


class ServerError(NeuronalError):
    """5xx: a server fault or an unavailable dependency; report the request id."""


_ERRORS: dict[int, type[NeuronalError]] = {
    401: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
}


def error_for(response: httpx.Response) -> NeuronalError:
    """The typed error for an error response."""
    try:
        body = response.json()
        problem = body if isinstance(body, dict) else {"detail": str(body)}
    except ValueError:
        problem = {"detail": response.text.strip() or response.reason_phrase}
    problem.setdefault("status", response.status_code)
    status = response.status_code
    cls = _ERRORS.get(status, ServerError if status >= 500 else NeuronalError)
    request_id = problem.get("request_id") or response.headers.get("x-request-id")
    return cls(status, problem, request_id=request_id, headers=response.headers)


class NeuronalClient:
    """One connection pool to a Neuronal server, authenticated with one API key."""

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
        self.retries = max(0, retries)
        self.backoff = backoff
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> NeuronalClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport ---------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> Any:
        """Send, retrying transient failures; the decoded JSON (None for 204), or raise."""
        response = self._send(method, path, retry=retry, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _send(self, method: str, path: str, *, retry: bool, **kwargs: Any) -> httpx.Response:
        if "params" in kwargs:
            kwargs["params"] = {k: v for k, v in kwargs["params"].items() if v is not None}
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                # a connection that never opened sent nothing: safe to retry any request
                if attempt >= self.retries or not (retry or isinstance(exc, httpx.ConnectError)):
                    raise
            else:
                if response.status_code < 400:
                    return response
                if not (retry and response.status_code in TRANSIENT_STATUSES) or (
                    attempt >= self.retries
                ):
                    raise error_for(response)
            time.sleep(self.backoff * 2**attempt)
            attempt += 1

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[Any]:
        cursor: str | None = None
        while True:
            page = self._request("GET", path, params={**params, "cursor": cursor})
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    # -- operations --------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """GET /healthz: the API process is up."""
        result: dict[str, Any] = self._request("GET", "/healthz")
        return result

    def ready(self) -> dict[str, Any]:
        """GET /readyz: `{"status": "ready"|"unavailable", "checks": {...}}`, never raising
        for a 503 (that answer is the information)."""
        response = self._http.get("/readyz")
        if response.status_code not in (200, 503):
            raise error_for(response)
        result: dict[str, Any] = response.json()
        return result

    # -- datasets ----------------------------------------------------------------------------

    def upload_dataset(
        self,
        path_or_bytes: str | Path | bytes | IO[bytes],
        *,
        name: str | None = None,
        target: str | None = None,
        filename: str | None = None,
        layout: str | None = None,
        time_column: str | None = None,
        group_column: str | None = None,
    ) -> Dataset:
        """Upload a CSV, JSON-records or NPZ file (a path, bytes, or a binary file object);
        `filename` names bytes so the server can tell the format (default `data.csv`).
        `layout="series"` (with `time_column`, `group_column`) uploads a time series."""
        fields = (("name", name), ("target", target), ("layout", layout),
                  ("time_column", time_column), ("group_column", group_column))  # fmt: skip
        data = {k: v for k, v in fields if v}
        if isinstance(path_or_bytes, str | Path):
            path = Path(path_or_bytes)
            with path.open("rb") as handle:
                return self._upload(handle, filename or path.name, data)
        if isinstance(path_or_bytes, bytes):
            return self._upload(path_or_bytes, filename or "data.csv", data)
        return self._upload(path_or_bytes, filename or "data.csv", data)

    def _upload(self, content: bytes | IO[bytes], filename: str, data: dict[str, str]) -> Dataset:
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        files = {"file": (filename, content, content_type)}
        result: Dataset = self._request("POST", "/v1/datasets", files=files, data=data, retry=False)
        return result

    def list_datasets(self, limit: int = 50, cursor: str | None = None) -> Page[Dataset]:
        result: Page[Dataset] = self._request(
            "GET", "/v1/datasets", params={"limit": limit, "cursor": cursor}
        )
        return result

    def iter_datasets(self, page_size: int = 100) -> Iterator[Dataset]:
        """Every dataset of the tenant, following cursors."""
        return self._pages("/v1/datasets", {"limit": page_size})

    def get_dataset(self, dataset_id: str) -> Dataset:
        result: Dataset = self._request("GET", f"/v1/datasets/{dataset_id}")
        return result

    def delete_dataset(self, dataset_id: str) -> None:
        self._request("DELETE", f"/v1/datasets/{dataset_id}", retry=False)

    # -- jobs --------------------------------------------------------------------------------

    def create_job(
        self,
        dataset_id: str,
        network: dict[str, Any],
        training: dict[str, Any],
        task: str | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Submit a training job. Sent under an Idempotency-Key (a fresh one unless given) so
        the retries of a transient failure can never create a second job."""
        body: dict[str, Any] = {"dataset_id": dataset_id, "network": network, "training": training}
        if task is not None:
            body["task"] = task
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        result: Job = self._request("POST", "/v1/jobs", json=body, headers=headers)
        return result

    def list_jobs(
        self, status: JobStatus | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[Job]:
        params = {"status": status, "limit": limit, "cursor": cursor}
        result: Page[Job] = self._request("GET", "/v1/jobs", params=params)
        return result

    def iter_jobs(self, status: JobStatus | None = None, page_size: int = 100) -> Iterator[Job]:
        """Every job of the tenant (optionally with one status), following cursors."""
        return self._pages("/v1/jobs", {"limit": page_size, "status": status})

    def get_job(self, job_id: str) -> Job:
        result: Job = self._request("GET", f"/v1/jobs/{job_id}")
        return result

    def get_metrics(self, job_id: str) -> list[dict[str, Any]]:
        """The job's per-epoch metrics rows, oldest first."""
        result: list[dict[str, Any]] = self._request("GET", f"/v1/jobs/{job_id}/metrics")["items"]
        return result

    def cancel_job(self, job_id: str) -> Job:
        result: Job = self._request("POST", f"/v1/jobs/{job_id}/cancel")
        return result

    def iter_events(
        self, job_id: str, *, last_event_id: str | None = None, read_timeout: float = 60.0
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """The job's server-sent events as `(event, data)`: `progress` once per epoch (after
        `last_event_id`, an epoch number), then `status` with the finished job."""
        return self._sse(f"/v1/jobs/{job_id}/events", last_event_id, read_timeout)

    def _sse(
        self, path: str, last_event_id: str | None, read_timeout: float
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        with connect_sse(self._http, "GET", path, headers=headers, timeout=timeout) as source:
            if source.response.status_code >= 400:
                source.response.read()
                raise error_for(source.response)
            for event in source.iter_sse():
                if event.data:
                    yield event.event, event.json()

    def wait_for_job(
        self,
        job_id: str,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        timeout: float | None = None,
        *,
        poll_interval: float = 1.0,
    ) -> Job:
        """Block until the job finishes and return it. `on_progress` gets every epoch's row
        once, in order, with the job's `epochs` and `fraction` done as the server sends them.
        Follows the event stream; if the stream fails, polls instead (rows caught up by one
        poll share that poll's fraction). Raises TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = 0
        try:
            read_timeout = 60.0 if timeout is None else max(min(timeout, 60.0), 0.1)
            for event, data in self.iter_events(job_id, read_timeout=read_timeout):
                if event == "progress" and data.get("epoch", 0) > seen:
                    seen = data["epoch"]
                    if on_progress is not None:
                        on_progress(data)
                elif event == "status":
                    job: Job = data  # type: ignore[assignment]
                    return job
                _check_deadline(deadline, job_id)
        except (httpx.TransportError, ServerError):
            _check_deadline(deadline, job_id)
        return self._poll_job(job_id, on_progress, deadline, seen, poll_interval)

    def _poll_job(
        self,
        job_id: str,
        on_progress: Callable[[dict[str, Any]], None] | None,
        deadline: float | None,
        seen: int,
        interval: float,
    ) -> Job:
        while True:
            job = self.get_job(job_id)
            progress = job["progress"]
            if on_progress is not None and progress["epoch"] > seen:
                for row in self.get_metrics(job_id):
                    if row["epoch"] > seen:
                        seen = row["epoch"]
                        # the job's progress as the server wrote it when this poll read it
                        on_progress(
                            {**row, "epochs": progress["epochs"], "fraction": progress["fraction"]}
                        )
            if job["status"] in FINISHED:
                return job
            _check_deadline(deadline, job_id)
            time.sleep(interval)

    # -- models ------------------------------------------------------------------------------

    def list_models(self, limit: int = 50, cursor: str | None = None) -> Page[Model]:
        result: Page[Model] = self._request(
            "GET", "/v1/models", params={"limit": limit, "cursor": cursor}
        )
        return result

    def iter_models(self, page_size: int = 100) -> Iterator[Model]:
        """Every model of the tenant, following cursors."""
        return self._pages("/v1/models", {"limit": page_size})

    def get_model(self, model_id: str) -> Model:
        result: Model = self._request("GET", f"/v1/models/{model_id}")
        return result

    def delete_model(self, model_id: str) -> None:
        self._request("DELETE", f"/v1/models/{model_id}", retry=False)

    def download_weights(self, model_id: str) -> bytes:
        """The model as `.npz` bytes (load with `numpy.load(io.BytesIO(b), allow_pickle=False)`)."""
        return self._send("GET", f"/v1/models/{model_id}/weights", retry=True).content

    def predict(
        self,
        model_id: str,
        inputs: list[list[Any]] | None = None,
        records: list[dict[str, Any]] | None = None,
        sequences: list[list[list[Any]]] | None = None,
    ) -> Prediction:
        """Predictions for raw rows (`inputs`, in feature order), `records` (by name), or
        `sequences` of steps (a recurrent model)."""
        body: dict[str, Any] = {"inputs": inputs} if inputs is not None else {"records": records}
        if sequences is not None:
            body = {"sequences": sequences}
        result: Prediction = self._request("POST", f"/v1/models/{model_id}/predict", json=body)
        return result

    # -- batch predictions -------------------------------------------------------------------

    def predict_batch(
        self,
        model_id: str,
        path_or_bytes: str | Path | bytes | IO[bytes],
        *,
        filename: str | None = None,
    ) -> PredictionJob:
        """Queue a file of rows (CSV, JSON records or NPZ `X`; columns matched by the model's
        feature names, others ignored) for prediction on the workers; returns the job."""
        if isinstance(path_or_bytes, str | Path):
            path = Path(path_or_bytes)
            with path.open("rb") as handle:
                return self._upload_rows(model_id, handle, filename or path.name)
        return self._upload_rows(model_id, path_or_bytes, filename or "rows.csv")

    def _upload_rows(
        self, model_id: str, content: bytes | IO[bytes], filename: str
    ) -> PredictionJob:
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        files = {"file": (filename, content, content_type)}
        path = f"/v1/models/{model_id}/predictions"
        result: PredictionJob = self._request("POST", path, files=files, retry=False)
        return result

    def list_prediction_jobs(
        self, limit: int = 50, cursor: str | None = None
    ) -> Page[PredictionJob]:
        params = {"limit": limit, "cursor": cursor}
        result: Page[PredictionJob] = self._request("GET", "/v1/predictions", params=params)
        return result

    def get_prediction_job(self, job_id: str) -> PredictionJob:
        result: PredictionJob = self._request("GET", f"/v1/predictions/{job_id}")
        return result

    def cancel_prediction_job(self, job_id: str) -> PredictionJob:
        result: PredictionJob = self._request("POST", f"/v1/predictions/{job_id}/cancel")
        return result

    def delete_prediction_job(self, job_id: str) -> None:
        self._request("DELETE", f"/v1/predictions/{job_id}", retry=False)

    def wait_for_prediction_job(
        self,
        job_id: str,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        timeout: float | None = None,
        *,
        poll_interval: float = 1.0,
    ) -> PredictionJob:
        """Block until the prediction job finishes and return it; `on_progress` gets
        `{"rows_done", "n_rows", "fraction"}` as rows get done. Follows the event stream, and
        polls if it fails. Raises TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            read_timeout = 60.0 if timeout is None else max(min(timeout, 60.0), 0.1)
            for event, data in self._sse(f"/v1/predictions/{job_id}/events", None, read_timeout):
                if event == "progress" and on_progress is not None:
                    on_progress(data)
                elif event == "status":
                    job: PredictionJob = data  # type: ignore[assignment]
                    return job
                _check_deadline(deadline, job_id)
        except (httpx.TransportError, ServerError):
            _check_deadline(deadline, job_id)
        while True:
            job = self.get_prediction_job(job_id)
            if on_progress is not None:
                on_progress(job["progress"])
            if job["status"] in FINISHED:
                return job
            _check_deadline(deadline, job_id)
            time.sleep(poll_interval)

    def download_predictions(self, job_id: str) -> bytes:
        """The CSV of a succeeded prediction job (ConflictError before it has succeeded)."""
        return self._send("GET", f"/v1/predictions/{job_id}/result", retry=True).content

    # -- Hopfield networks -------------------------------------------------------------------

    def recall(
        self,
        model_id: str,
        patterns: list[list[int | float]],
        max_iterations: int | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """Settle each probe in a stored Hopfield network: `states`, `energy` (per sweep),
        `iterations`, `converged`, `nearest_pattern` and `hamming`, one entry per probe."""
        body: dict[str, Any] = {"patterns": patterns}
        if max_iterations is not None:
            body["max_iterations"] = max_iterations
        if seed is not None:
            body["seed"] = seed
        result: dict[str, Any] = self._request("POST", f"/v1/models/{model_id}/recall", json=body)
        return result


def _check_deadline(deadline: float | None, job_id: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise TimeoutError(f"job {job_id} has not finished within the timeout")
