"""Dataset ingest: every format parses, summarises and round-trips; bad uploads say where."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from service.domain.ingest import (
    DatasetFormatError,
    ParsedDataset,
    decode_dataset,
    detect_format,
    encode_dataset,
    parse_dataset,
)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def parse_text(tmp_path: Path, content: str | bytes, name: str = "data.csv", **kw) -> ParsedDataset:
    return parse_dataset(write(tmp_path, name, content), filename=name, **kw)


def refused(
    tmp_path: Path, content: str | bytes, name: str = "data.csv", **kw
) -> DatasetFormatError:
    with pytest.raises(DatasetFormatError) as caught:
        parse_text(tmp_path, content, name, **kw)
    return caught.value


def write_npz(tmp_path: Path, **arrays: np.ndarray) -> Path:
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return path


def assert_round_trip(parsed: ParsedDataset) -> None:
    columns, target, features = decode_dataset(encode_dataset(parsed))
    assert list(columns) == list(parsed.columns)
    assert features == [{"name": f["name"], "kind": f["kind"]} for f in parsed.features]
    for name, values in parsed.columns.items():
        assert columns[name].dtype.kind == values.dtype.kind
        if values.dtype.kind == "f":  # stored as float32 on purpose
            np.testing.assert_allclose(columns[name], values, rtol=1e-6, equal_nan=True)
        else:
            np.testing.assert_array_equal(columns[name], values)
    np.testing.assert_array_equal(target, parsed.target)


CSV = """\
height,colour,flag,when,species
1.5, red ,true,2020-01-01,setosa
2,,false,2020-01-02,virginica
,blue,true,,setosa
NA,red,false,2020-01-03,versicolor
"""


# --- CSV ---------------------------------------------------------------------------------


def test_csv_kinds_missing_and_summaries(tmp_path: Path) -> None:
    parsed = parse_text(tmp_path, CSV)
    assert parsed.format == "csv" and parsed.n_rows == 4
    assert list(parsed.columns) == ["height", "colour", "flag", "when"]
    np.testing.assert_array_equal(parsed.columns["height"], [1.5, 2.0, np.nan, np.nan])
    assert parsed.columns["height"].dtype == np.float32  # as stored and trained on
    np.testing.assert_array_equal(parsed.columns["colour"], ["red", "", "blue", "red"])
    assert parsed.columns["colour"].dtype.kind == "U"
    height, colour, flag, when = parsed.features
    assert height == {
        "name": "height",
        "kind": "numeric",
        "missing": 2,
        "min": 1.5,
        "max": 2.0,
        "mean": 1.75,
    }
    assert colour == {
        "name": "colour",
        "kind": "categorical",
        "missing": 1,
        "categories": 2,
        "top": ["red", "blue"],
    }
    assert flag["kind"] == "categorical" and flag["top"] == ["false", "true"]
    assert when["kind"] == "categorical" and when["missing"] == 1
    assert parsed.target_name == "species"
    assert parsed.target_summary == {
        "name": "species",
        "kind": "categorical",
        "task": "classification",
        "classes": ["setosa", "versicolor", "virginica"],
        "class_counts": [2, 1, 1],
        "missing": 0,
    }
    json.dumps(parsed.features), json.dumps(parsed.target_summary)  # plain JSON types


def test_csv_round_trip(tmp_path: Path) -> None:
    assert_round_trip(parse_text(tmp_path, CSV))


def test_target_defaults_to_last_column_and_can_be_named(tmp_path: Path) -> None:
    text = "a,b,c\n1,x,0\n2,y,1\n3,x,0\n"
    assert parse_text(tmp_path, text).target_name == "c"
    parsed = parse_text(tmp_path, text, target="a")
    assert parsed.target_name == "a" and list(parsed.columns) == ["b", "c"]


def test_integer_classes_are_ints_and_regression_has_no_classes(tmp_path: Path) -> None:
    parsed = parse_text(tmp_path, "x,y\n1,0\n2,1\n3,0\n4,1\n")
    assert parsed.target_summary["classes"] == [0, 1]
    assert all(type(label) is int for label in parsed.target_summary["classes"])
    rows = "".join(f"{i},{i * 0.37:.3f}\n" for i in range(30))
    regression = parse_text(tmp_path, "x,y\n" + rows)
    assert regression.target_summary["task"] == "regression"
    assert "classes" not in regression.target_summary
    assert regression.target.dtype == np.float64


def test_other_delimiters_and_bom(tmp_path: Path) -> None:
    parsed = parse_text(tmp_path, "\ufeffa;b\n1;x\n2;y\n")
    assert list(parsed.columns) == ["a"] and parsed.target_name == "b"


def test_late_text_in_a_numeric_looking_column(tmp_path: Path) -> None:
    rows = "1,0.5,,0\n" * 40_000 + "x,2,3,1\n"  # past Arrow's first block
    parsed = parse_text(tmp_path, "a,b,c,y\n" + rows)
    assert parsed.features[0]["kind"] == "categorical"
    assert parsed.features[2] | {} == {
        "name": "c",
        "kind": "numeric",
        "missing": 40_000,
        "min": 3.0,
        "max": 3.0,
        "mean": 3.0,
    }


@pytest.mark.parametrize(
    ("content", "row", "words"),
    [
        ("a,b,c\n1,2,3\n4,5\n6,7,8\n", 3, "row 3 has 2 fields but the header has 3"),
        ("a,b,c\n1,2,3\n4,5,6,7\n", 3, "row 3 has 4 fields"),
        ('a,b,c\n1,2,3\n4,"5,6\n7,8,9\n', 3, "row 3 opens a quote that is never closed"),
        ('a,b\n1,2\n3,"x\n4,y\n', 3, "row 3 opens a quote that is never closed"),
        ("a,b\n1,2\n3,\xff\n".encode("latin-1"), 3, "line 3 (approximately) is not valid UTF-8"),
        (b"a,b\n1,2\n\x00\x01\x02,3\n", 3, "line 3 holds a NUL byte"),
    ],
)
def test_csv_broken_rows_name_the_row(
    tmp_path: Path, content: str | bytes, row: int, words: str
) -> None:
    error = refused(tmp_path, content)
    assert words in str(error) and error.row == row


def test_csv_non_finite_number_names_row_and_column(tmp_path: Path) -> None:
    error = refused(tmp_path, "x1,x2,y\n1,2,a\n2,3,b\n3,4,a\n4,-inf,b\n")
    assert str(error).startswith("row 5, column 'x2' holds a number too large for a 64-bit")
    assert "-inf" in str(error) and "use a finite number" in str(error)
    assert (error.row, error.column) == (5, "x2")


@pytest.mark.parametrize("suffix", ["csv", "json"])
def test_a_401_digit_number_is_too_large_not_inf(tmp_path: Path, suffix: str) -> None:
    huge = "9" * 401
    content = (
        f"x,y\n1,a\n{huge},b\n"
        if suffix == "csv"
        else f'[{{"x": 1, "y": "a"}}, {{"x": {huge}, "y": "b"}}]'
    )
    error = refused(tmp_path, content, f"data.{suffix}")
    row = 3 if suffix == "csv" else 2  # a CSV's header is its row 1
    assert f"row {row}, column 'x'" in str(error) and "too large for a 64-bit" in str(error)
    assert (error.row, error.column) == (row, "x")


@pytest.mark.parametrize(
    ("content", "column", "words"),
    [
        ("", None, "the file is empty"),
        ("a,b\n", None, "no data rows"),
        ("a,a,y\n1,2,3\n", "a", "'a' appears more than once"),
        ("a,,y\n1,2,3\n", None, "column 2 has no name"),
        ("y\n1\n2\n", None, "needs at least one feature column and a target"),
    ],
)
def test_csv_bad_tables(tmp_path: Path, content: str, column: str | None, words: str) -> None:
    error = refused(tmp_path, content)
    assert words in str(error) and error.column == column


def test_target_errors(tmp_path: Path) -> None:
    rows = "".join(f"{i},{'setosa' if i != 15 else ''}\n" for i in range(20))
    error = refused(tmp_path, "x,species\n" + rows.replace("setosa", "a", 1) + "9,b\n")
    assert str(error) == (
        "row 17 has no value in target column 'species'; every row needs a target"
    )
    assert (error.row, error.column) == (17, "species")
    one_class = parse_text(tmp_path, "x,y\n1,a\n2,a\n")  # a classifier job refuses it later
    assert one_class.target_summary["classes"] == ["a"]
    error = refused(tmp_path, "x,y\n1,2\n2,inf\n")
    assert (error.row, error.column) == (3, "y")
    error = refused(tmp_path, "a,b\n1,2\n", target="nope")
    assert "no column named 'nope'" in str(error) and "'a', 'b'" in str(error)


def test_limits(tmp_path: Path) -> None:
    text = "a,b,c\n" + "1,2,3\n4,5,6\n" * 5
    assert "limit of 2" in str(refused(tmp_path, text, max_columns=2))
    assert "more than 9 rows" in str(refused(tmp_path, text, max_rows=9))
    assert parse_text(tmp_path, text, max_rows=10, max_columns=3).n_rows == 10


# --- JSON --------------------------------------------------------------------------------


def test_json_records(tmp_path: Path) -> None:
    records = [
        {"x": 1, "colour": "red", "ok": True, "y": "a"},
        {"x": 2.5, "y": "b", "extra": 7},
        {"x": None, "colour": "blue", "ok": False, "y": "a"},
    ]
    error = refused(tmp_path, json.dumps(records), "data.json")
    assert (error.row, error.column) == (1, "extra")  # the default target: the last key seen
    parsed = parse_text(tmp_path, json.dumps(records), "data.json", target="y")
    assert parsed.format == "json"
    assert list(parsed.columns) == ["x", "colour", "ok", "extra"]  # first-seen order
    np.testing.assert_array_equal(parsed.columns["x"], [1.0, 2.5, np.nan])
    np.testing.assert_array_equal(parsed.columns["colour"], ["red", "", "blue"])
    np.testing.assert_array_equal(parsed.columns["ok"], ["true", "", "false"])
    assert [f["missing"] for f in parsed.features] == [1, 1, 1, 2]
    assert parsed.target_summary["classes"] == ["a", "b"]
    assert_round_trip(parsed)


@pytest.mark.parametrize("content", ['{"x": [1, 2]}', "[1, 2, 3]", '[{"x": 1}, 2]', "[{"])
def test_json_that_is_not_records(tmp_path: Path, content: str) -> None:
    error = refused(tmp_path, content, "data.json")
    assert 'a JSON upload must be an array of records like [{"x": 1, "y": "a"}, ...]' in str(error)


def test_json_nested_value_names_row_and_column(tmp_path: Path) -> None:
    records = [{"x": 1, "y": 0}, {"x": 2, "y": 1}, {"x": {"a": 1}, "y": 0}]
    error = refused(tmp_path, json.dumps(records), "data.json")
    assert (error.row, error.column) == (3, "x") and "nested" in str(error)


# --- NPZ ---------------------------------------------------------------------------------


def test_npz_numeric_target(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(50, 3))
    features[4, 1] = np.nan
    path = write_npz(tmp_path, X=features, y=rng.normal(size=50))
    parsed = parse_dataset(path, filename="data.npz")
    assert parsed.format == "npz" and list(parsed.columns) == ["x0", "x1", "x2"]
    assert parsed.target_name == "y" and parsed.target_summary["task"] == "regression"
    assert parsed.features[1]["missing"] == 1
    np.testing.assert_array_equal(parsed.columns["x2"], features[:, 2].astype(np.float32))
    assert_round_trip(parsed)


def test_npz_string_target_and_names(tmp_path: Path) -> None:
    path = write_npz(
        tmp_path,
        X=np.arange(8).reshape(4, 2),
        y=np.array(["b", "a", "b", "a"]),
        feature_names=np.array(["width", "depth"]),
    )
    parsed = parse_dataset(path)  # sniffed from the zip magic
    assert list(parsed.columns) == ["width", "depth"]
    assert parsed.target_summary["classes"] == ["a", "b"]
    assert_round_trip(parsed)


def test_npz_refusals(tmp_path: Path) -> None:
    path = write_npz(tmp_path, X=np.zeros((2, 2)), y=np.array([1, None], dtype=object))
    assert "holds object arrays, which are refused" in str(_npz_error(path))
    path = write_npz(tmp_path, X=np.zeros((2, 2)))
    assert "no 'y' array" in str(_npz_error(path))
    path = write_npz(tmp_path, features=np.zeros((2, 2)), y=np.zeros(2))
    assert "no 'X' array" in str(_npz_error(path))
    path = write_npz(tmp_path, X=np.array([[1.0, np.inf], [2.0, 3.0]]), y=np.array([0, 1]))
    error = _npz_error(path)
    assert (error.row, error.column) == (1, "x1")
    path = write_npz(tmp_path, X=np.zeros((3, 2)), y=np.zeros(2))
    assert "X has 3 rows but y has 2" in str(_npz_error(path))


def _npz_error(path: Path) -> DatasetFormatError:
    with pytest.raises(DatasetFormatError) as caught:
        parse_dataset(path, filename="data.npz")
    return caught.value


# --- detection and the stored form ------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content_type", "head", "expected"),
    [
        ("a.CSV", None, b"[", "csv"),
        ("a.json", "text/csv", b"x", "json"),
        ("upload", "text/csv", b"[", "csv"),
        ("upload", "application/octet-stream", b"PK\x03\x04", "npz"),
        (None, None, b"PK\x03\x04rest", "npz"),
        (None, None, b"  [{", "json"),
        (None, None, b"a,b\n1,2\n", "csv"),
    ],
)
def test_detect_format(
    filename: str | None, content_type: str | None, head: bytes, expected: str
) -> None:
    assert detect_format(filename, content_type, head) == expected


def test_detect_format_refuses_unknown() -> None:
    with pytest.raises(DatasetFormatError):
        detect_format(None, None, b"\x00\x01\x02\xff")
    with pytest.raises(DatasetFormatError, match="export the sheet as CSV"):
        detect_format("book.xlsx", None, b"PK\x03\x04")


def test_encoded_form_has_no_pickles_and_corruption_is_a_value_error(tmp_path: Path) -> None:
    blob = encode_dataset(parse_text(tmp_path, CSV))
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        arrays = [archive[key] for key in archive.files]
    assert all(array.dtype.kind != "O" for array in arrays)
    assert any(array.dtype == np.float32 for array in arrays)
    for corrupt in (b"", b"not a zip", blob[: len(blob) // 2]):
        with pytest.raises(ValueError):
            decode_dataset(corrupt)


def test_numbers_beyond_float32_stay_float64(tmp_path: Path) -> None:
    parsed = parse_text(tmp_path, "big,small,y\n1e300,1.5,0\n-2,2.5,1\n")
    assert parsed.columns["big"].dtype == np.float64 and parsed.columns["big"][0] == 1e300
    assert parsed.columns["small"].dtype == np.float32
    columns, _, _ = decode_dataset(encode_dataset(parsed))
    assert columns["big"][0] == 1e300


def test_categorical_columns_are_decoded_only_when_read(tmp_path: Path) -> None:
    parsed = parse_text(tmp_path, "colour,y\nred,0\n,1\nblue,0\n")
    column = parsed.columns.column("colour")
    assert column.numbers is None
    np.testing.assert_array_equal(column.labels, ["blue", "red"])
    np.testing.assert_array_equal(column.codes, [1, -1, 0])
    np.testing.assert_array_equal(parsed.columns["colour"], ["red", "", "blue"])


def test_encoding_that_consumes_lets_go_of_each_column(tmp_path: Path) -> None:
    rows = "".join(f"{i * 0.5},{'ab'[i % 2]},{i % 3}\n" for i in range(2000))
    parsed = parse_text(tmp_path, "x,c,y\n" + rows)
    expected = decode_dataset(encode_dataset(parsed))
    blob = encode_dataset(parsed, consume=True)
    assert parsed.columns.column("x").numbers is None  # freed once written
    columns, target, features = decode_dataset(blob)
    for name in ("x", "c"):
        np.testing.assert_array_equal(columns[name], expected[0][name])
    np.testing.assert_array_equal(target, expected[1])
    assert features == expected[2]


def test_a_first_row_of_numbers_is_refused_not_taken_for_names(tmp_path: Path) -> None:
    from service.domain.ingest import parse_features

    path = tmp_path / "rows.csv"
    path.write_bytes(b"\xef\xbb\xbf1.5,-2,3\r\n4,5,6\r\n")
    for parse in (parse_dataset, parse_features):
        with pytest.raises(DatasetFormatError, match="seems to lack a header row") as caught:
            parse(path)
        assert caught.value.row == 1
    named = tmp_path / "years.csv"
    named.write_bytes(b"id,2019,2020,label\n1,2,3,a\n2,3,4,b\n")
    parsed = parse_dataset(named)
    assert parsed.n_rows == 2 and [f["name"] for f in parsed.features] == ["id", "2019", "2020"]
