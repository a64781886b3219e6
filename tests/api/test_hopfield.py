"""Hopfield networks through real HTTP on both configurations: store a data set's rows as
patterns, recall damaged ones, and every refusal on the way (submission, recall, tenants, the
routes of feedforward models); the `neuronal recall` command in a subprocess."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.engine import HopfieldModel
from tests.inputs.helpers import assert_problem
from tests.stack import Stack, wait_for_job

N_UNITS, N_PATTERNS, FLIPS = 100, 10, 10
HEBBIAN = {"kind": "hopfield", "rule": "hebbian", "update": "async", "max_iterations": 100}
_stored: dict[str, dict[str, Any]] = {}


def patterns_csv(patterns: np.ndarray, names: list[str] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(names or [f"u{j}" for j in range(patterns.shape[1])])
    writer.writerows(patterns.tolist())
    return out.getvalue().encode()


def random_patterns() -> np.ndarray:
    return np.random.default_rng(13).integers(0, 2, size=(N_PATTERNS, N_UNITS))


def noisy(patterns: np.ndarray, seed: int = 7) -> np.ndarray:
    """Each pattern with FLIPS of its bits flipped (10% of 100 units)."""
    rng = np.random.default_rng(seed)
    probes = patterns.copy()
    for row in probes:
        flip = rng.choice(N_UNITS, size=FLIPS, replace=False)
        row[flip] = 1 - row[flip]
    return probes


def upload(client: Any, content: bytes, name: str = "patterns.csv") -> dict[str, Any]:
    response = client.post("/v1/datasets", files={"file": (name, content, "text/csv")})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def stored(stack: Stack) -> dict[str, Any]:
    """One tenant's Hebbian network of the random patterns, stored once per stack."""
    if stack.url not in _stored:
        key = stack.create_key("hopfield")
        patterns = random_patterns()
        with stack.client(key) as client:
            dataset = upload(client, patterns_csv(patterns))
            created = client.post(
                "/v1/jobs", json={"dataset_id": dataset["id"], "network": HEBBIAN}
            )
            assert created.status_code == 202, created.text
            job = wait_for_job(client, created.json()["id"])
        assert job["status"] == "succeeded", (job, stack.logs())
        _stored[stack.url] = {"key": key, "patterns": patterns, "dataset": dataset, "job": job}
    return _stored[stack.url]


def test_store_and_recall_noisy_patterns(stack: Stack) -> None:
    setup = stored(stack)
    job, patterns = setup["job"], setup["patterns"]
    expected = HopfieldModel.store(patterns, HEBBIAN)
    assert job["progress"] == {"epoch": 1, "epochs": 1, "fraction": 1.0}
    assert job["task"] == "recall" and job["training"] == {} and job["network"] == HEBBIAN
    metrics = job["metrics"]
    assert metrics["n_patterns"] == N_PATTERNS and metrics["n_units"] == N_UNITS
    assert metrics["capacity_ratio"] == pytest.approx(0.1)
    assert metrics["stable_fraction"] == expected.capacity()["stable_fraction"]
    assert metrics["stable_patterns"] == expected.capacity()["stable_patterns"]
    with stack.client(setup["key"]) as client:
        model = client.get(f"/v1/models/{job['model_id']}").json()
        assert model["network"]["kind"] == "hopfield" and model["network"]["rule"] == "hebbian"
        assert model["metrics"] == metrics and model["task"] == "recall"
        assert [f["name"] for f in model["features"]] == [f"u{j}" for j in range(N_UNITS)]

        # no epochs: no metric rows, an empty curve, and the event stream is the final status
        assert client.get(f"/v1/jobs/{job['id']}/metrics").json() == {"items": []}
        assert client.get(f"/v1/jobs/{job['id']}/curves.svg").status_code == 200
        events = client.get(f"/v1/jobs/{job['id']}/events").text
        assert events.count("event: ") == 1 and "event: status" in events

        weights = client.get(f"/v1/models/{model['id']}/weights")
        assert weights.status_code == 200
        with np.load(io.BytesIO(weights.content), allow_pickle=False) as npz:
            assert np.array_equal(npz["weights"], expected.weights)

        probes = noisy(patterns)
        answer = client.post(f"/v1/models/{model['id']}/recall", json={"patterns": probes.tolist()})
        assert answer.status_code == 200, answer.text
        body = answer.json()
    states = np.array(body["states"])
    assert states.shape == (N_PATTERNS, N_UNITS) and set(np.unique(states)) <= {0, 1}
    assert (states == patterns).mean() >= 0.99
    assert body["nearest_pattern"] == list(range(N_PATTERNS))
    assert body["hamming"] == (states != patterns).sum(axis=1).tolist()
    assert all(body["converged"])
    for energies, iterations in zip(body["energy"], body["iterations"], strict=True):
        assert len(energies) == iterations + 1 and iterations >= 1
        assert all(b <= a + 1e-9 for a, b in zip(energies, energies[1:], strict=False))
        assert energies[-1] < energies[0]
    # the same probes from the engine itself: the service adds nothing and loses nothing
    assert body["states"] == expected.recall(probes, seed=0).states.tolist()


def test_storkey_sync_job_and_a_seeded_recall(stack: Stack) -> None:
    setup = stored(stack)
    network = {"kind": "hopfield", "rule": "storkey", "update": "sync"}
    with stack.client(setup["key"]) as client:
        created = client.post(
            "/v1/jobs", json={"dataset_id": setup["dataset"]["id"], "network": network}
        )
        assert created.status_code == 202, created.text
        assert created.json()["network"] == {**network, "max_iterations": 100}
        job = wait_for_job(client, created.json()["id"])
        assert job["status"] == "succeeded", (job, stack.logs())
        assert job["metrics"]["stable_fraction"] == 1.0
        probe = noisy(setup["patterns"], seed=3)[:2].tolist()
        body = {"patterns": probe, "max_iterations": 1, "seed": 5}
        answer = client.post(f"/v1/models/{job['model_id']}/recall", json=body).json()
    assert all(n <= 1 for n in answer["iterations"])
    assert all(len(e) == n + 1 for e, n in zip(answer["energy"], answer["iterations"], strict=True))


def test_submission_refusals(stack: Stack, tmp_path: Path) -> None:
    setup = stored(stack)
    dataset_id = setup["dataset"]["id"]
    with stack.client(setup["key"]) as client:

        def refused(body: dict[str, Any]) -> dict[str, Any]:
            return assert_problem(client.post("/v1/jobs", json=body), 422)

        base = {"dataset_id": dataset_id, "network": HEBBIAN}
        problem = refused({**base, "network": {**HEBBIAN, "rule": "oja"}})
        assert problem["errors"][0]["loc"] == ["network", "rule"] and "oja" in problem["detail"]
        problem = refused({**base, "network": {**HEBBIAN, "update": "parallel"}})
        assert problem["errors"][0]["loc"] == ["network", "update"]
        problem = refused({**base, "network": {**HEBBIAN, "max_iterations": 0}})
        assert problem["errors"][0]["loc"] == ["network", "max_iterations"]
        problem = refused({**base, "training": {"epochs": 20}})
        assert problem["errors"][0]["loc"] == ["training", "epochs"]
        assert "without epochs" in problem["detail"]
        assert refused({**base, "task": "classification"})["errors"][0]["loc"] == ["task"]
        assert client.post("/v1/jobs", json={**base, "training": {}}).status_code == 202

        half = setup["patterns"].astype(float)
        half[3, 7] = 0.5  # within 0..1: only the values themselves show it
        problem = refused({**base, "dataset_id": upload(client, patterns_csv(half))["id"]})
        assert "'u7'" in problem["detail"] and "0.5" in problem["detail"]
        assert problem["errors"][0]["loc"] == ["dataset_id", "u7"]

        counts = setup["patterns"].copy()
        counts[0, 42] = 3
        problem = refused({**base, "dataset_id": upload(client, patterns_csv(counts))["id"]})
        assert "'u42'" in problem["detail"] and problem["errors"][0]["loc"] == ["dataset_id", "u42"]

        mixed = setup["patterns"].copy()
        mixed[:, 5] = 2 * mixed[:, 5] - 1  # one column -1/+1, the others 0/1
        problem = refused({**base, "dataset_id": upload(client, patterns_csv(mixed))["id"]})
        assert "not both" in problem["detail"]

        text = b"a,b,c\n1,0,x\n0,1,y\n1,1,x\n"
        problem = refused({**base, "dataset_id": upload(client, text)["id"]})
        assert "'c'" in problem["detail"] and "text" in problem["detail"]

        # the bounds of storing: units, patterns, and rows × units² under Storkey's rule
        rng = np.random.default_rng(0)
        wide = upload(client, patterns_csv(rng.integers(0, 2, size=(2, 4097))))
        problem = refused({**base, "dataset_id": wide["id"]})
        assert "4097 columns" in problem["detail"] and "4096" in problem["detail"]
        tall = upload(client, patterns_csv(rng.integers(0, 2, size=(10_001, 3))))
        assert "10,001 rows" in refused({**base, "dataset_id": tall["id"]})["detail"]
        broad = upload(client, patterns_csv(rng.integers(0, 2, size=(70, 4000))))
        storkey = {**base, "dataset_id": broad["id"], "network": {**HEBBIAN, "rule": "storkey"}}
        problem = refused(storkey)
        assert "1,120,000,000" in problem["detail"] and "hebbian" in problem["detail"]

        # a target with one class is a fine Hopfield unit, and a classifier job refuses it
        ones = setup["patterns"].copy()
        ones[:, -1] = 1
        single = upload(client, patterns_csv(ones))
        assert single["target"]["classes"] == [1]
        mlp = {
            "dataset_id": single["id"],
            "network": {"layers": [{"units": 4}]},
            "training": {"epochs": 1},
        }
        problem = refused(mlp)
        assert "only one class" in problem["detail"] and problem["errors"][0]["loc"] == ["task"]
        stored_single = client.post(
            "/v1/jobs", json={"dataset_id": single["id"], "network": HEBBIAN}
        )
        assert stored_single.status_code == 202
        assert wait_for_job(client, stored_single.json()["id"])["status"] == "succeeded"
        # a feedforward job still needs its training object
        problem = refused({**mlp, "dataset_id": dataset_id, "training": None})
        assert problem["errors"][0]["loc"] == ["body", "training"]


def test_recall_refusals_and_tenants(stack: Stack) -> None:
    setup = stored(stack)
    model_id = setup["job"]["model_id"]
    row = setup["patterns"][0].tolist()
    path = f"/v1/models/{model_id}/recall"
    with stack.client(setup["key"]) as client:

        def refused(body: dict[str, Any], status: int = 422) -> dict[str, Any]:
            return assert_problem(client.post(path, json=body), status)

        problem = refused({"patterns": [row[:-1]]})
        assert "99 values" in problem["detail"] and "100 units" in problem["detail"]
        assert problem["errors"][0]["loc"] == ["body", "patterns", 0]
        problem = refused({"patterns": [row, [*row[:9], 2, *row[10:]]]})
        assert problem["errors"][0]["loc"] == ["body", "patterns", 1, "u9"]
        problem = refused({"patterns": [[*row[:-1], -1]]})
        assert "binary" in problem["detail"] and "'u99'" in problem["detail"]
        problem = refused({"patterns": [[True, *row[1:]]]})
        assert problem["errors"][0]["loc"] == ["body", "patterns", 0, "u0"]
        problem = refused({"patterns": [[*row[:-1], "1"]]})
        assert "not a number" in problem["detail"]
        assert "1,000" in refused({"patterns": [row] * 1001})["detail"]
        assert refused({"patterns": []})["detail"]
        for bad in (0, 10_001, 1.5, "5"):
            problem = refused({"patterns": [row], "max_iterations": bad})
            assert problem["errors"][0]["loc"][:2] == ["body", "max_iterations"], problem
        assert refused({"patterns": [row], "seed": -1})["errors"][0]["loc"][:2] == ["body", "seed"]
        assert refused({"patterns": [row], "bogus": 1})["errors"][0]["loc"][:2] == ["body", "bogus"]

        for route in ("predict", "onnx", "confusion"):
            method = client.post if route == "predict" else client.get
            kwargs = {"json": {"inputs": [row[:-1]]}} if route == "predict" else {}
            problem = assert_problem(method(f"/v1/models/{model_id}/{route}", **kwargs), 422)
            assert f"/v1/models/{model_id}/recall" in problem["detail"], route
        batch = client.post(
            f"/v1/models/{model_id}/predictions",
            files={"file": ("rows.csv", patterns_csv(setup["patterns"]), "text/csv")},
        )
        assert "/recall" in assert_problem(batch, 422)["detail"]

        # a feedforward model has nothing to recall
        binary = upload(client, patterns_csv(setup["patterns"]))
        mlp_job = client.post(
            "/v1/jobs",
            json={
                "dataset_id": binary["id"],
                "network": {"layers": [{"units": 4}]},
                "training": {"epochs": 1, "batch_size": 5},
            },
        ).json()
        mlp = wait_for_job(client, mlp_job["id"])
        assert mlp["status"] == "succeeded", mlp
        problem = assert_problem(
            client.post(f"/v1/models/{mlp['model_id']}/recall", json={"patterns": [row]}), 422
        )
        assert "not a Hopfield network" in problem["detail"] and "/predict" in problem["detail"]
        assert_problem(client.post("/v1/models/mdl_missing/recall", json={"patterns": [row]}), 404)

    other = stack.create_key("hopfield-other")
    with stack.client(other) as client:
        problem = assert_problem(client.post(path, json={"patterns": [row]}), 404)
        assert model_id in problem["detail"]
        assert_problem(client.get(f"/v1/models/{model_id}"), 404)


def test_cli_recall(stack: Stack, tmp_path: Path) -> None:
    setup = stored(stack)
    model_id = setup["job"]["model_id"]
    patterns = setup["patterns"]
    names = [f"u{j}" for j in range(N_UNITS)]
    # columns in another order, and an extra one: matched by name
    order = names[::-1]
    probes = noisy(patterns, seed=11)
    table = np.column_stack([probes[:, ::-1], np.arange(N_PATTERNS)])
    source = tmp_path / "probes.csv"
    source.write_bytes(patterns_csv(table, [*order, "id"]))
    output = tmp_path / "recalled.csv"
    auth = ["--url", stack.url, "--key", setup["key"]]
    done = stack.neuronal("recall", model_id, str(source), "--output", str(output), "--seed", "4",
                          "--max-iterations", "50", *auth)  # fmt: skip
    assert f"wrote {N_PATTERNS} recalled patterns" in done.stderr
    with output.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [*names, "converged", "iterations", "nearest_pattern", "hamming"]
    states = np.array([[int(r[n]) for n in names] for r in rows])
    assert (states == patterns).mean() >= 0.99
    assert [int(r["nearest_pattern"]) for r in rows] == list(range(N_PATTERNS))
    assert all(r["converged"] == "true" for r in rows)
    assert [int(r["hamming"]) for r in rows] == (states != patterns).sum(axis=1).tolist()

    printed = stack.neuronal(
        "recall", model_id, str(source), "--seed", "4", "--max-iterations", "50", *auth
    )
    assert printed.stdout == output.read_text()

    bad = tmp_path / "bad.csv"
    bad.write_text("u0,u1\n1,0\n")
    failed = stack.neuronal("recall", model_id, str(bad), *auth, check=False)
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.startswith("error: ") and "u2" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1 and "Traceback" not in failed.stderr
    noisy_values = tmp_path / "values.csv"
    noisy_values.write_bytes(patterns_csv(np.full((1, N_UNITS), 0.5), names))
    failed = stack.neuronal("recall", model_id, str(noisy_values), *auth, check=False)
    assert failed.returncode == 1 and len(failed.stderr.strip().splitlines()) == 1
    assert failed.stderr.startswith("error: ") and "0.5" in failed.stderr
    failed = stack.neuronal("recall", "mdl_missing", str(source), *auth, check=False)
    assert failed.returncode == 1 and failed.stderr.startswith("error: There is no model")
    failed = stack.neuronal("recall", model_id, str(tmp_path / "absent.csv"), *auth, check=False)
    assert failed.returncode == 1 and failed.stderr.startswith("error: cannot read")
