"""Ingest speed of wide CSVs (thousands of columns) against narrow ones of the same size.

Run: `.venv/bin/python benchmarks/wide_csv.py` (`--mb 20`, `--repeats 3`). Each file is
ingested as an upload is (``parse_dataset`` then ``encode_dataset``, the bytes stored); the
contender is pyarrow's own multi-threaded ``read_csv`` of the whole file, which only parses.
Contenders alternate within each repeat so background load hits them alike. Prints MB/s
(median of the repeats) and the ratios wide / narrow and ours / pyarrow per shape.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.domain.ingest import encode_dataset, parse_dataset  # noqa: E402

SHAPES = {"narrow": 10, "wide 2,000": 2_000, "wide 10,000": 10_000}


def write_csv(path: Path, columns: int, megabytes: float, seed: int = 0) -> None:
    """`columns` numeric features of 3 decimals and a 3-class label, about `megabytes` MB."""
    rng = np.random.default_rng(seed)
    row_bytes = columns * 6 + 4
    rows = max(10, int(megabytes * 1e6 / row_bytes))
    with path.open("w") as out:
        out.write(",".join(f"f{j}" for j in range(columns)) + ",label\n")
        for start in range(0, rows, 1000):
            block = np.round(rng.random((min(1000, rows - start), columns)), 3)
            for i, values in enumerate(block):
                out.write(",".join(map(str, values)) + f",c{(start + i) % 3}\n")


def ingest(path: Path) -> None:
    encode_dataset(parse_dataset(path, filename=path.name), consume=True)


def arrow_only(path: Path) -> None:
    pacsv.read_csv(path)


def seconds(call: Callable[[Path], None], path: Path) -> float:
    started = time.perf_counter()
    call(path)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20.0, help="size of each file")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (figures are noisy)")
    with tempfile.TemporaryDirectory() as folder:
        files = {}
        for shape, columns in SHAPES.items():
            files[shape] = Path(folder) / f"{columns}.csv"
            write_csv(files[shape], columns, args.mb)
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeats):
            for shape, path in files.items():
                for name, call in (("ours", ingest), ("pyarrow", arrow_only)):
                    times.setdefault((shape, name), []).append(seconds(call, path))
        rate = {
            key: files[key[0]].stat().st_size / 1e6 / statistics.median(values)
            for key, values in times.items()
        }
        print(
            f"{'shape':<12} {'MB':>6} {'ours MB/s':>10} {'pyarrow MB/s':>13} {'ours/pyarrow':>13}"
        )
        for shape, path in files.items():
            ours, arrow = rate[(shape, "ours")], rate[(shape, "pyarrow")]
            size = path.stat().st_size / 1e6
            print(f"{shape:<12} {size:>6.1f} {ours:>10.1f} {arrow:>13.1f} {ours / arrow:>13.2f}")
        for shape in files:
            if shape != "narrow":
                ratio = rate[("narrow", "ours")] / rate[(shape, "ours")]
                print(f"ours: {shape} is {ratio:.1f}x slower per byte than narrow")


if __name__ == "__main__":
    main()
