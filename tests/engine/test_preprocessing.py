"""Reading raw rows, categorical encoding, missing values and scaling."""

from __future__ import annotations

import numpy as np
import pytest

from service.engine import InputError, fit
from service.engine.data import read_table
from service.engine.preprocessing import Preprocessor

ROWS = [
    [1.0, "red", 10],
    [2.0, "blue", None],
    [None, "red", 30],
    [4.0, None, 40],
    [float("nan"), "", 50],
]


def test_kinds_are_inferred():
    table = read_table(ROWS)
    assert table.kinds == ["numeric", "categorical", "numeric"]
    assert table.names == ["x0", "x1", "x2"]
    np.testing.assert_array_equal(table.columns[1], ["red", "blue", "red", "", ""])


def test_features_name_and_force_kinds():
    features = [
        {"name": "a", "kind": "numeric"},
        {"name": "b", "kind": "categorical"},
        {"name": "c", "kind": "categorical", "missing": 1},
    ]
    table = read_table(ROWS, features)
    assert table.names == ["a", "b", "c"]
    assert table.kinds == ["numeric", "categorical", "categorical"]
    np.testing.assert_array_equal(table.columns[2], ["10", "", "30", "40", "50"])


def test_column_dict_form():
    cols = {"age": np.array([1.0, np.nan, 3.0]), "city": np.array(["a", "", "b"], dtype=object)}
    table = read_table(cols)
    assert table.names == ["age", "city"] and table.kinds == ["numeric", "categorical"]


def test_standardize_imputes_with_the_training_mean():
    table = read_table(np.array([[1.0], [3.0], [np.nan], [100.0]]))
    prep = Preprocessor.fit(table, np.array([0, 1, 2]), "standardize")
    assert prep.mean[0] == 2.0
    out = prep.transform(table, dtype=np.float64)
    np.testing.assert_allclose(out[:, 0], [-1.0, 1.0, 0.0, 98.0])


def test_normalize_and_none():
    table = read_table(np.array([[2.0, 5.0], [4.0, 5.0], [np.nan, 5.0]]))
    rows = np.arange(3)
    norm = Preprocessor.fit(table, rows, "normalize").transform(table, dtype=np.float64)
    np.testing.assert_allclose(norm, [[0.0, 0.0], [1.0, 0.0], [0.5, 0.0]])
    raw = Preprocessor.fit(table, rows, "none").transform(table, dtype=np.float64)
    np.testing.assert_allclose(raw, [[2.0, 5.0], [4.0, 5.0], [3.0, 5.0]])


def test_one_hot_with_unseen_and_missing():
    table = read_table(ROWS)
    prep = Preprocessor.fit(table, np.array([0, 1, 2, 3]), "none")
    assert prep.categories[1] == ["blue", "red"] and prep.missing_indicator[1]
    new = read_table(
        [[1.0, "green", 1], [1.0, None, 1], [1.0, "blue", 1]], prep.metadata(), fixed=True
    )
    out = prep.transform(new, dtype=np.float64)
    np.testing.assert_array_equal(out[:, 2:], [[0, 0, 0], [0, 0, 1], [1, 0, 0]])


def test_missing_without_an_indicator_is_all_zeros():
    table = read_table([[1, "a"], [2, "b"]])
    prep = Preprocessor.fit(table, np.arange(2), "none")
    assert not prep.missing_indicator[1] and prep.n_inputs == 3
    out = prep.transform(read_table([[1, None]], prep.metadata(), fixed=True))
    np.testing.assert_array_equal(out[0, 1:], [0, 0])


def test_statistics_come_from_the_training_rows_only(blobs):
    X, y = blobs
    X = X.copy()
    model, _ = fit(X, y, {"layers": []}, {"epochs": 1, "validation_fraction": 0.5})
    assert not np.allclose(model.mean, X.mean(axis=0))


@pytest.mark.parametrize(
    ("X", "row", "feature", "words"),
    [
        ([[1.0, 2.0], [1.0]], 1, None, "Row 1 has 1 values"),
        ([], None, None, "no rows"),
        (np.array([[1.0, np.inf]]), 0, "x1", "infinite"),
        ([[1.0, float("-inf")]], 0, "x1", "infinite"),
    ],
)
def test_bad_rows(X, row, feature, words):
    with pytest.raises(InputError, match=words) as caught:
        read_table(X)
    assert (caught.value.row, caught.value.feature) == (row, feature)


def test_text_in_a_numeric_column_names_row_and_feature():
    features = [{"name": "age", "kind": "numeric"}, {"name": "city", "kind": "categorical"}]
    with pytest.raises(InputError) as caught:
        read_table([[1, "a"], ["old", "b"]], features, fixed=True)
    assert (caught.value.row, caught.value.feature) == (1, "age")
    assert "'old' is not a number" in str(caught.value)


def test_fit_end_to_end_with_categorical_and_missing(rng):
    n = 400
    colour = rng.choice(np.array(["red", "green", "blue", ""], dtype=object), n)
    value = rng.normal(size=n)
    value[rng.random(n) < 0.1] = np.nan
    y = np.where((colour == "red") | (np.nan_to_num(value) > 1), "hot", "cold")
    model, history = fit(
        {"colour": colour, "value": value},
        y,
        {"layers": [{"units": 8}]},
        {"epochs": 60, "optimizer": {"name": "adam", "learning_rate": 0.02}},
    )
    assert history[-1]["val_accuracy"] >= 0.9
    assert model.features[0] == {
        "name": "colour",
        "kind": "categorical",
        "categories": ["blue", "green", "red"],
        "missing_indicator": True,
    }
    preds = model.predict(
        {
            "colour": np.array(["red", "purple", None], dtype=object),
            "value": np.array([0.0, np.nan, 3.0]),
        }
    )
    assert list(preds) == ["hot", "cold", "hot"]
    assert list(model.predict([["red", 0.0], ["blue", None]])) == ["hot", "cold"]
    assert list(model.predict([{"colour": "red", "value": 0.0}])) == ["hot"]
    with pytest.raises(InputError) as caught:
        model.predict([{"colour": "red", "size": 0.0}])
    assert caught.value.feature == "size"
