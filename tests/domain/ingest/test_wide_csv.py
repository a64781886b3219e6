"""A wide CSV (thousands of columns) is read in as few pieces as a narrow one of the same
size would need rows for, and its numbers are stored without a compressor per column:
both costs are fixed per column, so they made wide files many times slower per byte
(benchmarks/wide_csv.py measures the speed)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from service.domain.ingest import decode_dataset, encode_dataset, parse_dataset
from service.domain.ingest.csv_reader import PIECE


def _wide_csv(path: Path, columns: int, rows: int) -> None:
    rng = np.random.default_rng(0)
    values = np.round(rng.random((rows, columns)), 3)
    lines = [",".join(f"f{j}" for j in range(columns)) + ",label"]
    lines += [",".join(map(str, row)) + f",c{i % 3}" for i, row in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")


def test_a_wide_csv_is_parsed_in_few_pieces_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    _wide_csv(path, columns=2000, rows=600)
    assert path.stat().st_size > 3 * PIECE  # several pieces' worth at the narrow size
    parsed = parse_dataset(path, filename=path.name)
    numbers = parsed.columns.column("f0").numbers
    assert len(numbers.arrays) <= 2  # the small first piece, then the rest in one
    columns, target, features = decode_dataset(encode_dataset(parsed))
    assert len(features) == 2000 and len(target) == 600
    expected = np.loadtxt(path, delimiter=",", skiprows=1, usecols=[0, 1999], dtype=np.float32)
    np.testing.assert_array_equal(columns["f0"], expected[:, 0])
    np.testing.assert_array_equal(columns["f1999"], expected[:, 1])


def test_numbers_are_stored_uncompressed_and_text_deflated(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text("a,b,label\n" + "".join(f"{i / 7:.3f},x{i % 4},c{i % 2}\n" for i in range(50)))
    blob = encode_dataset(parse_dataset(path, filename=path.name))
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        kinds = {info.filename: info.compress_type for info in archive.infolist()}
    assert kinds["f0.npy"] == zipfile.ZIP_STORED  # numbers: no compressor set up per column
    assert kinds["f1_labels.npy"] == zipfile.ZIP_DEFLATED
    assert kinds["f1_codes.npy"] == zipfile.ZIP_DEFLATED
