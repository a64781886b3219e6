"""A stored data set as Hopfield patterns: the submission check and the pattern table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.domain.ingest import decode_dataset, encode_dataset, parse_dataset
from service.engine import HopfieldModel, InputError
from service.engine.hopfield import check_summaries, patterns_from_table

NETWORK = {"kind": "hopfield", "rule": "storkey"}


def upload(tmp_path: Path, text: str):
    path = tmp_path / "patterns.csv"
    path.write_text(text)
    parsed = parse_dataset(path, filename="patterns.csv")
    return parsed, decode_dataset(encode_dataset(parsed))


@pytest.mark.parametrize("low", [0, -1])
def test_an_uploaded_binary_table_is_stored_with_the_target_as_last_unit(tmp_path, low):
    rows = np.where(np.random.default_rng(4).random((12, 8)) < 0.5, low, 1)
    text = "a,b,c,d,e,f,g,label\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    parsed, (columns, target, features) = upload(tmp_path, text)
    check_summaries(parsed.features, parsed.target_summary)
    table, names = patterns_from_table(columns, target, features, parsed.target_name)
    assert names == ["a", "b", "c", "d", "e", "f", "g", "label"]
    assert np.array_equal(table, rows)
    model = HopfieldModel.store(table, NETWORK, feature_names=names)
    assert model.encoding == ("binary" if low == 0 else "bipolar")
    assert model.capacity()["n_units"] == 8 and model.capacity()["n_patterns"] == 12


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("a,b,y\nx,0,1\nz,1,0\n", "a", "text"),
        ("a,b,y\n1,,1\n0,1,0\n", "b", "1 missing"),
        ("a,b,y\n1,2,1\n0,1,0\n", "b", "from 1 to 2"),
        ("a,b,y\n1,0.5,1\n0,1,0\n", "b", "from 0.5 to 1"),
        ("a,b,y\n1,0,0\n0,1,2\n", "y", "from 0 to 2"),
        ("a,b,y\n1,0,1\n0,1,0.5\n1,1,0.25\n", "y", "other than"),
        ("a,b,y\n1,-1,1\n0,1,0\n", "b", "0s and column 'b' -1s"),
        ("a,b,y\n1,1,x\n0,1,z\n", "y", "text"),
    ],
)
def test_summaries_refuse_what_cannot_be_patterns(tmp_path, text, column, words):
    parsed, _ = upload(tmp_path, text)
    with pytest.raises(InputError, match=words) as caught:
        check_summaries(parsed.features, parsed.target_summary)
    assert caught.value.feature == column


def test_values_the_summaries_cannot_see_are_refused_when_stored(tmp_path):
    parsed, (columns, target, features) = upload(tmp_path, "a,b,y\n-1,1,1\n0,1,-1\n1,-1,-1\n")
    check_summaries(parsed.features, parsed.target_summary)  # a: min -1, max 1; the 0 is inside
    table, names = patterns_from_table(columns, target, features, parsed.target_name)
    with pytest.raises(InputError, match="row 1, column 0 .'a'. is 0") as caught:
        HopfieldModel.store(table, NETWORK, feature_names=names)
    assert (caught.value.row, caught.value.feature) == (1, "a")


def test_the_table_refuses_text_columns_given_directly():
    columns = {"a": np.array(["x", "y"]), "b": np.array([0.0, 1.0])}
    features = [{"name": "a", "kind": "categorical"}, {"name": "b", "kind": "numeric"}]
    with pytest.raises(InputError, match="'a' holds text"):
        patterns_from_table(columns, np.array([1.0, 0.0]), features, "y")
    with pytest.raises(InputError, match="'y' holds text"):
        patterns_from_table({"b": columns["b"]}, np.array(["p", "q"]), features[1:], "y")
