"""The worker's side of the per-job memory budget: the submission estimate checked again
before a job loads anything (the budget may have changed since it was queued), and a soft
limit on the process's data segment so an estimate that was wrong fails the job with a
MemoryError instead of exhausting the machine.

RLIMIT_DATA rather than RLIMIT_AS: address space is reserved generously by BLAS threads and
malloc arenas without being used, while the data segment counts what numpy actually maps.
"""

from __future__ import annotations

import logging
import resource
from pathlib import Path

from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.errors import InvalidInput
from service.core.tables import Dataset, TrainingJob
from service.domain.job_cost import check_cost, estimate

log = logging.getLogger("neuronal.worker")

LIMIT_FACTOR = 2  # the limit leaves each job twice its budget: the estimate is no exact count


def limit_process_memory(settings: Settings) -> int | None:
    """Cap the data segment at what the process uses now plus `LIMIT_FACTOR` budgets per
    concurrent job; returns the limit in bytes (None where it cannot be set)."""
    used = _data_segment_bytes()
    if used is None:
        return None
    limit = used + LIMIT_FACTOR * settings.max_job_memory_bytes * settings.worker_concurrency
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    except (ValueError, OSError) as exc:
        log.warning("could not limit the worker's memory: %s", exc)
        return None
    return limit


def over_budget(session: Session, job_id: str, settings: Settings) -> str | None:
    """Why the job cannot run within this worker's budget, or None when it can."""
    job = session.get(TrainingJob, job_id)
    dataset = session.get(Dataset, job.dataset_id) if job is not None else None
    if job is None or dataset is None:
        return None  # loading it says what is gone
    try:
        cost = estimate(dataset, job.network, job.training, job.task, settings)
        check_cost(cost, job.training, settings)
    except InvalidInput as exc:
        return exc.detail
    return None


TRAINING_ADVICE = (
    'lower training.batch_size, use fewer or smaller layers, set training.dtype to "float32", '
    "or train on fewer rows or columns (long category labels take memory too)"
)


def out_of_memory_message(settings: Settings, advice: str = TRAINING_ADVICE) -> str:
    budget = settings.max_job_memory_bytes / 1024**3
    return (
        f"The job ran out of the memory this worker allows per job (twice a budget of "
        f"{budget:.1f} GiB, NEURONAL_MAX_JOB_MEMORY_BYTES); {advice}."
    )


def _data_segment_bytes() -> int | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmData:"):
            return int(line.split()[1]) * 1024
    return None
