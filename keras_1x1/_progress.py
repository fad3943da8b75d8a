"""Progress lines for long commands, on stderr and only where someone watches.

Stage lines go to stderr when it is a terminal, so an interactive user sees
long work move while scripts, pipes and logs keep stdout for results and
stderr for the one-line error. ``KERAS_1X1_PROGRESS=1`` forces them on and
``KERAS_1X1_PROGRESS=0`` off.
"""

import os
import sys
import time


def enabled(stream):
    forced = os.environ.get("KERAS_1X1_PROGRESS", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Progress:
    """Numbered stage lines with elapsed times: ``[2/3   4.1s] converting ...``."""

    def __init__(self, stages=None, stream=None):
        self.stages = stages
        self.step = 0
        self.start = time.perf_counter()
        self.stream = stream or sys.stderr

    def __call__(self, text):
        self.step += 1
        if not enabled(self.stream):
            return
        elapsed = time.perf_counter() - self.start
        total = f"/{self.stages}" if self.stages else ""
        print(f"[{self.step}{total} {elapsed:6.1f}s] {text}", file=self.stream, flush=True)
