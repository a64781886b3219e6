"""Warm starts at submission: `init_from` names a source model, `mode` says how to start from it.

A warm-start job may leave out what the source model already fixes: `dataset_id` (the
source's data set), `task`, `network`, and any field of `training` (each taken from the
source; `training.epochs`, the epochs to add, is required). What it does send must fit the
source (`warm_start_checks`): a 422 names the difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from service.core.errors import InvalidInput, NotFound, field_error
from service.core.tables import Dataset, ModelTrainingState, TrainedModel, TrainingJob
from service.domain.datasets import get_dataset
from service.domain.warm_start_checks import check_continue, check_layers, check_same_data
from service.domain.warm_start_source import resolve_with_names
from service.engine.hopfield import is_hopfield

MODES = ("continue", "fine_tune")


@dataclass(frozen=True)
class WarmStartSource:
    """The resolved source of a warm-start request and how to start from it."""

    model: TrainedModel
    mode: str
    named: dict[str, Any]  # how the request named it: model_id, or registered_model + alias/version

    @property
    def record(self) -> dict[str, Any]:
        """What the job stores (its `init_from` column and answer)."""
        return {**self.named, "model_id": self.model.id, "mode": self.mode}


def complete_request(
    session: Session, tenant_id: str, request: dict[str, Any]
) -> tuple[dict[str, Any], WarmStartSource | None]:
    """The job request with what a warm start leaves out taken from its source model."""
    init_from = request.get("init_from")
    if init_from is None:
        _require_plain_job_fields(request)
        return request, None
    mode = _mode(request, init_from)
    model, named = resolve_with_names(session, tenant_id, init_from)
    if is_hopfield(model.network):
        raise InvalidInput(
            f"Model {model.id!r} is a Hopfield network, which stores patterns instead of "
            "training; warm starts start from a trained network.",
            errors=[field_error(["body", "init_from", "model_id"], "a Hopfield network")],
        )
    completed = {k: v for k, v in request.items() if k not in ("init_from", "mode")}
    completed.setdefault("dataset_id", model.dataset_id)
    completed.setdefault("task", model.task)
    completed.setdefault("network", model.network)
    training = request.get("training") or {}
    if "epochs" not in training:
        raise InvalidInput(
            "training.epochs is required with init_from: the number of epochs to train on top "
            "of the source model.",
            errors=[field_error(["body", "training", "epochs"], "Field required")],
        )
    completed["training"] = {**_inherited_training(model, mode), **training}
    dataset = _own_dataset(session, tenant_id, completed["dataset_id"])
    if dataset is not None:  # else validating the request names the missing data set
        check_same_data(session, model, dataset, completed["task"])
    return completed, WarmStartSource(model, mode, named)


def _inherited_training(model: TrainedModel, mode: str) -> dict[str, Any]:
    """What a warm start's training takes from the source's: all of it but the epochs for
    continue; for fine_tune, a fresh config but the series window, which shapes the inputs."""
    keep = (lambda key: key != "epochs") if mode == "continue" else (lambda key: key == "sequence")
    # the source's folds were an estimate before its model: a warm start trains one model
    return {k: v for k, v in model.training.items() if keep(k) and k != "cross_validation"}


def _own_dataset(session: Session, tenant_id: str, dataset_id: Any) -> Dataset | None:
    try:
        return get_dataset(session, tenant_id, str(dataset_id))
    except NotFound:
        return None


def check_source_fits(
    session: Session,
    tenant_id: str,
    source: WarmStartSource,
    request: dict[str, Any],
    spec: tuple[str, dict[str, Any], dict[str, Any]],
) -> dict[str, Any]:
    """Refuse a validated job (task, network, training) that cannot start from its source;
    returns the job's `init_from` record."""
    _, network, training = spec
    if training.get("cross_validation"):
        raise InvalidInput(
            "A warm start trains one model from its source's weights, so it cannot be "
            "cross-validated; leave out training.cross_validation (or init_from).",
            errors=[field_error(["body", "training", "cross_validation"], "not with init_from")],
        )
    dataset = get_dataset(session, tenant_id, request["dataset_id"])
    check_layers(source.model, network)
    if source.mode == "continue":
        check_continue(source.model, dataset, network, training)
        if session.get(ModelTrainingState, source.model.id) is None:
            raise InvalidInput(
                f"Model {source.model.id!r} has no stored training state (it was trained "
                "before training states were kept), so it cannot be continued; use mode "
                "fine_tune.",
                errors=[field_error(["body", "mode"], "no training state to continue")],
            )
    return source.record


def store_training_state(session: Session, model_id: str, state: bytes | None) -> None:
    """Keep a new model's final training state, which a later `continue` resumes."""
    if state is not None:
        session.add(ModelTrainingState(model_id=model_id, data=state))


def parent_of(job: TrainingJob) -> str | None:
    """The model a job's warm start began from."""
    return (job.init_from or {}).get("model_id")


def _mode(request: dict[str, Any], init_from: dict[str, Any]) -> str:
    mode, inner = request.get("mode"), init_from.get("mode")
    if mode is not None and inner is not None and mode != inner:
        raise InvalidInput(
            f"mode is {mode!r} but init_from.mode is {inner!r}; send one of them.",
            errors=[field_error(["body", "mode"], "two different modes")],
        )
    mode = mode or inner
    if mode not in MODES:
        raise InvalidInput(
            "mode is required with init_from: continue (resume the source's training state "
            "on the same data and spec) or fine_tune (its weights, a fresh optimizer).",
            errors=[field_error(["body", "mode"], "continue or fine_tune")],
        )
    return str(mode)


def _require_plain_job_fields(request: dict[str, Any]) -> None:
    """Without init_from, a job names its data set and network itself."""
    if "mode" in request:
        raise InvalidInput(
            "mode belongs to a warm start; add init_from (the model to start from) or drop mode.",
            errors=[field_error(["body", "mode"], "only with init_from")],
        )
    for name in ("dataset_id", "network"):
        if request.get(name) is None:
            raise InvalidInput(
                f"{name} is required (it may be left out only with init_from, which takes the "
                "source model's).",
                errors=[field_error(["body", name], "Field required")],
            )
