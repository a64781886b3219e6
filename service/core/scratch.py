"""Folders for uploads while they arrive, and the removal of those a killed process left.

An upload is written to a folder of its own until it is parsed; the folder goes when the
request ends, however it ends, unless the process itself is killed (kill -9, OOM). Folder
names start with the owning process id, so a starting API process removes exactly the
folders whose owner is gone, never one another running process is still writing.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from service.core.config import Settings

log = logging.getLogger("neuronal.scratch")


def scratch_root(settings: Settings) -> Path:
    """Where uploads in flight are kept: `uploads/` in the data dir."""
    return settings.data_dir.resolve() / "uploads"


def upload_folder(settings: Settings, kind: str) -> tempfile.TemporaryDirectory[str]:
    """A folder for one upload, removed when the `with` block ends."""
    root = scratch_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=f"{os.getpid()}-{kind}-", dir=root)


def remove_leftovers(settings: Settings) -> list[Path]:
    """Remove the upload folders of processes that no longer run; return what was removed."""
    root = scratch_root(settings)
    if not root.is_dir():
        return []
    removed = []
    for folder in root.iterdir():
        owner = folder.name.split("-", 1)[0]
        if owner.isdigit() and not _running(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    if removed:
        log.info("removed %d upload folder(s) left by stopped processes", len(removed))
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
