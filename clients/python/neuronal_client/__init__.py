"""A small typed client for Neuronal's HTTP API; it needs only httpx and httpx-sse.

    with NeuronalClient("http://127.0.0.1:8000", api_key) as client:
        dataset = client.upload_dataset("iris.csv", target="species")
        job = client.create_job(dataset["id"], {"layers": [{"units": 16, "activation": "relu"}]},
                                {"epochs": 20, "optimizer": {"name": "adam"}})
        job = client.wait_for_job(job["id"], on_progress=print)
        client.predict(job["model_id"], records=[{"sepal_length": 5.1, ...}])

Every error answer is raised as an `ApiError` subclass carrying the problem+json, and a
server that cannot be reached as `ServerUnreachable` (status 0). Reads, job submission
(always under an Idempotency-Key) and predictions are retried on connection errors and
502/503/504; uploads and deletes are retried only when the connection never opened.
"""

from neuronal_client.client import NeuronalClient
from neuronal_client.errors import (
    ApiError,
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ServerUnreachable,
    UnsendableRequest,
)
from neuronal_client.transport import DEFAULT_URL
from neuronal_client.types import (
    FINISHED,
    DatasetInfo,
    EpochProgress,
    JobInfo,
    JobProgress,
    JobStatus,
    ListPage,
    ModelInfo,
    PredictionJobInfo,
    PredictionProgress,
    PredictionResult,
    RecallResult,
    SearchBest,
    SearchInfo,
    SearchStatus,
    SearchTrialCounts,
    TrialInfo,
)

__all__ = [
    "DEFAULT_URL",
    "FINISHED",
    "ApiError",
    "AuthenticationError",
    "ConflictError",
    "DatasetInfo",
    "EpochProgress",
    "InvalidRequestError",
    "JobInfo",
    "JobProgress",
    "JobStatus",
    "ListPage",
    "ModelInfo",
    "NeuronalClient",
    "NotFoundError",
    "PredictionJobInfo",
    "PredictionProgress",
    "PredictionResult",
    "RateLimitError",
    "RecallResult",
    "SearchBest",
    "SearchInfo",
    "SearchStatus",
    "SearchTrialCounts",
    "ServerError",
    "ServerUnreachable",
    "TrialInfo",
    "UnsendableRequest",
]
