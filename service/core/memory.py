"""Hand large freed buffers back to the operating system.

glibc's malloc raises its mmap threshold each time a large block is freed (up to 32 MB), so
the buffers of one parsed upload or training run are afterwards carved from the heap, which
it rarely returns: a 100 MB CSV left an API process 150 MB larger than before it. Pinning
the threshold at 1 MiB keeps every large array in its own mapping, returned when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
THRESHOLD = 1 << 20

log = logging.getLogger("neuronal.memory")


def return_large_frees_to_os() -> bool:
    """Set malloc's mmap threshold; False where malloc is not glibc's."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    done = bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD))
    if not done:
        log.debug("mallopt(M_MMAP_THRESHOLD) refused")
    return done
