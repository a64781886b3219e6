"""The embedded default's broker: kombu's filesystem transport with atomic message files.

kombu writes a message file in place, so a worker polling the folder can pick up a file that
is still empty and die on the JSON error ("Unrecoverable error"). Here each message is written
to a side folder and renamed into the queue folder, which the reader then only ever sees whole.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class AtomicChannel(filesystem.Channel):
    # the filesystem channel this overrides takes (queue, payload, **kwargs) too
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{int(round(time.monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        staging = os.path.join(os.path.dirname(os.path.abspath(self.data_folder_out)), "staging")
        os.makedirs(staging, exist_ok=True)
        partial = os.path.join(staging, name)
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {name!r} to the queue folder") from exc


class AtomicFilesystemTransport(filesystem.Transport):
    Channel = AtomicChannel
