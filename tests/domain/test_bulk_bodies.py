"""Reading CSV and .npy predict bodies against models trained in-process."""

from __future__ import annotations

import io

import numpy as np
import pytest

from service.core.errors import InvalidInput
from service.domain.bulk_bodies import CSV_TYPE, NPY_TYPE, bulk_rows, read_bulk_body
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
    bulk = read_bulk_body(b"colour,size\n1,3\n2,\n", CSV_TYPE)
    assert bulk.values.dtype.kind == "f"  # read as numbers first
    rows = bulk_rows(mixed_model, bulk)
    assert rows.tolist() == [["3", "1"], ["", "2"]]  # in the model's order: size, colour
    assert mixed_model.predict_proba(rows).shape == (2, 2)
