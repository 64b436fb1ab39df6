"""Progress a person can read: the live tqdm bar on a terminal; in a log file or a Slurm log (not a terminal),
one plain line every INTERVAL_S seconds and one at the end, instead of thousands of carriage-return redraws."""

from __future__ import annotations

import logging
import os
import sys
import time

INTERVAL_S = 30.0


def on_terminal() -> bool:
    return sys.stderr.isatty()


def quiet_library_bars() -> None:
    """Outside a terminal, the libraries' own bars (loading weights, saving datasets) are carriage-return noise in
    a log file: switch off those of the libraries this process has imported."""
    if on_terminal():
        return
    if "datasets" in sys.modules:
        sys.modules["datasets"].disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Ticker:
    """Logs `what: done/total (pct), rate, elapsed, about … left` when INTERVAL_S has passed, and at the end."""

    def __init__(self, log: logging.Logger, what: str, total: int | None, unit: str = "it", interval=INTERVAL_S):
        self.log, self.what, self.total, self.unit, self.interval = log, what, total, unit, interval
        self.started = self.last = time.monotonic()
        self.first_done: int | None = None  # a resumed run starts counting where it resumed

    def update(self, done: int, extra: str = "") -> None:
        now = time.monotonic()
        if self.first_done is None:
            self.first_done, self.started = done, now
            return
        finished = self.total is not None and done >= self.total
        if now - self.last < self.interval and not finished:
            return
        self.last = now
        elapsed = now - self.started
        rate = (done - self.first_done) / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.what}: {done}/{self.total}" if self.total else f"{self.what}: {done}"]
        if self.total:
            parts[0] += f" ({100 * done / self.total:.0f}%)"
        parts.append(f"{rate:.1f} {self.unit}/s")
        parts.append(f"{duration(elapsed)} elapsed")
        if self.total and rate > 0 and not finished:
            parts.append(f"about {duration((self.total - done) / rate)} left")
        if extra:
            parts.append(extra)
        self.log.info(", ".join(parts))


def echo_to(fd: int | None, label: str) -> None:
    """Also show this process's own log lines (t5qa's: progress, losses, warnings) on the file descriptor `fd`,
    when it is open. A rule sends a long step's output to its log file; `3>&2` before that redirect keeps the
    terminal of a local run (or a Slurm job's output file) as fd 3, so the user sees the step move. Library output
    and tracebacks stay in the log file. Only the main process of a launch echoes."""
    if fd is None or os.environ.get("RANK", "0") != "0":
        return
    try:
        os.fstat(fd)
    except OSError:  # not inherited (a launcher closed it): the log file has everything
        return
    stream = os.fdopen(fd, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(f"%(asctime)s [{label}] %(message)s", "%H:%M:%S"))
    handler.addFilter(lambda record: record.name.startswith("t5qa"))
    logging.getLogger().addHandler(handler)
