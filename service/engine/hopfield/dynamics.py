"""Settling a batch of states `(b, n)` of -1/+1 values under symmetric weights `W` `(n, n)`.

Unit i's field is `h_i = Σ_j w_ij s_j - θ_i`. An update sets `s_i = sign(h_i + tie·s_i)`: the
unit flips only when its field opposes it by more than `tie`, a tolerance far above the
rounding of a sum and far below any real field, so a tie (`h_i = 0`, common with Hebbian
weights) keeps the state instead of letting rounding decide. A sweep is one iteration:
`async` updates every unit once, in an order drawn from the generator for the whole batch (the
k-th sweep of every pattern uses the k-th order, so a pattern's result does not depend on the
others in its batch); `sync` updates all units at once from the same fields. A state is
converged when it is a fixed point: no update would change it. Under `sync` a state may
instead alternate between two states (a 2-cycle, the only other attractor of symmetric
weights); that is detected, stops the pattern, and is reported as not converged.

The energy `E(s) = -1/2 sᵀ W s + θᵀ s` never rises under asynchronous updates: flipping unit
i changes it by `-2 |h_i| < 0` (zero diagonal, symmetric W).

Inside, states are columns of an `(n + 1, b)` array whose last row is 1, and the update
matrix is `[W + tie·I | -θ]`: one unit's update is one matrix-vector product and one
`copysign`, for the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Trace = Callable[[np.ndarray, int, np.ndarray], None]


@dataclass
class Settled:
    """Final states `(b, n)`, energies (one array per row: its start, then one per sweep),
    iterations `(b,)` (sweeps run), converged `(b,)` (fixed points) and cycled `(b,)`."""

    states: np.ndarray
    energy: list[np.ndarray]
    iterations: np.ndarray
    converged: np.ndarray
    cycled: np.ndarray


def energy(W: np.ndarray, theta: np.ndarray, states: np.ndarray) -> np.ndarray:
    """`E(s) = -1/2 sᵀ W s + θᵀ s` for each row of `states` `(b, n)` → `(b,)`."""
    columns = np.asarray(states, dtype=np.float64).T
    return _energy(W, theta, columns)


def tie_tolerance(W: np.ndarray, theta: np.ndarray) -> float:
    """The tie of the update rule: 1e-9 of the largest possible field."""
    scale = float(np.abs(W).sum(axis=1).max(initial=0.0)) + float(np.abs(theta).max(initial=0.0))
    return 1e-9 * max(scale, 1e-300)


def update_matrix(W: np.ndarray, theta: np.ndarray, tie: float | None = None) -> np.ndarray:
    """`[W + tie·I | -θ]` `(n, n + 1)`: its product with `[s; 1]` is `h + tie·s`."""
    n = W.shape[0]
    U = np.empty((n, n + 1))
    U[:, :n] = W
    U[np.arange(n), np.arange(n)] += tie_tolerance(W, theta) if tie is None else tie
    U[:, n] = -theta
    return U


def fixed_points(U: np.ndarray, states: np.ndarray) -> np.ndarray:
    """`(b,)` bool: which rows of `states` `(b, n)` no update would change."""
    columns = _columns(np.asarray(states, dtype=np.float64))
    return np.all(np.copysign(1.0, U @ columns) == columns[:-1], axis=0)


def settle(
    W: np.ndarray,
    theta: np.ndarray,
    states: np.ndarray,
    *,
    update: str,
    max_iterations: int,
    rng: np.random.Generator,
    trace: Trace | None = None,
) -> Settled:
    """Run sweeps until every state is a fixed point, cycles, or has had `max_iterations`.

    `trace(rows, unit, states)` is called after every single-unit update of an async sweep
    with the batch rows being updated and their states `(len(rows), n)`.
    """
    X = _columns(np.asarray(states, dtype=np.float64))
    n, b = W.shape[0], X.shape[1]
    tie = tie_tolerance(W, theta)
    U = update_matrix(W, theta, tie)
    fields = U @ X
    rows, values = [np.arange(b)], [_energy_from_fields(fields, X, theta, tie)]
    iterations = np.zeros(b, dtype=np.int64)
    proposal = np.copysign(1.0, fields)
    converged = np.all(proposal == X[:-1], axis=0)
    cycled = np.zeros(b, dtype=bool)
    active = np.flatnonzero(~converged)
    proposal, two_back = proposal[:, active], X[:-1, active]
    for sweep in range(1, max_iterations + 1):
        if active.size == 0:
            break
        current = X[:, active]
        one_back = current[:-1].copy()
        if update == "async":
            _async_sweep(current, U, rng.permutation(n), active, trace)
        else:
            current[:-1] = proposal
        X[:, active] = current
        fields = U @ current
        rows.append(active)
        values.append(_energy_from_fields(fields, current, theta, tie))
        iterations[active] = sweep
        proposal = np.copysign(1.0, fields)
        fixed = np.all(proposal == current[:-1], axis=0)
        cycle = ~fixed & np.all(current[:-1] == two_back, axis=0) & (sweep > 1)
        converged[active[fixed]] = True
        cycled[active[cycle]] = True
        keep = ~(fixed | cycle)
        active, proposal, two_back = active[keep], proposal[:, keep], one_back[:, keep]
    energies = _per_row(np.concatenate(rows), np.concatenate(values), iterations + 1)
    return Settled(X[:-1].T.copy(), energies, iterations, converged, cycled)


def _async_sweep(
    X: np.ndarray, U: np.ndarray, order: np.ndarray, rows: np.ndarray, trace: Trace | None
) -> None:
    """One asynchronous sweep over the columns of `X` in place, units in `order`."""
    field = np.empty(X.shape[1])
    for i in order.tolist():
        np.dot(U[i], X, out=field)
        np.copysign(1.0, field, out=X[i])
        if trace is not None:
            trace(rows, i, X[:-1].T)


def _per_row(rows: np.ndarray, values: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """Values recorded sweep by sweep for the `rows` then active → one array per row."""
    order = np.argsort(rows, kind="stable")  # within a row, the sweeps stay in order
    return np.split(values[order], np.cumsum(counts)[:-1])


def _columns(states: np.ndarray) -> np.ndarray:
    """Rows `(b, n)` → columns with a row of ones below `(n + 1, b)`, C-contiguous."""
    X = np.ones((states.shape[1] + 1, states.shape[0]))
    X[:-1] = states.T
    return X


def _energy_from_fields(
    fields: np.ndarray, X: np.ndarray, theta: np.ndarray, tie: float
) -> np.ndarray:
    """The energy of columns `X` from `fields = U X = W s + tie·s - θ`: no second product.

    `-1/2 sᵀ W s + θᵀ s = -1/2 sᵀ (fields + θ - tie·s) + θᵀ s`, and `sᵀ s = n`.
    """
    s = X[:-1]
    return -0.5 * np.einsum("ib,ib->b", s, fields) + 0.5 * (theta @ s) + 0.5 * tie * len(s)


def _energy(W: np.ndarray, theta: np.ndarray, columns: np.ndarray) -> np.ndarray:
    return -0.5 * np.einsum("ib,ib->b", columns, W @ columns) + theta @ columns
