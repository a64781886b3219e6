"""The CSV reader's three paths agree: pieces on every core, one whole table, the careful
single-threaded read that names the row at fault.

Pieces are made tiny here so that every piece boundary, a line longer than a piece and a
piece that holds no line start are all exercised on small files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.domain.ingest import DatasetFormatError, csv_reader, parse_dataset
from service.domain.ingest.csv_reader import _piece


@pytest.fixture
def tiny_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_reader, "PIECE", 64)
    monkeypatch.setattr(csv_reader, "OVERRUN", 8)


def mixed_rows(n: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    lines = ["x,colour,y"]
    for i in range(n):
        x = "" if i % 7 == 3 else f"{rng.normal():.4f}"
        colour = "" if i % 11 == 5 else ["red", "green", "a much longer label " * 5][i % 3]
        lines.append(f"{x},{colour},{i % 2}")
    return "\n".join(lines) + "\n"


def parse(path: Path):  # noqa: ANN201
    return parse_dataset(path, filename="data.csv")


def same(a, b) -> None:  # noqa: ANN001
    assert list(a.columns) == list(b.columns)
    for name in a.columns:
        np.testing.assert_array_equal(a.columns[name], b.columns[name])
    np.testing.assert_array_equal(a.target, b.target)
    assert a.features == b.features and a.target_summary == b.target_summary


@pytest.mark.parametrize("piece", [1, 2, 3, 5, 16, 64, 1000])
def test_pieces_cover_every_line_once(tmp_path: Path, piece: int) -> None:
    data = b"h\nab\n\nlong line here\nc\nlast without end"
    path = tmp_path / "lines.csv"
    path.write_bytes(data)
    with path.open("rb") as stream:
        bounds = [0, *range(piece, len(data), piece), len(data)]
        joined = b"".join(
            _piece(stream.fileno(), a, b, len(data))
            for a, b in zip(bounds, bounds[1:], strict=False)
        )
    assert joined == data


def test_pieces_read_what_one_table_reads(
    tmp_path: Path, tiny_pieces: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data.csv"
    path.write_text(mixed_rows(500))
    pieces = parse(path)
    monkeypatch.setattr(csv_reader, "_read_pieces", _refuse)
    whole = parse(path)
    same(pieces, whole)
    assert pieces.n_rows == 500
    assert pieces.features[0]["missing"] == sum(1 for i in range(500) if i % 7 == 3)
    assert pieces.features[1]["kind"] == "categorical"


def _refuse(*_: object) -> None:
    raise csv_reader.WholeTable


def test_text_after_the_first_piece_makes_the_column_categorical(
    tmp_path: Path, tiny_pieces: None
) -> None:
    rows = mixed_rows(300).splitlines()
    rows[250] = "oops," + rows[250].split(",", 1)[1]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(rows) + "\n")
    parsed = parse(path)
    assert parsed.features[0]["kind"] == "categorical"
    assert parsed.columns["x"][249] == "oops"


def test_na_after_the_first_piece_stays_numeric_and_missing(
    tmp_path: Path, tiny_pieces: None
) -> None:
    rows = mixed_rows(300).splitlines()
    rows[250] = "NA," + rows[250].split(",", 1)[1]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(rows) + "\n")
    parsed = parse(path)
    assert parsed.features[0]["kind"] == "numeric"
    assert np.isnan(parsed.columns["x"][249])


@pytest.mark.parametrize(
    "bad, message",
    [
        ("1.0,red", "row 252 has 2 fields but the header has 3 columns"),
        ("1.0,red,0,9", "row 252 has 4 fields but the header has 3 columns"),
        ("1.0,r\xe9d,0".encode("latin-1"), r"line 252 \(approximately\) is not valid UTF-8"),
        (b"1.0,r\0d,0", "line 252 holds a NUL byte"),
    ],
)
def test_a_bad_row_after_the_first_piece_is_named(
    tmp_path: Path, tiny_pieces: None, bad: str | bytes, message: str
) -> None:
    rows = mixed_rows(300).encode().splitlines()
    rows[251] = bad if isinstance(bad, bytes) else bad.encode()
    path = tmp_path / "data.csv"
    path.write_bytes(b"\n".join(rows) + b"\n")
    with pytest.raises(DatasetFormatError, match=message):
        parse(path)


def test_dates_are_categories_on_every_path(tmp_path: Path, tiny_pieces: None) -> None:
    lines = ["when,y"] + [f"2024-01-{1 + i % 28:02d},{i % 2}" for i in range(200)]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    parsed = parse(path)
    assert parsed.features[0]["kind"] == "categorical"
    assert parsed.columns["when"][0] == "2024-01-01"


def test_quoted_file_with_line_breaks_reads_as_one_table(tmp_path: Path, tiny_pieces: None) -> None:
    lines = ["note,y"] + [f'"line one\nline two {i}",{i % 2}' for i in range(100)]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    parsed = parse(path)
    assert parsed.n_rows == 100
    assert parsed.columns["note"][99] == "line one\nline two 99"


# --- parsed while it arrives ---------------------------------------------------------------


def streamed(tmp_path: Path, data: bytes, block: int = 7, **kw: object):  # noqa: ANN201
    """Write `data` block by block as an upload would, telling a CsvStream of each block."""
    from service.domain.ingest import CsvStream

    path = tmp_path / "upload"
    stream = CsvStream(path, piece=64)
    stream.start("data.csv", "text/csv")
    with path.open("wb", buffering=0) as out:
        for start in range(0, len(data), block):
            out.write(data[start : start + block])
            stream.feed(data[start : start + block])
    parsed = parse_dataset(path, filename="data.csv", stream=stream, **kw)
    return stream, parsed


@pytest.mark.parametrize("block", [1, 7, 64, 4096])
def test_a_streamed_csv_reads_as_the_file_does(tmp_path: Path, block: int) -> None:
    data = mixed_rows(300).encode()
    stream, parsed = streamed(tmp_path, data, block)
    assert stream.delivered
    (tmp_path / "plain.csv").write_bytes(data)
    same(parsed, parse(tmp_path / "plain.csv"))
    assert parsed.columns["x"].dtype == np.float32 and parsed.target.dtype == np.float64


def test_a_target_other_than_the_last_column_keeps_float64(tmp_path: Path) -> None:
    lines = ["y,x"] + [f"{i * 0.37:.2f},{i % 3}" for i in range(300)]
    stream, parsed = streamed(tmp_path, ("\n".join(lines) + "\n").encode(), target="y")
    assert not stream.delivered and parsed.target.dtype == np.float64
    assert parsed.target[1] == 0.37  # exact: the narrowed pieces were read again


def test_a_value_beyond_float32_after_the_first_piece_keeps_float64(tmp_path: Path) -> None:
    rows = mixed_rows(300).splitlines()
    rows[280] = "1e300," + rows[280].split(",", 1)[1]
    _, parsed = streamed(tmp_path, ("\n".join(rows) + "\n").encode())
    assert parsed.columns["x"].dtype == np.float64 and parsed.columns["x"][279] == 1e300


@pytest.mark.parametrize(
    "bad, message",
    [
        (b"1.0,red", "row 252 has 2 fields"),
        (b"1.0,r\xe9d,0", r"line 252 \(approximately\) is not valid UTF-8"),
        (b'1.0,"red,0', "row 252 opens a quote"),
    ],
)
def test_a_streamed_bad_row_is_named_as_in_a_file(tmp_path: Path, bad: bytes, message: str) -> None:
    rows = mixed_rows(300).encode().splitlines()
    rows[251] = bad
    with pytest.raises(DatasetFormatError, match=message):
        streamed(tmp_path, b"\n".join(rows) + b"\n")
