"""Prometheus figures for /metrics.

Job figures are read from the database at scrape time, so every API process reports the same
truth whichever hosts the workers run on: jobs by status, the queue depth, and histograms of
training seconds and epochs over finished jobs. Prediction figures are ordinary per-process
instruments (each API process counts the requests it served). No label carries an id.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ParamSpec

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy import case, func, select

from service.core.db import session_factory
from service.core.lifecycle import STATUSES, TERMINAL, JobStatus
from service.core.tables import CvFold, EpochMetric, TrainingJob

P = ParamSpec("P")
TRAINING_SECONDS_BUCKETS = (0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
TRAINING_EPOCHS_BUCKETS = (1, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

PREDICTIONS = Counter(
    "neuronal_predictions",
    "Predict requests answered by this API process, by outcome (ok or error)",
    ["outcome"],
)
PREDICTED_ROWS = Counter("neuronal_predicted_rows", "Rows predicted by this API process")
PREDICTION_SECONDS = Histogram(
    "neuronal_prediction_seconds",
    "Time to answer a predict request, model loading included",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
for _outcome in ("ok", "error"):
    PREDICTIONS.labels(_outcome)


def instrument_prediction(route: Callable[P, dict[str, Any]]) -> Callable[P, dict[str, Any]]:
    """Count and time a predict route (its reply's `predictions` give the rows)."""

    @functools.wraps(route)
    def timed(*args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        start = time.perf_counter()
        try:
            answer = route(*args, **kwargs)
        except Exception:
            PREDICTIONS.labels("error").inc()
            raise
        finally:
            PREDICTION_SECONDS.observe(time.perf_counter() - start)
        PREDICTIONS.labels("ok").inc()
        PREDICTED_ROWS.inc(len(answer.get("predictions") or []))
        return answer

    return timed


class JobCollector(Collector):
    """Job figures derived from the database on every scrape."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def describe(self) -> Iterator[Metric]:
        """Names only, so registering does not query the database."""
        yield GaugeMetricFamily("neuronal_jobs", "", labels=["status"])
        yield GaugeMetricFamily("neuronal_queue_depth", "")
        yield HistogramMetricFamily("neuronal_training_seconds", "", labels=["status"])
        yield HistogramMetricFamily("neuronal_training_epochs", "", labels=["status"])

    def collect(self) -> Iterator[Metric]:
        try:
            with session_factory(self.database_url)() as session:
                counts = dict(
                    session.execute(
                        select(TrainingJob.status, func.count()).group_by(TrainingJob.status)
                    ).all()
                )
                # a cross-validated job on its folds is running; its queued folds are queued
                folds = session.scalar(
                    select(func.count()).where(CvFold.status == JobStatus.QUEUED)
                )
                seconds, epochs = _finished_histograms(session)
        except Exception:  # a scrape must not fail because the database is down
            counts, folds, seconds, epochs = {}, 0, [], []
        jobs = GaugeMetricFamily("neuronal_jobs", "Training jobs by status", labels=["status"])
        for status in STATUSES:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
        yield GaugeMetricFamily(
            "neuronal_queue_depth",
            "Training tasks (jobs and cross-validation folds) queued in the database and not "
            "yet claimed by a worker",
            value=counts.get(JobStatus.QUEUED, 0) + (folds or 0),
        )
        yield _histogram(
            "neuronal_training_seconds",
            "Seconds spent training each finished job (its recorded epochs), by final status",
            TRAINING_SECONDS_BUCKETS,
            seconds,
        )
        yield _histogram(
            "neuronal_training_epochs",
            "Epochs trained by each finished job, by final status",
            TRAINING_EPOCHS_BUCKETS,
            epochs,
        )


Rows = list[tuple[str, list[int], int, float]]


def _finished_histograms(session: Any) -> tuple[Rows, Rows]:
    """Cumulative bucket counts per final status, computed by the database in one pass."""
    per_job = (
        select(
            TrainingJob.status.label("status"),
            func.coalesce(func.sum(EpochMetric.seconds), 0.0).label("seconds"),
            TrainingJob.epoch.label("epochs"),
        )
        .join(EpochMetric, EpochMetric.job_id == TrainingJob.id, isouter=True)
        .where(TrainingJob.status.in_(TERMINAL), TrainingJob.started_at.is_not(None))
        .group_by(TrainingJob.id, TrainingJob.status, TrainingJob.epoch)
        .subquery()
    )
    results: tuple[Rows, Rows] = ([], [])
    for column, buckets, out in (
        (per_job.c.seconds, TRAINING_SECONDS_BUCKETS, results[0]),
        (per_job.c.epochs, TRAINING_EPOCHS_BUCKETS, results[1]),
    ):
        le = [func.sum(case((column <= bound, 1), else_=0)) for bound in buckets]
        query = select(per_job.c.status, *le, func.count(), func.sum(column)).group_by(
            per_job.c.status
        )
        for status, *values in session.execute(query).all():
            *cumulative, count, total = values
            out.append((status, [int(v or 0) for v in cumulative], int(count), float(total or 0)))
    return results


def _histogram(name: str, doc: str, buckets: Sequence[float], rows: Rows) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=["status"])
    by_status = {status: (cumulative, count, total) for status, cumulative, count, total in rows}
    for status in TERMINAL:
        cumulative, count, total = by_status.get(status, ([0] * len(buckets), 0, 0.0))
        pairs = [(floatToGoString(b), float(c)) for b, c in zip(buckets, cumulative, strict=True)]
        family.add_metric([status], [*pairs, ("+Inf", float(count))], sum_value=total)
    return family


_collector: JobCollector | None = None


def register_job_collector(database_url: str) -> None:
    """Register once per process; the latest app's database is the one reported."""
    global _collector
    if _collector is None:
        _collector = JobCollector(database_url)
        REGISTRY.register(_collector)
    _collector.database_url = database_url
