"""Data sets and job specs for the service benchmark."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

DIGITS_NETWORK: dict[str, Any] = {"layers": [{"units": 64, "activation": "relu"}]}


def digits_training(epochs: int = 30) -> dict[str, Any]:
    return {
        "epochs": epochs,
        "batch_size": 32,
        "optimizer": {"name": "adam", "learning_rate": 0.001},
        "seed": 0,
    }


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X.astype(np.float64), y


def table_csv(X: np.ndarray, y: np.ndarray, fmt: str = "%g") -> bytes:
    """A CSV with a header row: features f0..f{d-1}, then `label`."""
    out = io.BytesIO()
    header = ",".join([*(f"f{i}" for i in range(X.shape[1])), "label"])
    np.savetxt(out, np.column_stack([X, y]), delimiter=",", fmt=fmt, header=header, comments="")
    return out.getvalue()


def synthetic(
    rows: int, features: int = 32, classes: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian classes that overlap enough to need training."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, features)) * 0.5
    y = rng.integers(0, classes, rows)
    X = rng.normal(size=(rows, features)) + centers[y]
    return np.round(X, 4), y


def mixed_csv(path: Path, rows: int, seed: int = 0) -> int:
    """A CSV of `rows` rows: 10 numeric and 2 categorical features (about 1% missing cells),
    and a 3-class label; written in blocks. Returns its size in bytes."""
    rng = np.random.default_rng(seed)
    colours = np.array(["red", "green", "blue", "yellow", "purple", ""], dtype=object)
    cities = np.array([f"city{i:02d}" for i in range(40)] + [""], dtype=object)
    header = ",".join([*(f"x{i}" for i in range(10)), "colour", "city", "label"]) + "\n"
    with path.open("w") as out:
        out.write(header)
        done = 0
        while done < rows:
            n = min(100_000, rows - done)
            X = rng.normal(size=(n, 10)) * 100
            text = np.char.mod("%.4f", X).astype(object)
            text[rng.random((n, 10)) < 0.01] = ""
            colour = colours[np.where(rng.random(n) < 0.01, 5, rng.integers(0, 5, n))]
            city = cities[np.where(rng.random(n) < 0.01, 40, rng.integers(0, 40, n))]
            label = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 50).astype(int)
            block = np.column_stack([text, colour, city, label.astype(str)])
            out.write("\n".join(",".join(row) for row in block.tolist()) + "\n")
            done += n
    return path.stat().st_size
