"""Prometheus figures read from the database at scrape time (jobs by status)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from service.db import session_factory
from service.models import TrainingJob


class JobStatusCollector(Collector):
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("neuronal_jobs", "Training jobs by status", labels=["status"])
        try:
            with session_factory(self.database_url)() as session:
                rows = session.execute(
                    select(TrainingJob.status, func.count()).group_by(TrainingJob.status)
                ).all()
        except Exception:
            rows = []
        counts = dict.fromkeys(("queued", "running", "succeeded", "failed", "cancelled"), 0)
        counts.update({status: n for status, n in rows})
        for status, n in counts.items():
            gauge.add_metric([status], n)
        yield gauge


_collector: JobStatusCollector | None = None


def register_job_collector(database_url: str) -> None:
    """Register once per process; the latest app's database is the one reported."""
    global _collector
    if _collector is None:
        _collector = JobStatusCollector(database_url)
        REGISTRY.register(_collector)
    _collector.database_url = database_url
