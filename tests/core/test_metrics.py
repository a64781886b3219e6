"""/metrics on real processes: prediction instruments, and job figures read from the database."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from neuronal_client import InvalidRequestError, NeuronalClient
from prometheus_client.parser import text_string_to_metric_families

from tests.stack import Stack

NETWORK = {"layers": [{"units": 8, "activation": "relu"}]}
TRAINING = {"epochs": 7, "batch_size": 16, "optimizer": {"name": "adam", "learning_rate": 0.01}}


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, keyed by (sample name, sorted labels)."""
    text = httpx.get(url + "/metrics", timeout=30).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def workerless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The embedded database and broker with no worker: submitted jobs stay queued."""
    stack = Stack(tmp_path_factory.mktemp("workerless"), {}, embedded=False)
    stack.start_api()
    yield stack
    stack.stop()


def test_predictions_and_training_figures(embedded_stack: Stack, iris_bytes: bytes) -> None:
    key = embedded_stack.create_key("metrics")
    with NeuronalClient(embedded_stack.url, key) as client:
        dataset = client.upload_dataset(iris_bytes, filename="iris.csv")
        before = scrape(embedded_stack.url)
        job = client.create_job(dataset["id"], NETWORK, TRAINING)
        final = client.wait_for_job(job["id"], timeout=120)
        assert final["status"] == "succeeded"
        model_id = final["model_id"]
        assert model_id
        for rows in ([[5.1, 3.5, 1.4, 0.2]], [[6.7, 3.0, 5.2, 2.3]] * 3, [[5.9, 3.0, 4.2, 1.5]]):
            client.predict(model_id, inputs=rows)
        with pytest.raises(InvalidRequestError):
            client.predict(model_id, inputs=[[1.0, 2.0]])
    after = scrape(embedded_stack.url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("neuronal_predictions_total", outcome="ok") == 3
    assert delta("neuronal_predictions_total", outcome="error") == 1
    assert delta("neuronal_predicted_rows_total") == 5
    assert delta("neuronal_prediction_seconds_count") == 4
    assert 0 < delta("neuronal_prediction_seconds_sum") < 10
    assert not any("model" in label for (_, labels) in after for label, _ in labels)

    succeeded = {"status": "succeeded"}
    assert delta("neuronal_training_seconds_count", **succeeded) >= 1
    assert delta("neuronal_training_epochs_sum", **succeeded) >= 7
    assert delta("neuronal_training_epochs_bucket", le="10.0", **succeeded) >= 1
    # the histograms are the database's truth: one observation per succeeded job
    jobs = value(after, "neuronal_jobs", status="succeeded")
    assert value(after, "neuronal_training_seconds_count", **succeeded) == jobs
    assert value(after, "neuronal_training_epochs_bucket", le="+Inf", **succeeded) == jobs
    buckets = sorted(
        (float(dict(labels)["le"]), v)
        for (name, labels), v in after.items()
        if name == "neuronal_training_seconds_bucket" and dict(labels)["status"] == "succeeded"
    )
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative


def test_queue_depth_counts_jobs_waiting_in_the_database(
    workerless: Stack, iris_bytes: bytes
) -> None:
    key = workerless.create_key("queue")
    with NeuronalClient(workerless.url, key) as client:
        dataset = client.upload_dataset(iris_bytes, filename="iris.csv")
        assert value(scrape(workerless.url), "neuronal_queue_depth") == 0
        for _ in range(3):
            client.create_job(dataset["id"], NETWORK, TRAINING)
        samples = scrape(workerless.url)
    assert value(samples, "neuronal_queue_depth") == 3
    assert value(samples, "neuronal_jobs", status="queued") == 3
    assert value(samples, "neuronal_training_seconds_count", status="succeeded") == 0
