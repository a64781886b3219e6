"""The embedded broker never hands a reader a message file that is still being written."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from kombu import Connection

TRANSPORT = "service.core.folder_broker:AtomicFilesystemTransport"
MESSAGES = 300


def _options(folder: Path) -> dict[str, object]:
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"),
        "polling_interval": 0.0,
    }


def _publish(folder: str, transport: str, count: int) -> None:
    with Connection(transport=transport, transport_options=_options(Path(folder))) as conn:
        queue = conn.SimpleQueue("race")
        # kombu serialises after creating the file: a slow-to-serialise payload widens the window
        payload = {"rows": [[i * 0.5] * 8 for i in range(4000)]}
        for n in range(count):
            queue.put({**payload, "n": n})
        queue.close()


def receive_all(folder: Path, transport: str) -> list[int]:
    for sub in ("queue", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    writer = multiprocessing.get_context("spawn").Process(
        target=_publish, args=(str(folder), transport, MESSAGES)
    )
    writer.start()
    received: list[int] = []
    with Connection(transport=transport, transport_options=_options(folder)) as conn:
        queue = conn.SimpleQueue("race")
        try:
            while len(received) < MESSAGES:
                message = queue.get(timeout=30)
                received.append(message.payload["n"])
                message.ack()
        finally:
            queue.close()
            writer.join(timeout=60)
    return received


def test_every_message_arrives_whole_while_being_published(tmp_path: Path) -> None:
    received = receive_all(tmp_path, TRANSPORT)
    assert sorted(received) == list(range(MESSAGES))
