"""Small sequence data sets for the recurrent tests: a grouped time series as CSV, sequences
of varying length as .npz."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import numpy as np

SERIES_ROWS = 120  # per group


def series_csv(
    groups: tuple[str, ...] = ("north", "south"), seed: int = 0, rows: tuple[int, ...] = ()
) -> bytes:
    """A noisy daily sine per group (`load`, the target) and a temperature feature, with the
    rows shuffled so that only the `day` column gives their order; `rows` per group
    (default `SERIES_ROWS` each)."""
    rng = np.random.default_rng(seed)
    lines: list[list] = []
    start = date(2024, 1, 1)
    for g, name in enumerate(groups):
        for t in range(rows[g] if rows else SERIES_ROWS):
            load = np.sin(2 * np.pi * t / 24 + g) + 0.05 * rng.normal()
            temp = np.cos(2 * np.pi * t / 24) + 0.1 * rng.normal()
            lines.append(
                [(start + timedelta(days=t)).isoformat(), name, round(temp, 4), round(load, 4)]
            )
    order = rng.permutation(len(lines))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["day", "site", "temp", "load"])
    writer.writerows(lines[i] for i in order)
    return out.getvalue().encode()


def sequences_npz(
    n: int = 240, T: int = 10, seed: int = 0
) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
    """Sequences of 3..T steps of 2 features; the class is whether the first feature sums to
    more than zero over the real steps. Returns (npz bytes, X, lengths, y)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, 2))
    lengths = rng.integers(3, T + 1, size=n)
    for i, length in enumerate(lengths):
        X[i, length:] = 0
    y = np.array(
        ["up" if X[i, :length, 0].sum() > 0 else "down" for i, length in enumerate(lengths)]
    )
    buffer = io.BytesIO()
    np.savez(buffer, X=X, y=y, lengths=lengths)
    return buffer.getvalue(), X, lengths, y


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()
