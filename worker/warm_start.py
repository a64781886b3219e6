"""What a warm-start job trains from: its source model's final training state (continue) or
the source model itself (fine_tune), read when the attempt loads its inputs."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.core.errors import NotFound
from service.core.tables import ModelBlob, ModelTrainingState, TrainingJob
from service.engine import Model
from service.engine.warm_start import WarmStart


def load_warm_start(session: Session, job: TrainingJob) -> WarmStart | None:
    """The job's warm start, or None for a job that starts from fresh weights."""
    if not job.init_from:
        return None
    model_id, mode = job.init_from["model_id"], job.init_from["mode"]
    blob = session.get(ModelBlob, model_id)
    if blob is None:
        raise _gone(model_id)
    model = Model.from_bytes(blob.data)  # its preprocessing, in either mode
    if mode == "continue":
        state = session.get(ModelTrainingState, model_id)
        if state is None:
            raise _gone(model_id)
        return WarmStart("continue", model=model, state=state.data)
    return WarmStart("fine_tune", model=model)


def _gone(model_id: str) -> NotFound:
    return NotFound(
        f"The model {model_id!r} this job starts from has been deleted; submit the job again "
        "with another init_from."
    )
