"""The delivery sweep: the database says which deliveries are due, so a message lost to a
crash (between a commit and its enqueue, or a worker killed mid-attempt) is sent again, and
retries due later than a worker's countdown are sent when their time comes."""

from __future__ import annotations

import logging
import threading

from service.core.config import Settings
from service.core.db import transaction
from service.core.queue import Producer
from service.domain.webhooks.attempts import due_deliveries
from worker.fencing import SHUTDOWN

log = logging.getLogger("neuronal.webhooks")


def sweep_once(settings: Settings, producer: Producer) -> list[str]:
    """Send the messages of the deliveries that are due and have none on the way."""
    with transaction() as session:
        due = due_deliveries(session, settings)
    for delivery_id in due:
        producer.enqueue_delivery(delivery_id)
    if due:
        log.info("delivery sweep sent %d delivery message(s)", len(due))
    return due


class DeliverySweep(threading.Thread):
    """Sweeps every `webhook_sweep_interval_seconds` in a delivery worker's main process."""

    def __init__(self, settings: Settings, producer: Producer) -> None:
        super().__init__(daemon=True, name="neuronal-delivery-sweep")
        self.settings = settings
        self.producer = producer
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.settings.webhook_sweep_interval_seconds):
            if SHUTDOWN.is_set():
                return
            try:
                sweep_once(self.settings, self.producer)
            except Exception as exc:  # a database outage: try again next sweep
                log.warning("delivery sweep failed: %s", exc)
