"""Whether a validated job fits the model it warm-starts from: the features (names, kinds,
categories), the classes, the layer shapes, and for `continue` the data set and the whole
spec. Each refusal is an InvalidInput naming the first difference and what to change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.core.errors import InvalidInput, field_error
from service.core.tables import Dataset, TrainedModel
from service.domain.datasets import load_categories
from service.engine.spec import n_outputs

SHOWN_CATEGORIES = 5  # how many differences a refusal names; all of them are compared

SPEC_HINT = (
    "continue resumes the source's optimizer, schedule and random state, so it needs the "
    "source's spec: leave {field} out to use it, or use mode fine_tune"
)


def check_same_data(session: Session, model: TrainedModel, dataset: Dataset, task: str) -> None:
    """Refuse data the source model's inputs and outputs do not fit (checked before the
    job's spec, so the data's own mismatch is what the 422 names)."""
    if task != model.task:
        raise _invalid(
            f"The source model {model.id!r} is a {model.task} model; a warm start keeps its "
            f"task, not {task!r}.",
            ["body", "task"],
        )
    _check_features(session, model, dataset)
    if task == "classification":
        _check_classes(model, dataset)


def check_continue(
    model: TrainedModel, dataset: Dataset, network: dict[str, Any], training: dict[str, Any]
) -> None:
    """`continue`: the source's data set and spec, only the number of epochs new."""
    if dataset.id != model.dataset_id:
        raise _invalid(
            f"continue trains on the source model's data set {model.dataset_id!r}, not "
            f"{dataset.id!r}; leave dataset_id out, or use mode fine_tune to train on "
            "other data.",
            ["body", "dataset_id"],
        )
    for key in sorted(model.network.keys() | network.keys()):
        if model.network.get(key) != network.get(key):
            raise _invalid(
                f"network.{key} is {network.get(key)!r}; the source model's is "
                f"{model.network.get(key)!r}. " + SPEC_HINT.format(field="network") + ".",
                ["body", "network", key],
            )
    for key in sorted((model.training.keys() | training.keys()) - {"epochs", "cross_validation"}):
        if model.training.get(key) != training.get(key):
            raise _invalid(
                f"training.{key} is {training.get(key)!r}; the source model's is "
                f"{model.training.get(key)!r}. " + SPEC_HINT.format(field=f"training.{key}")
                + ".",
                ["body", "training", key],
            )  # fmt: skip


def _check_features(session: Session, model: TrainedModel, dataset: Dataset) -> None:
    theirs = {f["name"]: f for f in dataset.features}
    ours = {f["name"]: f for f in model.features if _is_input(f, dataset)}
    for name in ours.keys() - theirs.keys():
        raise _invalid(
            f"Feature {name!r} is missing from dataset {dataset.id!r}; the source model "
            f"{model.id!r} was trained on it. Use data with the source model's features.",
            ["body", "dataset_id"],
        )
    for name in theirs.keys() - ours.keys():
        raise _invalid(
            f"Feature {name!r} of dataset {dataset.id!r} is not a feature of the source "
            f"model {model.id!r}; drop that column, or train a new model.",
            ["body", "dataset_id"],
        )
    if dataset.layout == "sequences" and list(theirs) != [f["name"] for f in model.features]:
        raise _invalid(
            f"The features of dataset {dataset.id!r} are {list(theirs)}; the source model's "
            f"are {[f['name'] for f in model.features]}, and a sequence's values are read in "
            "that order.",
            ["body", "dataset_id"],
        )
    for name, feature in ours.items():
        _check_kind(name, feature, theirs[name], dataset.id)
    _check_categories(session, dataset, ours, theirs)


def _is_input(feature: dict[str, Any], dataset: Dataset) -> bool:
    """A series model's features include its target column, which is no dataset feature."""
    return not (dataset.layout == "series" and feature["name"] == dataset.target.get("name"))


def _check_kind(name: str, ours: dict[str, Any], theirs: dict[str, Any], dataset_id: str):
    if ours["kind"] != theirs.get("kind"):
        raise _invalid(
            f"Feature {name!r} is {theirs.get('kind')} in dataset {dataset_id!r} but "
            f"{ours['kind']} in the source model; use data where it has the same kind.",
            ["body", "dataset_id"],
        )


def _check_categories(
    session: Session, dataset: Dataset, ours: dict[str, Any], theirs: dict[str, Any]
) -> None:
    """Refuse a category the source model never saw, comparing every category: the data
    set's summary lists only its most frequent ones, so the rest are read from its data."""
    names = [name for name, f in ours.items() if f["kind"] == "categorical"]
    top = {name: list(theirs[name].get("top") or []) for name in names}
    partial = [n for n in names if int(theirs[n].get("categories", 0)) > len(top[n])]
    top.update(load_categories(session, dataset, partial) if partial else {})
    for name in names:
        known = set(ours[name].get("categories") or [])
        unseen = [c for c in top[name] if c not in known]
        if unseen:
            noun = "category" if len(unseen) == 1 else "categories"
            raise _invalid(
                f"Feature {name!r} of dataset {dataset.id!r} has {len(unseen)} {noun} the "
                f"source model never saw: {_listed(unseen)}; it knows "
                f"{_listed(sorted(known))}. A warm start keeps the source's encoding, so use "
                "data with those categories only.",
                ["body", "dataset_id"],
            )


def _listed(values: list[str]) -> str:
    head = ", ".join(repr(v) for v in values[:SHOWN_CATEGORIES])
    more = len(values) - SHOWN_CATEGORIES
    return f"[{head}{f', and {more} more' if more > 0 else ''}]"


def _check_classes(model: TrainedModel, dataset: Dataset) -> None:
    ours, theirs = list(model.classes or []), list(dataset.target.get("classes") or [])
    for label in ours:
        if label not in theirs:
            raise _invalid(
                f"Class {label!r} of the source model {model.id!r} is missing from the "
                f"target of dataset {dataset.id!r}; a warm start keeps the source's output "
                "layer, so the data needs the same classes.",
                ["body", "dataset_id"],
            )
    for label in theirs:
        if label not in ours:
            raise _invalid(
                f"The target of dataset {dataset.id!r} has class {label!r}, which the source "
                f"model {model.id!r} does not predict (its classes are {ours}); use data "
                "with the source model's classes.",
                ["body", "dataset_id"],
            )


def check_layers(model: TrainedModel, network: dict[str, Any]) -> None:
    """Refuse a (validated) network whose weights have other shapes than the source's."""
    ours, theirs = model.network["layers"], network["layers"]
    if len(theirs) != len(ours):
        raise _invalid(
            f"The network has {len(theirs)} hidden layers; the source model's has "
            f"{len(ours)}. A warm start keeps the source's weights, so use its layers.",
            ["body", "network", "layers"],
        )
    for i, (mine, source) in enumerate(zip(theirs, ours, strict=True)):
        kind, source_kind = mine.get("type", "dense"), source.get("type", "dense")
        if kind != source_kind:
            raise _invalid(
                f"network.layers[{i}] is a {kind} layer; the source model's is {source_kind}.",
                ["body", "network", "layers", i, "type"],
            )
        if mine["units"] != source["units"]:
            raise _invalid(
                f"network.layers[{i}] has {mine['units']} units; the source model's has "
                f"{source['units']}.",
                ["body", "network", "layers", i, "units"],
            )
    n_classes = len(model.classes) if model.classes else None
    mine_out = n_outputs(network, model.task, n_classes, 1)
    source_out = n_outputs(model.network, model.task, n_classes, 1)
    if mine_out != source_out:
        raise _invalid(
            f"The output layer has {mine_out} units ({network['output_activation']}); the "
            f"source model's has {source_out} ({model.network['output_activation']}); use "
            "its output activation.",
            ["body", "network", "output_activation"],
        )


def _invalid(detail: str, loc: list[str | int]) -> InvalidInput:
    return InvalidInput(detail, errors=[field_error(loc, detail.split(";")[0])])
