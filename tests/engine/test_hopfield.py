"""Hopfield networks: the learning rules, recall, energy, convergence, capacity and storage."""

from __future__ import annotations

import io

import numpy as np
import pytest

from service.engine import HopfieldModel, InputError, Model, SpecError, validate_hopfield_spec
from service.engine.hopfield import energy, settle
from service.engine.hopfield.rules import hebbian, storkey

N_UNITS = 100


def spec(**kw) -> dict:
    return {"kind": "hopfield", **kw}


def random_patterns(rng: np.random.Generator, p: int, n: int = N_UNITS) -> np.ndarray:
    return rng.choice(np.array([-1, 1]), size=(p, n))


def noisy(patterns: np.ndarray, rng: np.random.Generator, repeats: int, flips: int) -> np.ndarray:
    """`repeats` copies of each pattern, each with exactly `flips` bits flipped."""
    probes = np.repeat(patterns, repeats, axis=0)
    for probe in probes:
        probe[rng.choice(probes.shape[1], flips, replace=False)] *= -1
    return probes


# --- the spec -------------------------------------------------------------------------------


def test_spec_defaults_and_normalized_form():
    full = validate_hopfield_spec({"kind": "hopfield"})
    assert full == {"kind": "hopfield", "rule": "hebbian", "update": "async", "max_iterations": 100}
    assert validate_hopfield_spec(full) == full
    given = spec(rule="storkey", update="sync", max_iterations=7.0)
    assert validate_hopfield_spec(given)["max_iterations"] == 7


@pytest.mark.parametrize(
    ("network", "field"),
    [
        (spec(rule="oja"), "network.rule"),
        (spec(update="parallel"), "network.update"),
        (spec(max_iterations=0), "network.max_iterations"),
        (spec(max_iterations=True), "network.max_iterations"),
        (spec(epochs=3), "network.epochs"),
        ({"kind": "dense"}, "network.kind"),
        ([1, 2], "network"),
    ],
)
def test_spec_errors_name_the_field(network, field):
    with pytest.raises(SpecError) as caught:
        validate_hopfield_spec(network)
    assert caught.value.field == field
    assert field.split(".")[-1] in str(caught.value)


# --- the learning rules ---------------------------------------------------------------------


def storkey_by_the_book(patterns: np.ndarray) -> np.ndarray:
    """Storkey (1997) element by element: w_ij += (ξiξj - ξi h_ji - h_ij ξj) / n."""
    p, n = patterns.shape
    W = np.zeros((n, n))
    for xi in patterns.astype(float):
        h = np.array([[sum(W[i, k] * xi[k] for k in range(n) if k not in (i, j))
                       for j in range(n)] for i in range(n)])  # fmt: skip
        new = W.copy()
        for i in range(n):
            for j in range(n):
                if i != j:
                    new[i, j] += (xi[i] * xi[j] - xi[i] * h[j, i] - h[i, j] * xi[j]) / n
        W = new
    return W


def test_hebbian_is_the_sum_of_outer_products(rng):
    xi = random_patterns(rng, 5, 9)
    expected = sum(np.outer(x, x) for x in xi) / 9.0
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(hebbian(xi), expected, rtol=0, atol=1e-15)


def test_storkey_vectorised_equals_the_elementwise_rule(rng):
    xi = random_patterns(rng, 5, 8)
    W = storkey(xi)
    np.testing.assert_allclose(W, storkey_by_the_book(xi), rtol=0, atol=1e-12)
    assert np.array_equal(W, W.T) and not np.diag(W).any()


def test_one_stored_pattern_is_the_same_under_both_rules(rng):
    xi = random_patterns(rng, 1, 20)
    np.testing.assert_allclose(storkey(xi), hebbian(xi), atol=1e-15)


# --- recall ---------------------------------------------------------------------------------


@pytest.mark.parametrize("update", ["async", "sync"])
def test_ten_patterns_recalled_from_ten_percent_noise(update):
    recalled = {"hebbian": [], "storkey": []}
    for seed in range(5):
        rng = np.random.default_rng(seed)
        patterns = random_patterns(rng, 10)
        probes = noisy(patterns, rng, repeats=10, flips=10)
        truth = np.repeat(patterns, 10, axis=0)
        for rule, shares in recalled.items():
            model = HopfieldModel.store(patterns, spec(rule=rule, update=update))
            result = model.recall(probes, seed=seed)
            shares.append((result.states == truth).mean())
            if rule == "storkey":
                assert result.converged.all() and (result.nearest_pattern == truth_index()).all()
    assert min(recalled["storkey"]) >= 0.99, recalled
    assert np.mean(recalled["hebbian"]) >= 0.99, recalled


def truth_index() -> np.ndarray:
    return np.repeat(np.arange(10), 10)


def test_stored_patterns_are_fixed_points_of_zero_iterations(rng):
    patterns = random_patterns(rng, 5)
    model = HopfieldModel.store(patterns, spec(rule="storkey"))
    result = model.recall(patterns)
    assert (result.states == patterns).all() and result.converged.all()
    assert (result.iterations == 0).all() and (result.hamming == 0).all()
    assert (result.nearest_pattern == np.arange(5)).all()
    assert [len(e) for e in result.energy] == [1] * 5


def test_recall_reports_energy_per_sweep_nearest_pattern_and_hamming(rng):
    patterns = random_patterns(rng, 8)
    model = HopfieldModel.store(patterns, spec())
    probes = noisy(patterns, rng, repeats=3, flips=25)
    result = model.recall(probes, seed=3)
    for k, row in enumerate(result.energy):
        assert len(row) == result.iterations[k] + 1
        assert row[0] == pytest.approx(
            energy(model.weights, model.thresholds, probes[k : k + 1])[0]
        )
        assert row[-1] == pytest.approx(model.energy(result.states[k])[0])
        assert np.all(np.diff(row) < 0)  # every counted sweep changed the state, downhill
    distances = (result.states[:, None, :] != patterns[None, :, :]).sum(axis=2)
    assert (result.hamming == distances.min(axis=1)).all()
    assert (result.nearest_pattern == distances.argmin(axis=1)).all()
    plain = result.to_dict()
    assert set(plain) == {"states", "energy", "iterations", "converged", "nearest_pattern",
                          "hamming"}  # fmt: skip
    assert isinstance(plain["states"][0][0], int) and isinstance(plain["converged"][0], bool)


def test_max_iterations_stops_early_and_reports_not_converged():
    rng = np.random.default_rng(11)
    patterns = random_patterns(rng, 12)
    model = HopfieldModel.store(patterns, spec(max_iterations=1))
    probes = noisy(patterns, rng, repeats=4, flips=30)
    full = model.recall(probes, max_iterations=50)
    assert full.converged.all() and full.iterations.max() >= 2
    short = model.recall(probes)  # the spec's limit: one sweep
    needs_more = full.iterations > 1
    assert (short.iterations == np.minimum(full.iterations, 1)).all()
    assert not short.converged[needs_more].any() and short.converged[~needs_more].all()
    with pytest.raises(SpecError) as caught:
        model.recall(probes, max_iterations=0)
    assert caught.value.field == "max_iterations"
    with pytest.raises(SpecError):
        model.recall(probes, seed=-1)


# --- energy under asynchronous updates -------------------------------------------------------


def energies_at_every_unit_update(W, theta, states, seed):
    """Run async recall, recomputing the energy after every single-unit update."""
    seen: dict[int, list[float]] = {row: [e] for row, e in enumerate(energy(W, theta, states))}
    updates = []

    def trace(rows, unit, current):
        updates.append(unit)
        for row, value in zip(rows.tolist(), energy(W, theta, current), strict=True):
            seen[row].append(value)

    done = settle(W, theta, states, update="async", max_iterations=100,
                  rng=np.random.default_rng(seed), trace=trace)  # fmt: skip
    return seen, updates, done


def test_energy_never_rises_at_any_unit_update_of_a_stored_network(rng):
    patterns = random_patterns(rng, 14)
    model = HopfieldModel.store(patterns, spec())
    probes = noisy(patterns, rng, repeats=2, flips=30).astype(float)
    seen, updates, done = energies_at_every_unit_update(model.weights, model.thresholds, probes, 1)
    assert len(updates) == N_UNITS * int(done.iterations.max())
    for row, values in seen.items():
        assert len(values) == 1 + N_UNITS * done.iterations[row]
        assert np.all(np.diff(values) <= 1e-12), row
        assert values[-1] < values[0]


@pytest.mark.parametrize("seed", range(4))
def test_energy_never_rises_under_random_weights_and_thresholds(seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(40, 40))
    W = (A + A.T) / 2
    np.fill_diagonal(W, 0)
    theta = rng.normal(size=40)
    states = rng.choice([-1.0, 1.0], size=(16, 40))
    seen, _, done = energies_at_every_unit_update(W, theta, states, seed)
    assert done.converged.all()  # asynchronous dynamics on symmetric weights always settle
    for values in seen.values():
        assert np.all(np.diff(values) <= 1e-9 * np.abs(values[0]))
    assert any(values[-1] < values[0] - 1 for values in seen.values())


# --- synchronous 2-cycles --------------------------------------------------------------------


def test_sync_update_finds_a_two_cycle_and_reports_not_converged(rng):
    pattern = random_patterns(rng, 1)
    probe = pattern.copy()
    probe[0, :50] *= -1  # overlap 0: every unit's field is -s_i / n, so all flip, and back
    model = HopfieldModel.store(pattern, spec(update="sync"))
    result = model.recall(probe)
    assert not result.converged[0] and result.cycled[0]
    assert result.iterations[0] == 2 and (result.states == probe).all()
    e = model.energy(np.vstack([probe, -probe]))
    np.testing.assert_allclose(result.energy[0], [e[0], e[1], e[0]])
    settled = HopfieldModel.store(pattern, spec(update="async")).recall(probe)
    assert settled.converged[0] and not settled.cycled[0]
    assert settled.hamming[0] in (0, N_UNITS)  # the pattern or its mirror image


def test_two_unit_two_cycle():
    model = HopfieldModel.store([[1, 1]], spec(update="sync"))
    result = model.recall([[1, -1], [1, 1]])
    assert result.cycled.tolist() == [True, False]
    assert result.converged.tolist() == [False, True]


# --- capacity --------------------------------------------------------------------------------


def test_storkey_stores_stably_at_a_load_where_hebbian_fails():
    hebbian_shares = []
    for seed in range(10):
        patterns = random_patterns(np.random.default_rng(seed), 18)
        strong = HopfieldModel.store(patterns, spec(rule="storkey")).capacity()
        weak = HopfieldModel.store(patterns, spec(rule="hebbian")).capacity()
        assert strong == {"n_patterns": 18, "n_units": 100, "capacity_ratio": 0.18,
                          "stable_patterns": 18, "stable_fraction": 1.0}  # fmt: skip
        assert weak["stable_fraction"] < 0.9
        hebbian_shares.append(weak["stable_fraction"])
    assert np.mean(hebbian_shares) <= 0.7


def test_stable_patterns_are_exactly_the_ones_recall_leaves_alone():
    patterns = random_patterns(np.random.default_rng(2), 20)
    model = HopfieldModel.store(patterns, spec())
    stable = model.stable()
    assert 0 < stable.sum() < 20
    result = model.recall(patterns)
    assert ((result.iterations == 0) == stable).all()
    assert model.capacity()["stable_patterns"] == stable.sum()


# --- encodings and refused input -------------------------------------------------------------


@pytest.mark.parametrize(("low", "encoding"), [(0, "binary"), (-1, "bipolar")])
def test_encodings_round_trip(rng, low, encoding):
    bipolar = random_patterns(rng, 4, 30)
    data = np.where(bipolar > 0, 1, low)
    model = HopfieldModel.store(data.tolist(), spec(rule="storkey"))
    assert model.encoding == encoding and (model.patterns == bipolar).all()
    assert model.stable().all()
    result = model.recall(data)
    assert (result.states == data).all() and set(np.unique(result.states)) == {low, 1}
    damaged = data.copy()
    damaged[:, :2] = np.where(damaged[:, :2] == 1, low, 1)
    assert (model.recall(damaged).states == data).all()
    assert model.recall(data[0].tolist()).states.shape == (1, 30)
    other = -1 if low == 0 else 0
    with pytest.raises(InputError, match=f"row 0, column 3 .* is {other}"):
        model.recall(np.where(np.arange(30) == 3, other, data[0])[None, :])


def test_all_ones_can_be_stored_as_either_encoding():
    ones = np.ones((2, 4))
    assert HopfieldModel.store(ones, spec()).encoding == "bipolar"
    assert HopfieldModel.store(ones, spec(), encoding="binary").encoding == "binary"


def test_mixed_encodings_are_refused_naming_the_first_conflict():
    data = [[1, 0, 1], [1, 1, 1], [-1, 1, 0]]
    with pytest.raises(InputError) as caught:
        HopfieldModel.store(data, spec())
    assert (caught.value.row, caught.value.feature) == (2, "x0")
    assert "row 2, column 0" in str(caught.value) and "row 0, column 1" in str(caught.value)


@pytest.mark.parametrize(
    ("data", "row", "column", "shown"),
    [
        ([[1, 0], [0.5, 1], [2, 0]], 1, 0, "0.5"),
        ([[1, -1], [1, 3]], 1, 1, "3"),
        ([[1, 0], [0, float("nan")]], 1, 1, "nan"),
        ([[1, 0], [0, "1"]], 1, 1, "'1'"),
        ([[1, None], [0, 1]], 0, 1, "None"),
    ],
)
def test_non_binary_values_are_refused_at_the_first_offending_cell(data, row, column, shown):
    with pytest.raises(InputError) as caught:
        HopfieldModel.store(data, spec(), feature_names=["a", "b"] if shown != "None" else None)
    assert caught.value.row == row
    assert f"row {row}, column {column}" in str(caught.value) and shown in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([[1, 0], [1]], "row 1 has 1 values"),
        ([], "no patterns"),
        ([1, 0, 1], "table"),
        ("1010", "list of rows"),
    ],
)
def test_malformed_pattern_tables_are_refused(data, message):
    with pytest.raises(InputError, match=message):
        HopfieldModel.store(data, spec())


def test_recall_needs_one_value_per_unit(rng):
    model = HopfieldModel.store(random_patterns(rng, 3, 10), spec())
    with pytest.raises(InputError, match="11 values but the network has 10 units"):
        model.recall(np.ones((2, 11)))


# --- reproducibility and storage -------------------------------------------------------------


def test_same_seed_same_result_and_batches_do_not_interact():
    model = HopfieldModel.store([[1, 1]], spec())  # [1, -1] falls to [1, 1] or [-1, -1]
    outcomes = {seed: model.recall([[1, -1]], seed=seed).states.tolist() for seed in range(20)}
    assert {str(o) for o in outcomes.values()} == {"[[1, 1]]", "[[-1, -1]]"}
    assert all(model.recall([[1, -1]], seed=s).states.tolist() == o for s, o in outcomes.items())
    rng = np.random.default_rng(9)
    patterns = random_patterns(rng, 12)
    big = HopfieldModel.store(patterns, spec())
    probes = noisy(patterns, rng, repeats=1, flips=30)
    batch = big.recall(probes, seed=5)
    for k in range(len(probes)):
        alone = big.recall(probes[k : k + 1], seed=5)
        assert (alone.states[0] == batch.states[k]).all()
        assert alone.iterations[0] == batch.iterations[k]
        # BLAS may sum in another order for another batch size: equal to rounding only
        np.testing.assert_allclose(alone.energy[0], batch.energy[k], rtol=1e-12)


@pytest.mark.parametrize("rule", ["hebbian", "storkey"])
@pytest.mark.parametrize("low", [0, -1])
def test_serialisation_round_trip_recalls_identically(rng, rule, low):
    patterns = np.where(random_patterns(rng, 9, 60) > 0, 1, low)
    model = HopfieldModel.store(patterns, spec(rule=rule, max_iterations=40),
                                feature_names=[f"pixel{j}" for j in range(60)])  # fmt: skip
    loaded = HopfieldModel.from_bytes(model.to_bytes())
    assert loaded.network == model.network and loaded.encoding == model.encoding
    assert loaded.feature_names == model.feature_names
    assert np.array_equal(loaded.weights, model.weights)
    probes = np.where(noisy(np.where(patterns == 1, 1, -1), rng, 3, 12) > 0, 1, low)
    a, b = model.recall(probes, seed=7), loaded.recall(probes, seed=7)
    for field in ("states", "iterations", "converged", "nearest_pattern", "hamming"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert all(np.array_equal(x, y) for x, y in zip(a.energy, b.energy, strict=True))
    with np.load(io.BytesIO(model.to_bytes()), allow_pickle=False) as archive:
        assert set(archive.files) == {"__meta__", "weights", "thresholds", "patterns"}


def tampered(model: HopfieldModel, **arrays) -> bytes:
    with np.load(io.BytesIO(model.to_bytes()), allow_pickle=False) as archive:
        contents = {name: archive[name] for name in archive.files}
    contents.update(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **contents)
    return buffer.getvalue()


def test_corrupt_or_foreign_bytes_are_refused(rng):
    model = HopfieldModel.store(random_patterns(rng, 3, 6), spec())
    lopsided = model.weights.copy()
    lopsided[0, 1] += 1
    self_loop = model.weights.copy()
    self_loop[2, 2] = 0.5
    for data in (
        b"not an archive",
        tampered(model, weights=lopsided),
        tampered(model, weights=self_loop),
        tampered(model, patterns=np.zeros((3, 6), np.int8)),
        tampered(model, thresholds=np.zeros(5)),
        tampered(model, extra=np.zeros(2)),
        tampered(model, weights=np.array([object()] * 36, dtype=object).reshape(6, 6)),
    ):
        with pytest.raises(ValueError, match="corrupt or not a Neuronal Hopfield network"):
            HopfieldModel.from_bytes(data)
    with pytest.raises(ValueError, match="not a Neuronal model"):
        Model.from_bytes(model.to_bytes())
