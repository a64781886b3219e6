"""Learning rules: patterns `(p, n)` of -1/+1 → symmetric weights `(n, n)` with a zero diagonal.

Hebbian (Hopfield, 1982): `W = (1/n) Σ_μ ξ^μ ξ^μᵀ`, one matrix product.

Storkey (1997), pattern by pattern: `w_ij += (ξ_i ξ_j - ξ_i h_ji - h_ij ξ_j) / n` with the local
field `h_ij = Σ_{k≠i,j} w_ik ξ_k`. With `h = W ξ` (the diagonal is zero) `h_ij = h_i - w_ij ξ_j`,
and since `ξ_j² = 1` the update of every pair at once is
`W += (ξ ξᵀ - ξ hᵀ - h ξᵀ + 2 W) / n` off the diagonal: O(n²) per pattern, no loop over units.
"""

from __future__ import annotations

import numpy as np


def hebbian(patterns: np.ndarray) -> np.ndarray:
    """Hebbian weights `(n, n)` float64 from -1/+1 patterns `(p, n)`."""
    xi = patterns.astype(np.float64)
    W = xi.T @ xi
    W /= xi.shape[1]
    np.fill_diagonal(W, 0.0)
    return W


def storkey(patterns: np.ndarray) -> np.ndarray:
    """Storkey weights `(n, n)` float64 from -1/+1 patterns `(p, n)`, learnt in the given order."""
    n = patterns.shape[1]
    W = np.zeros((n, n))
    for xi in patterns.astype(np.float64):
        h = W @ xi
        cross = np.multiply.outer(xi, h)
        cross += cross.T.copy()  # ξ hᵀ + h ξᵀ, symmetric to the last bit
        update = np.multiply.outer(xi, xi)
        update -= cross
        update /= n
        W *= 1.0 + 2.0 / n
        W += update
        np.fill_diagonal(W, 0.0)
    return W


RULES = {"hebbian": hebbian, "storkey": storkey}
