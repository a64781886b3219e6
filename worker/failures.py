"""How a job that raised ends: the user's fault, told to the user, or a bug of ours.

Only the errors that say what the user can change (the engine's `EngineError`s: bad data, a
spec that cannot train, a run that diverged; and the service's own `NeuronalError`s) end a
job with their message. Anything else is a bug: the tenant reads a generic message under
`internal` and the traceback goes to the worker's log, where whoever runs the server sees it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from service.core.errors import NeuronalError, from_engine
from service.engine import EngineError

log = logging.getLogger("neuronal.worker")

TRAINING_ERROR = "training_error"
PREDICTION_ERROR = "prediction_error"
INTERNAL = "internal"
INTERNAL_MESSAGE = (
    "The job failed on an error of this server, not of its data or settings; it has been "
    "logged. Submit the job again, and report its id if it keeps failing."
)


@dataclass(frozen=True)
class Failure:
    """What a failed job records: its `error_code` and its `error` message."""

    code: str
    message: str


def classify(exc: Exception, *, user_code: str) -> Failure:
    """The failure `exc` ends a job with; `user_code` is the code of the user's own errors
    for this kind of job. A bug is logged here, with its traceback."""
    if isinstance(exc, EngineError):
        exc = from_engine(exc)
    if isinstance(exc, NeuronalError):
        return Failure(user_code, exc.detail)
    log.error("job failed on an unexpected %s", type(exc).__name__, exc_info=exc)
    return Failure(INTERNAL, INTERNAL_MESSAGE)
