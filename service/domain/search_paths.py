"""Paths into a job body, as a search space names them: `training.optimizer.learning_rate`,
`network.layers[1].activation`, `network.layers[*].units` (`[*]` is every item of a list).

A path must lead to a value that is in the base job. The one exception is its last key: when
the object holding it is in the base and the engine knows that key as an option of that object
(`training.l2`, `training.optimizer.beta1` for Adam, `network.layers[0].dropout`), the key may
be missing, since the job would take its default there. Anything else missing (a typo, an
object that is not in the base) is an error naming the path.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from typing import Any

from service.engine.optimizers import OPTIMIZERS
from service.engine.recurrent_spec import LAYER_KEYS, SEQUENCE_KEYS
from service.engine.schedules import SCHEDULES
from service.engine.spec import EARLY_STOPPING, NETWORK_KEYS, TRAINING_KEYS

Step = str | int | None  # a key, a list index, or None for `[*]`
_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[(?:\*|\d+)\])*)")
_INDEX = re.compile(r"\[(\*|\d+)\]")


class PathError(ValueError):
    """A path that is malformed or leads nowhere in the base; the message says why."""


def parse_path(path: str) -> list[Step]:
    """`"network.layers[*].units"` → `["network", "layers", None, "units"]`."""
    if not isinstance(path, str) or not path:
        raise PathError("a path must be a non-empty string such as training.l2")
    steps: list[Step] = []
    for segment in path.split("."):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise PathError(
                f"{segment!r} is not a key: write keys separated by dots, each optionally "
                "followed by [n] or [*] for list items (network.layers[0].units)"
            )
        steps.append(match.group(1))
        for index in _INDEX.findall(match.group(2)):
            steps.append(None if index == "*" else int(index))
    return steps


def locations(base: Mapping[str, Any], path: str) -> list[tuple[Step, ...]]:
    """Every concrete place `path` names in `base` (`[*]` expanded to each index); PathError
    when one of them does not exist there and may not be added."""
    steps = parse_path(path)
    return list(_walk(base, steps, (), path))


def _walk(node: Any, steps: list[Step], done: tuple[Step, ...], path: str) -> Iterator[tuple]:
    if not steps:
        yield done
        return
    step, rest = steps[0], steps[1:]
    where = _render(done) or "the base job"
    if isinstance(step, str):
        if not isinstance(node, Mapping):
            raise PathError(f"{where} is not an object, so it has no key {step!r}")
        if step in node:
            yield from _walk(node[step], rest, (*done, step), path)
        elif not rest and step in optional_keys(done, node):
            yield (*done, step)  # the job's default applies there; the search sets it
        else:
            raise PathError(f"{_render((*done, step))} is not in the base job; add it to base")
        return
    if not isinstance(node, list):
        raise PathError(f"{where} is not a list, so it has no items")
    if step is None:
        if not node:
            raise PathError(f"{where} is an empty list, so [*] names nothing")
        for index, item in enumerate(node):
            yield from _walk(item, rest, (*done, index), path)
    elif step >= len(node):
        raise PathError(f"{where} has {len(node)} items, so it has no item [{step}]")
    else:
        yield from _walk(node[step], rest, (*done, step), path)


def optional_keys(parent: tuple[Step, ...], node: Mapping[str, Any]) -> tuple[str, ...]:
    """The keys the engine accepts in the object at `parent` though the base leaves them out."""
    shape = tuple("[]" if isinstance(step, int) else step for step in parent)
    if shape == ("training",):
        return TRAINING_KEYS
    if shape == ("network",):
        return NETWORK_KEYS
    if shape == ("network", "layers", "[]"):
        return LAYER_KEYS.get(str(node.get("type", "dense")), ())
    if shape == ("training", "optimizer"):
        optimizer = OPTIMIZERS.get(str(node.get("name")))
        return tuple(optimizer.hyper) if optimizer is not None else ()
    if shape == ("training", "schedule"):
        return tuple(SCHEDULES.get(str(node.get("name")), {}))
    if shape == ("training", "early_stopping"):
        return tuple(EARLY_STOPPING)
    if shape == ("training", "sequence"):
        return SEQUENCE_KEYS
    return ()


def overlaps(a: tuple[Step, ...], b: tuple[Step, ...]) -> bool:
    """Whether setting one location changes the other (equal, or one inside the other)."""
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def set_path(document: dict[str, Any], path: str, value: Any) -> None:
    """Set `path` in `document` in place (every item for `[*]`); the path must resolve."""
    steps = parse_path(path)
    _set(document, steps, value)


def _set(node: Any, steps: list[Step], value: Any) -> None:
    step, rest = steps[0], steps[1:]
    targets = range(len(node)) if step is None else [step]
    for target in targets:
        if rest:
            _set(node[target], rest, value)
        else:
            node[target] = copy.deepcopy(value)


def _render(steps: tuple[Step, ...]) -> str:
    text = ""
    for step in steps:
        if isinstance(step, str):
            text += f".{step}" if text else step
        else:
            text += "[*]" if step is None else f"[{step}]"
    return text
