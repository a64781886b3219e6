"""The space of a hyperparameter search: what each key of `space` may take, the trial
configurations it holds (a grid, or random draws), and the key that tells two configurations
apart.

A space maps a path into the base job (see `search_paths`) to one of
`{"choice": [v, ...]}`, `{"uniform": [low, high]}`, `{"log_uniform": [low, high]}` or
`{"int": [low, high], "step"?: s, "log"?: bool}`. A configuration (`params`) maps the same
paths to one value each; values are plain JSON types.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from service.domain.search_dimensions import (
    KINDS,
    Dimension,
    SpaceError,
    canonical,
    int_grid,
    parse_dimension,
    plain,
    snap_int,
)
from service.domain.search_paths import PathError, locations, overlaps, set_path

__all__ = [
    "KINDS",
    "Dimension",
    "SpaceError",
    "apply_params",
    "config_key",
    "grid_points",
    "grid_size",
    "int_grid",
    "parse_space",
    "sample_random",
    "snap_int",
]
MAX_DIMENSIONS = 64
MAX_GRID_POINTS = 100_000


def parse_space(space: Mapping[str, Any], base: Mapping[str, Any]) -> list[Dimension]:
    """Check every key of `space` (its shape, and that its path exists in `base`); return one
    Dimension per key, in the space's order."""
    if not isinstance(space, Mapping) or not space:
        raise SpaceError(
            "space",
            space,
            'space must be a non-empty object such as {"training.l2": {"uniform": [0, 0.001]}}.',
        )
    if len(space) > MAX_DIMENSIONS:
        raise SpaceError(
            "space",
            len(space),
            f"space has {len(space)} keys; at most {MAX_DIMENSIONS} are allowed.",
        )
    dims: list[Dimension] = []
    taken: list[tuple[str, tuple]] = []
    for path, spec in space.items():
        dims.append(parse_dimension(path, spec))
        for place in _places(base, path):
            for other, other_place in taken:
                if overlaps(place, other_place):
                    raise SpaceError(
                        path,
                        spec,
                        f"space key {path} sets the same value as {other}; keep one of them.",
                    )
            taken.append((path, place))
    return dims


def apply_params(base: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of `base` with each path of `params` set (`[*]` sets every list item)."""
    document = json.loads(json.dumps(base))
    for path, value in params.items():
        set_path(document, path, value)
    return document


def grid_size(dims: Sequence[Dimension]) -> int:
    """How many configurations the grid over `dims` holds (without listing them); SpaceError
    on a continuous dimension."""
    return math.prod(_grid_count(dim) for dim in dims)


def grid_points(dims: Sequence[Dimension]) -> list[dict[str, Any]]:
    """Every configuration of the grid, in a fixed order (the last dimension varies fastest)."""
    size = grid_size(dims)
    if size > MAX_GRID_POINTS:
        raise SpaceError(
            "space",
            size,
            f"The grid holds {size:,} configurations; at most "
            f"{MAX_GRID_POINTS:,} can be listed: use fewer values, or the random "
            "or tpe strategy.",
        )
    columns = [_grid_values(dim) for dim in dims]
    return [
        {dim.path: value for dim, value in zip(dims, combination, strict=True)}
        for combination in itertools.product(*columns)
    ]


def sample_random(dims: Sequence[Dimension], rng: np.random.Generator) -> dict[str, Any]:
    """One configuration drawn uniformly (log-uniformly where asked) from every dimension."""
    return {dim.path: _draw(dim, rng) for dim in dims}


def config_key(params: Mapping[str, Any]) -> str:
    """A canonical digest of a configuration, the same in every process: sha256 of its JSON
    with sorted keys, integral floats written as integers (so 64 and 64.0 are one value)."""
    text = json.dumps(canonical(dict(params)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _draw(dim: Dimension, rng: np.random.Generator) -> Any:
    if dim.kind == "choice":
        assert dim.values is not None
        return plain(dim.values[int(rng.integers(len(dim.values)))])
    assert dim.low is not None and dim.high is not None
    if dim.kind == "uniform":
        return float(rng.uniform(dim.low, dim.high))
    if dim.kind == "log_uniform":
        return float(math.exp(rng.uniform(math.log(dim.low), math.log(dim.high))))
    if dim.log:
        return snap_int(dim, math.exp(rng.uniform(math.log(dim.low), math.log(dim.high))))
    grid = int_grid(dim)
    return grid[int(rng.integers(len(grid)))]


def _grid_values(dim: Dimension) -> list[Any]:
    if dim.kind == "choice":
        assert dim.values is not None
        return [plain(value) for value in dim.values]
    return int_grid(dim)


def _grid_count(dim: Dimension) -> int:
    if dim.kind == "choice":
        assert dim.values is not None
        return len(dim.values)
    if dim.kind == "int":
        return _steps(dim) + 1
    raise SpaceError(
        dim.path,
        {dim.kind: [dim.low, dim.high]},
        f"space key {dim.path} is a "
        f"continuous range ({dim.kind}), which a grid cannot list; give it "
        '{"choice": [...]} values or an "int" range, or use the random or tpe '
        "strategy.",
    )


def _steps(dim: Dimension) -> int:
    assert dim.low is not None and dim.high is not None
    return (int(dim.high) - int(dim.low)) // int(dim.step or 1)


def _places(base: Mapping[str, Any], path: str) -> list[tuple]:
    try:
        return locations(base, path)
    except PathError as exc:
        raise SpaceError(path, path, f"space key {path}: {exc}.") from None
