"""What does not fit recurrent networks is refused with a 422 saying what to fix, on both
configurations: sequence and series uploads, job specs against the data's layout, and
predict bodies of sequences."""

from __future__ import annotations

import numpy as np
import pytest

from tests.sequence_data import npz_bytes, sequences_npz, series_csv
from tests.stack import Stack, wait_for_job

LSTM = {"layers": [{"type": "lstm", "units": 4}]}
DENSE = {"layers": [{"units": 4, "activation": "relu"}]}
QUICK = {"epochs": 1, "batch_size": 32}


def refused(answer, *words: str, loc: list | None = None) -> dict:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    for word in words:
        assert word in problem["detail"], (word, problem["detail"])
    if loc is not None:
        assert problem["errors"][0]["loc"][: len(loc)] == loc, problem["errors"]
    return problem


def post_file(client, name: str, data: bytes, **form: str):
    kind = "text/csv" if name.endswith(".csv") else "application/octet-stream"
    return client.post("/v1/datasets", files={"file": (name, data, kind)}, data=form)


def series_form(**extra: str) -> dict[str, str]:
    return {"layout": "series", "time_column": "day", "group_column": "site", **extra}


@pytest.fixture
def client(stack: Stack):
    with stack.client(stack.create_key("recurrent-errors")) as http:
        yield http


def test_sequence_uploads_that_do_not_fit(client) -> None:
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.zeros((3, 2)), np.zeros((5, 2))
    refused(
        post_file(client, "r.npz", npz_bytes(X=ragged, y=np.array([0, 1]))), "ragged", "lengths"
    )
    X, y = np.zeros((3, 4, 2)), np.array([0, 1, 0])
    refused(
        post_file(client, "l.npz", npz_bytes(X=X, y=y, lengths=np.array([4, 5, 2]))),
        "lengths[1] is 5",
        "from 1 to 4",
    )
    refused(
        post_file(client, "z.npz", npz_bytes(X=X, y=y, lengths=np.array([0, 2, 2]))),
        "lengths[0] is 0",
    )
    refused(
        post_file(client, "s.npz", npz_bytes(X=X, y=y, lengths=np.array([2, 2]))), "3 whole numbers"
    )
    refused(
        post_file(
            client, "2d.npz", npz_bytes(X=np.zeros((3, 2)), y=y, lengths=np.array([1, 1, 1]))
        ),
        "lengths belong to sequences",
    )
    infinite = X.copy()
    infinite[2, 1, 1] = np.inf
    refused(
        post_file(client, "i.npz", npz_bytes(X=infinite, y=y)), "sequence 2, step 1, feature 'x1'"
    )
    # NaN in X is a missing value: accepted, counted, and imputed at training time
    with_nan = np.random.default_rng(0).normal(size=(3, 4, 2))
    with_nan[1, 0, 0] = np.nan
    answer = post_file(client, "n.npz", npz_bytes(X=with_nan, y=y, lengths=np.array([4, 3, 2])))
    assert answer.status_code == 201, answer.text
    assert answer.json()["features"][0]["missing"] == 1


def test_series_uploads_that_do_not_fit(client) -> None:
    data = series_csv()
    header, first, *rest = data.decode().splitlines()
    refused(
        post_file(client, "s.csv", data, **series_form(time_column="when")),
        "time_column 'when'",
        loc=["body", "file", "when"],
    )
    refused(
        post_file(client, "s.csv", data, **series_form(group_column="region")),
        "group_column 'region'",
    )
    refused(
        post_file(client, "s.csv", data, **series_form(group_column="load")), "it is the target"
    )
    unsortable = "\n".join([header, "yesterday" + first[first.index(",") :], *rest]).encode()
    refused(
        post_file(client, "s.csv", unsortable, **series_form()),
        "not sortable",
        "row 2",
        "'yesterday'",
    )
    repeated = "\n".join([header, first, first, *rest]).encode()
    refused(post_file(client, "s.csv", repeated, **series_form()), "the same time")
    refused(
        post_file(client, "s.csv", data, layout="series", time_column="day"),
        "column 'site' holds text",
    )
    refused(post_file(client, "s.csv", data, layout="sequence"), "layout 'sequence'")
    refused(post_file(client, "s.csv", data, time_column="day"), "layout=series")


def test_jobs_that_do_not_fit_the_layout(client, iris_bytes: bytes) -> None:
    table = post_file(client, "iris.csv", iris_bytes).json()["id"]
    series = post_file(client, "s.csv", series_csv(rows=(120, 90)), **series_form()).json()["id"]
    blob, *_ = sequences_npz(n=60)
    sequences = post_file(client, "q.npz", blob).json()["id"]
    window = {"window": 12}

    def job(dataset: str, network: dict, training: dict, **extra):
        return client.post(
            "/v1/jobs",
            json={
                "dataset_id": dataset,
                "network": network,
                "training": {**QUICK, **training},
                **extra,
            },
        )

    refused(job(table, LSTM, {}), "this data is a table", loc=["network", "layers"])
    refused(job(sequences, DENSE, {}), "needs a recurrent layer", loc=["network", "layers"])
    refused(job(series, DENSE, {"sequence": window}), "needs a recurrent layer")
    refused(job(series, LSTM, {}), "needs training.sequence", loc=["training", "sequence"])
    refused(job(sequences, LSTM, {"sequence": window}), "already sequences")
    refused(
        job(series, LSTM, {"sequence": {"window": 85, "horizon": 10}}),
        "needs 95 rows",
        "shortest series (group 'south') of dataset",
        "has 90",
        loc=["training", "sequence", "window"],
    )
    refused(
        job(series, {**LSTM, "output_activation": "softmax"}, {"sequence": window}),
        "softmax",
        "forecast",
        loc=["network", "output_activation"],
    )
    refused(
        job(series, LSTM, {"sequence": window}, task="classification"), "regression", loc=["task"]
    )
    for bad, field in (
        ({"window": 0}, "window"),
        ({"window": 4, "horizon": "x"}, "horizon"),
        ({"window": 4, "stride": -1}, "stride"),
        ({"horizon": 1}, "window"),
        ({"window": 4, "lag": 1}, "lag"),
    ):
        refused(
            job(series, LSTM, {"sequence": bad}),
            f"training.sequence.{field}",
            loc=["training", "sequence", field],
        )
    refused(job(series, LSTM, {"sequence": window, "bptt_steps": 0}), "training.bptt_steps")
    refused(
        job(series, LSTM, {"sequence": window, "bptt_steps": 13}),
        "more than the 12 steps",
        loc=["training", "bptt_steps"],
    )
    refused(job(sequences, LSTM, {"bptt_steps": 11}), "more than the 10 steps")
    refused(job(table, DENSE, {"bptt_steps": 2}), "needs a recurrent layer")
    refused(
        job(table, {"layers": [{"type": "lstm", "units": 4, "activation": "relu"}]}, {}),
        "network.layers[0].activation",
    )


def test_predict_bodies_that_do_not_fit(client, iris_bytes: bytes) -> None:
    blob, *_ = sequences_npz(n=60, T=5)
    dataset = post_file(client, "q.npz", blob).json()["id"]
    created = client.post(
        "/v1/jobs", json={"dataset_id": dataset, "network": LSTM, "training": QUICK}
    )
    recurrent = wait_for_job(client, created.json()["id"])["model_id"]
    table = post_file(client, "iris.csv", iris_bytes).json()["id"]
    created = client.post(
        "/v1/jobs", json={"dataset_id": table, "network": DENSE, "training": QUICK}
    )
    dense = wait_for_job(client, created.json()["id"])["model_id"]

    def predict(model: str, body: dict):
        return client.post(f"/v1/models/{model}/predict", json=body)

    good = [[0.1, 0.2], [0.3, None]]
    assert predict(recurrent, {"sequences": [good]}).status_code == 200
    refused(
        predict(recurrent, {"sequences": [good, [[0.1, 0.2, 0.3]]]}),
        "Sequence 1, step 0 has 3 values",
        "x0, x1",
        loc=["body", "sequences", 1, 0],
    )
    refused(
        predict(recurrent, {"sequences": [[[0.0, 0.0]] * 6]}), "Sequence 0 has 6 steps", "at most 5"
    )
    refused(
        predict(recurrent, {"sequences": [[[0.1, "warm"]]]}),
        "Sequence 0, step 0, feature 'x1'",
        loc=["body", "sequences", 0, 0, "x1"],
    )
    refused(predict(recurrent, {"sequences": [[[0.1, True]]]}), "feature 'x1' is True")
    refused(predict(recurrent, {"sequences": [[]]}), "Sequence 0 must be a non-empty list")
    refused(predict(recurrent, {"inputs": [[0.1, 0.2]]}), "reads sequences", '"sequences"')
    refused(predict(recurrent, {"inputs": [[0.1, 0.2]], "sequences": [good]}), "exactly one")
    refused(predict(dense, {"sequences": [good]}), "rows of features, not sequences")
    batch = client.post(
        f"/v1/models/{recurrent}/predictions",
        files={"file": ("rows.csv", b"x0,x1\n1,2\n", "text/csv")},
    )
    refused(batch, "is recurrent", "sequences")
