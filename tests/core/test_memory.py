"""Large freed buffers go back to the operating system."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import sys
import numpy as np
import psutil
from service.core.memory import return_large_frees_to_os
if sys.argv[1] == "set":
    assert return_large_frees_to_os()
proc = psutil.Process()
blocks = [np.ones(8 << 20, np.uint8) for _ in range(2)]
del blocks  # raises glibc's threshold to 8 MB
before = proc.memory_info().rss
blocks = [np.ones(4 << 20, np.uint8) for _ in range(40)]  # 160 MB, from the heap by default
blocks = blocks[-1:]  # all but the last freed
print((proc.memory_info().rss - before) >> 20)
"""


def grown_mib(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_arrays_leave_the_process_with_the_threshold_pinned() -> None:
    assert grown_mib("default") > 100  # the retention this is about
    assert grown_mib("set") < 20
