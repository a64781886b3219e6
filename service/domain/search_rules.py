"""The rules of a search request, checked before anything is stored: the space against its
base, every value (and every combination that can be checked) against the job rules of
POST /v1/jobs, the objective against the task, and the grid against the trial budget.

A search that could only fail in its trials is a 422 here, naming the space key and value."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.errors import InvalidInput, field_error
from service.domain.jobs import validate_job_request
from service.domain.search_space import (
    Dimension,
    SpaceError,
    apply_params,
    grid_points,
    parse_space,
)

METRICS = ("val_loss", "val_accuracy", "train_loss", "train_accuracy")
ACCURACIES = ("val_accuracy", "train_accuracy")
# combinations of the space's extreme values checked up front; beyond this each value alone is
MAX_CHECKED_COMBINATIONS = 256


def check_search(
    session: Session, tenant_id: str, request: Mapping[str, Any], settings: Settings
) -> list[Dimension]:
    """The parsed dimensions of a valid search request, or InvalidInput naming the field."""
    base = request["base"]
    task, _, training = _check_job(session, tenant_id, request, base, "base", settings)
    dims = _parse(request["space"], base)
    for dim in dims:
        for value in _extremes(dim):
            _check_params(session, tenant_id, request, settings, {dim.path: value}, single=True)
    _check_combinations(session, tenant_id, request, settings, dims)
    _check_objective(request["objective"], task, training, dims)
    _check_early_termination(request.get("early_termination"), request["objective"], training)
    return dims


def check_grid_size(dims: Sequence[Dimension], request: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The grid's points; a 422 for a continuous dimension, or for a grid larger than
    max_trials unless the caller asked to sample from it (`"sample": true`)."""
    try:
        points = grid_points(dims)
    except SpaceError as exc:
        raise _space_problem(exc) from exc
    max_trials = request["limits"]["max_trials"]
    if len(points) > max_trials and not request.get("sample"):
        raise InvalidInput(
            f"The grid has {len(points):,} configurations but limits.max_trials is "
            f"{max_trials:,}; raise max_trials to {len(points):,}, make the space smaller, "
            'or set "sample": true to train a random subset of the grid.',
            errors=[field_error(["body", "limits", "max_trials"], "smaller than the grid")],
        )
    return points


def _parse(space: Mapping[str, Any], base: Mapping[str, Any]) -> list[Dimension]:
    if not space:
        raise InvalidInput(
            "space is empty: name at least one path of base to search over, e.g. "
            '{"training.optimizer.learning_rate": {"log_uniform": [0.0001, 0.1]}}.',
            errors=[field_error(["body", "space"], "empty")],
        )
    try:
        return parse_space(space, base)
    except SpaceError as exc:
        raise _space_problem(exc) from exc


def _space_problem(exc: SpaceError) -> InvalidInput:
    return InvalidInput(str(exc), errors=[field_error(["body", "space", exc.key], str(exc))])


def _extremes(dim: Dimension) -> tuple[Any, ...]:
    """The values of `dim` to check one by one: every choice, or both ends of a range."""
    if dim.values is not None:
        return tuple(dim.values)
    assert dim.low is not None and dim.high is not None
    if dim.kind == "int":
        return (int(dim.low), int(dim.high))
    return (dim.low, dim.high)


def _check_combinations(
    session: Session,
    tenant_id: str,
    request: Mapping[str, Any],
    settings: Settings,
    dims: Sequence[Dimension],
) -> None:
    """Every combination of extreme values, when there are few enough of them to check (a
    value fine alone may not be with another: a batch size and a validation fraction)."""
    if len(dims) < 2:
        return
    axes = [_extremes(dim) for dim in dims]
    count = 1
    for axis in axes:
        count *= len(axis)
    if count > MAX_CHECKED_COMBINATIONS:
        return
    for values in itertools.product(*axes):
        params = {dim.path: value for dim, value in zip(dims, values, strict=True)}
        _check_params(session, tenant_id, request, settings, params, single=False)


def _check_params(
    session: Session,
    tenant_id: str,
    request: Mapping[str, Any],
    settings: Settings,
    params: Mapping[str, Any],
    *,
    single: bool,
) -> None:
    try:
        body = apply_params(request["base"], params)
    except SpaceError as exc:
        raise _space_problem(exc) from exc
    try:
        validate_job_request(session, tenant_id, {**body, "dataset_id": request["dataset_id"]},
                             settings)  # fmt: skip
    except InvalidInput as exc:
        where = ", ".join(f"{path} = {value!r}" for path, value in params.items())
        what = "the value" if single else "the combination"
        key = next(iter(params)) if single else "space"
        loc: list[str | int] = ["body", "space", key] if single else ["body", "space"]
        raise InvalidInput(
            f"space: {what} {where} makes an impossible job: {exc.detail}",
            errors=[field_error(loc, f"{where} is refused: {exc.detail}")],
        ) from exc


def _check_job(
    session: Session,
    tenant_id: str,
    request: Mapping[str, Any],
    body: Mapping[str, Any],
    where: str,
    settings: Settings,
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    try:
        return validate_job_request(
            session, tenant_id, {**body, "dataset_id": request["dataset_id"]}, settings
        )
    except InvalidInput as exc:
        first = (exc.errors or [{"loc": []}])[0]["loc"]
        loc: list[str | int] = ["body", where, *[part for part in first if part != "body"]]
        raise InvalidInput(f"{where}: {exc.detail}", errors=[field_error(loc, exc.detail)]) from exc


def _check_objective(
    objective: Mapping[str, Any],
    task: str,
    training: Mapping[str, Any],
    dims: Sequence[Dimension],
) -> None:
    metric = objective["metric"]
    loc: list[str | int] = ["body", "objective", "metric"]
    if metric.startswith("cv."):
        if not training.get("cross_validation"):
            raise InvalidInput(
                f"objective.metric {metric!r} is a cross-validation figure, but base.training "
                "has no cross_validation; add one or optimise val_loss.",
                errors=[field_error(loc, "needs training.cross_validation")],
            )
        return
    if metric not in METRICS:
        raise InvalidInput(
            f"objective.metric {metric!r} is not a figure trials report; use one of "
            f"{', '.join(METRICS)} (or cv.val_loss / cv.val_accuracy with cross-validation).",
            errors=[field_error(loc, "unknown metric")],
        )
    if metric in ACCURACIES and task != "classification":
        raise InvalidInput(
            f"objective.metric {metric!r} needs a classification task; this search's trials "
            "are regressions, so optimise val_loss or train_loss.",
            errors=[field_error(loc, "accuracy of a regression")],
        )
    fraction_searched = any(dim.path == "training.validation_fraction" for dim in dims)
    if (
        metric.startswith("val_")
        and not training.get("validation_fraction")
        and not (fraction_searched)
    ):
        raise InvalidInput(
            f"objective.metric {metric!r} is measured on validation rows, but "
            "base.training.validation_fraction is 0; set it above 0 or optimise train_loss.",
            errors=[field_error(loc, "no validation rows")],
        )


def _check_early_termination(
    rule: Mapping[str, Any] | None, objective: Mapping[str, Any], training: Mapping[str, Any]
) -> None:
    if rule is None:
        return
    loc: list[str | int] = ["body", "early_termination"]
    if objective["metric"].startswith("cv."):
        raise InvalidInput(
            "early_termination needs a figure recorded every epoch, and a cross-validation "
            "metric is only known at the end; optimise val_loss, or drop early_termination.",
            errors=[field_error(loc, "not with a cv metric")],
        )
    epochs = int(training.get("epochs", 1))
    if rule["min_epochs"] >= epochs:
        raise InvalidInput(
            f"early_termination.min_epochs {rule['min_epochs']} is not below the trials' "
            f"{epochs} epochs, so no trial could ever be stopped early; lower min_epochs or "
            "train for more epochs.",
            errors=[field_error([*loc, "min_epochs"], f"must be below {epochs}")],
        )
