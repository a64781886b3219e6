"""Cross-validation folds: which fold holds each row out, and the rule of the option."""

from __future__ import annotations

import numpy as np
import pytest

from service.engine import SpecError, validate_spec
from service.engine.folds import assign_folds, cross_validation_spec, fold_rows


@pytest.mark.parametrize("folds", [2, 3, 5, 7, 20])
def test_stratified_folds_hold_every_class_within_one_row(folds: int) -> None:
    rng = np.random.default_rng(folds)
    labels = rng.choice(3, size=403, p=[0.6, 0.3, 0.1])
    fold_of = assign_folds(len(labels), folds, seed=11, labels=labels)
    assert sorted(set(fold_of.tolist())) == list(range(folds))
    sizes = np.bincount(fold_of, minlength=folds)
    assert sizes.max() - sizes.min() <= 1
    for c in range(3):
        counts = np.bincount(fold_of[labels == c], minlength=folds)
        share = (labels == c).sum() / folds
        assert np.all(np.abs(counts - share) < 1), (c, counts, share)


def test_plain_folds_split_every_row_once_and_follow_the_seed() -> None:
    fold_of = assign_folds(101, 4, seed=3)
    sizes = np.bincount(fold_of)
    assert sizes.tolist() == [26, 25, 25, 25]
    assert np.array_equal(fold_of, assign_folds(101, 4, seed=3))
    assert not np.array_equal(fold_of, assign_folds(101, 4, seed=4))
    trained, held = fold_rows(fold_of, 2)
    assert np.array_equal(np.sort(np.concatenate([trained, held])), np.arange(101))
    assert set(trained.tolist()).isdisjoint(held.tolist())


def test_the_option_normalizes_with_stratified_by_task() -> None:
    assert cross_validation_spec({"folds": 5}, "classification") == {
        "folds": 5,
        "stratified": True,
    }
    assert cross_validation_spec({"folds": 5}, "regression") == {"folds": 5, "stratified": False}
    net, train = validate_spec(
        {}, {"cross_validation": {"folds": 3}}, task="classification", n_features=2, n_classes=2
    )
    assert train["cross_validation"] == {"folds": 3, "stratified": True}
    assert validate_spec(net, train, task="classification", n_features=2, n_classes=2)[1] == train


@pytest.mark.parametrize(
    ("value", "task", "field", "words"),
    [
        ({"folds": 1}, "classification", "training.cross_validation.folds", "from 2 to 20"),
        ({"folds": 21}, "classification", "training.cross_validation.folds", "from 2 to 20"),
        ({"folds": 2.5}, "classification", "training.cross_validation.folds", "2.5"),
        ({}, "classification", "training.cross_validation.folds", "is required"),
        ({"folds": 3, "k": 1}, "classification", "training.cross_validation.k", "unknown field"),
        (5, "classification", "training.cross_validation", "object"),
        ({"folds": 3, "stratified": True}, "regression", "training.cross_validation.stratified",
         "regression"),
    ],
)  # fmt: skip
def test_an_impossible_option_names_its_field(value, task, field, words) -> None:
    with pytest.raises(SpecError) as caught:
        cross_validation_spec(value, task)
    assert caught.value.field == field
    assert words in str(caught.value), str(caught.value)
