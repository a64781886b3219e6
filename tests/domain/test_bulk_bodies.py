"""Reading CSV and .npy predict bodies against models trained in-process."""

from __future__ import annotations

import io

import numpy as np
import pytest

from service.core.errors import InvalidInput
from service.domain.bulk_bodies import (
    ARROW_CSV_BYTES,
    CSV_TYPE,
    NPY_TYPE,
    bulk_rows,
    read_bulk_body,
)
from service.engine import fit


@pytest.fixture(scope="module")
def numeric_model():  # noqa: ANN201
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    model, _ = fit(X, (X[:, 0] > 0).astype(int), {"layers": [{"units": 4}]}, {"epochs": 2})
    return model


@pytest.fixture(scope="module")
def mixed_model():  # noqa: ANN201
    X = {"size": np.arange(40.0), "colour": np.array(["red", "blue"] * 20)}
    model, _ = fit(X, np.arange(40) % 2, {"layers": [{"units": 4}]}, {"epochs": 2})
    return model


def test_one_character_cells_with_a_missing_value(numeric_model) -> None:  # noqa: ANN001
    bulk = read_bulk_body(b"x0,x1\n1,\n,2\n", CSV_TYPE)
    rows = bulk_rows(numeric_model, bulk)
    assert rows.dtype == np.float64 and np.isnan(rows[0, 1]) and np.isnan(rows[1, 0])
    assert numeric_model.predict_proba(rows).shape == (2, 2)


def test_csv_carries_categorical_features_and_npy_cannot(mixed_model) -> None:  # noqa: ANN001
    rows = bulk_rows(mixed_model, read_bulk_body(b"colour,size\nred,3\nNA,4\n", CSV_TYPE))
    assert mixed_model.predict_proba(rows).shape == (2, 2)
    buffer = io.BytesIO()
    np.save(buffer, np.ones((1, 2)))
    with pytest.raises(InvalidInput, match="categorical features \\(colour\\)"):
        bulk_rows(mixed_model, read_bulk_body(buffer.getvalue(), NPY_TYPE))


def test_csv_with_a_quoted_header_and_a_byte_order_mark(numeric_model) -> None:  # noqa: ANN001
    bulk = read_bulk_body('\ufeff"x1","x0"\r\n1.5,2.5\r\n'.encode(), CSV_TYPE)
    assert bulk_rows(numeric_model, bulk).tolist() == [[2.5, 1.5]]


def test_a_categorical_feature_written_as_numbers_is_read_as_text(mixed_model) -> None:  # noqa: ANN001
    more = b"1,3\n" * (ARROW_CSV_BYTES // 4)  # past the size the csv module reads
    bulk = read_bulk_body(b"colour,size\n1,3\n2,\n" + more, CSV_TYPE)
    assert bulk.values.dtype.kind == "f"  # read as numbers first, by Arrow
    rows = bulk_rows(mixed_model, bulk)
    assert rows[:2].tolist() == [["3", "1"], ["", "2"]]  # in the model's order: size, colour
    assert mixed_model.predict_proba(rows).shape == (len(rows), 2)


@pytest.mark.parametrize("kind", ["numeric_model", "mixed_model"])
def test_a_small_csv_reads_as_a_large_one_does(kind: str, request: pytest.FixtureRequest) -> None:
    """Bodies up to ARROW_CSV_BYTES go to the csv module, larger ones to Arrow: the same rows."""
    model = request.getfixturevalue(kind)
    if kind == "numeric_model":
        header, lines = "x1,x0", ["1.5,-2", ",3e2", "NA,0.25", "nan,7", "NULL,-0.0"]
    else:
        header, lines = "colour,size", ["red,1", "blue,", ",2.5", "green,NA"]
    small = (header + "\n" + "\n".join(lines) + "\n").encode()
    repeats = 2 * ARROW_CSV_BYTES // len(small) + 2
    large = (header + "\n" + "\n".join(lines * repeats) + "\n").encode()
    assert len(small) <= ARROW_CSV_BYTES < len(large)
    few = model.predict_proba(bulk_rows(model, read_bulk_body(small, CSV_TYPE)))
    many = model.predict_proba(bulk_rows(model, read_bulk_body(large, CSV_TYPE)))
    assert np.array_equal(np.tile(few, (repeats, 1)), many)
