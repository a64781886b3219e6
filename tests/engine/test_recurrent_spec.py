"""The rules of recurrent layers, `training.bptt_steps` and `training.sequence`."""

from __future__ import annotations

import pytest

from service.engine import SpecError, validate_spec
from service.engine.recurrent_spec import check_layout


def check(layers, training=None, task="classification"):
    return validate_spec({"layers": layers}, training or {}, task=task, n_features=3, n_classes=2)


def test_recurrent_layers_normalize_and_dense_layers_keep_their_form():
    net, train = check(
        [{"type": "lstm", "units": 8}, {"type": "rnn", "units": 4}, {"units": 5, "type": "dense"}],
        {"bptt_steps": 5, "sequence": {"window": 12}},
    )
    assert net["layers"] == [
        {"type": "lstm", "units": 8},
        {"type": "rnn", "units": 4, "activation": "tanh"},
        {"units": 5, "activation": "relu"},
    ]
    assert train["bptt_steps"] == 5
    assert train["sequence"] == {"window": 12, "horizon": 1, "stride": 1}
    assert validate_spec(net, train, task="classification", n_features=3, n_classes=2) == (
        net,
        train,
    )
    _, plain = check([{"units": 2}])
    assert "bptt_steps" not in plain and "sequence" not in plain


@pytest.mark.parametrize(
    ("layers", "training", "field", "words"),
    [
        (
            [{"units": 4}, {"type": "gru", "units": 4}],
            {},
            "network.layers[1].type",
            "must come first",
        ),
        ([{"type": "lstm", "units": 0}], {}, "network.layers[0].units", "from 1 to"),
        ([{"type": "conv", "units": 3}], {}, "network.layers[0].type", "not a layer type"),
        (
            [{"type": "lstm", "units": 3, "activation": "relu"}],
            {},
            "network.layers[0].activation",
            "use type rnn",
        ),
        (
            [{"type": "rnn", "units": 3, "activation": "softmax"}],
            {},
            "network.layers[0].activation",
            "output activation",
        ),
        (
            [{"type": "gru", "units": 3, "recurrent_dropout": 0.1}],
            {},
            "network.layers[0].recurrent_dropout",
            "unknown field",
        ),
        ([{"type": "gru", "units": 3}], {"bptt_steps": 0}, "training.bptt_steps", "at least 1"),
        ([{"type": "gru", "units": 3}], {"bptt_steps": 2.5}, "training.bptt_steps", "whole number"),
        ([{"units": 3}], {"bptt_steps": 4}, "training.bptt_steps", "needs a recurrent layer"),
        (
            [{"type": "gru", "units": 3}],
            {"sequence": {"horizon": 2}},
            "training.sequence.window",
            "required",
        ),
        (
            [{"type": "gru", "units": 3}],
            {"sequence": {"window": 0}},
            "training.sequence.window",
            "from 1 to",
        ),
        (
            [{"type": "gru", "units": 3}],
            {"sequence": {"window": 4, "lag": 1}},
            "training.sequence.lag",
            "unknown field",
        ),
        ([{"type": "gru", "units": 3}], {"sequence": [4]}, "training.sequence", "an object"),
    ],
)
def test_impossible_specs_name_the_field_and_say_what_to_do(layers, training, field, words):
    with pytest.raises(SpecError, match=words) as caught:
        check(layers, training)
    assert caught.value.field == field


def test_the_parameter_limit_counts_recurrent_weights():
    with pytest.raises(SpecError, match="parameters"):
        check([{"type": "lstm", "units": 4096}, {"type": "lstm", "units": 4096}])


def test_layouts_refuse_what_does_not_fit():
    recurrent, _ = check([{"type": "gru", "units": 3}])
    dense, _ = check([{"units": 3}])
    with pytest.raises(SpecError, match="table of rows"):
        check_layout(recurrent, {}, "table")
    with pytest.raises(SpecError, match="needs a recurrent layer"):
        check_layout(dense, {}, "sequences")
    with pytest.raises(SpecError, match="needs training.sequence"):
        check_layout(recurrent, {}, "series")
    check_layout(recurrent, {"sequence": {"window": 3}}, "series")
    check_layout(recurrent, {}, "sequences")
    check_layout(dense, {}, "table")
