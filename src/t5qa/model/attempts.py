"""The attempts log of a long step (train, predict): one line per decision, kept across Snakemake's retries (which
delete the step's own log before each attempt), and the rule that decides whether an attempt is worth running.

An attempt that ended at a signal (Slurm's warning before a time limit, preemption, Ctrl-C) saved its work and a
retry resumes it. One that failed on its own (out of memory, a traceback, bad input) would fail again the same way
at full GPU cost: the next attempt of the same run stops at once with one line naming that error and what to change.
A new run is told apart from a retry by Snakemake's attempt number (`--attempt {resources.attempt}` in the rules):
attempt 1 is a new run, which always starts (the user may have fixed the cause); attempts 2, 3, ... are retries of
the same run. An attempt that left no last word (killed by SIGKILL: a time limit's grace running out, a node
failure, the kernel's out-of-memory killer) is retried: its saved work resumes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

from t5qa.cli import first_line
from t5qa.errors import InputError

log = logging.getLogger("t5qa.model.attempts")  # a line here is a decision: it also reaches the step's log
log.setLevel(logging.INFO)  # decisions are recorded whatever the process's logging level
START = re.compile(r" attempt (\d+) starting")
FAILED = re.compile(r"failed on its own: (.*)$")
GIB = 2**30
_signal: list[int] = []  # the signal this process was asked to stop by, once one arrived


def signal_received(signum: int) -> None:
    """Called by the steps' signal handlers: an error after this is the signal's doing, not the step's own."""
    _signal.append(signum)


def previous_failure(path: Path) -> str | None:
    """The failure of the last attempt recorded in `path` (its 'failed on its own: …' line), if it failed so."""
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    starts = [i for i, line in enumerate(lines) if START.search(line)]
    last = lines[starts[-1] :] if starts else lines
    reasons = [match[1] for line in last if (match := FAILED.search(line))]
    return reasons[-1] if reasons else None


def out_of_memory_advice(err: BaseException, setting: str, value: int) -> str:
    """What to lower after an out-of-memory error, and how far, from the numbers in PyTorch's message.

    CUDA's message gives the allocation that failed, the card's capacity and what the process held. With all that
    memory scaling with the batch the batch would fit at capacity / (held + tried) of its size; the weights and the
    optimizer state do not shrink with the batch, so that is a bound: at least this much smaller."""
    text = str(err)
    numbers = {
        name: float(found[1]) * {"GiB": GIB, "MiB": 2**20, "KiB": 2**10}[found[2]]
        for name, pattern in {
            "tried": r"Tried to allocate ([\d.]+) (GiB|MiB|KiB)",
            "capacity": r"total capacity of ([\d.]+) (GiB|MiB|KiB)",
            "held": r"this process has ([\d.]+) (GiB|MiB|KiB) memory in use",
        }.items()
        if (found := re.search(pattern, text))
    }
    if len(numbers) == 3 and numbers["held"] + numbers["tried"] > 0:
        scale = numbers["capacity"] / (numbers["held"] + numbers["tried"])
        most = max(1, int(value * scale))
        return (
            f"lower {setting} from {value} to at most {most} (at least {100 * (1 - scale):.0f} % smaller: the step "
            f"needed {(numbers['held'] + numbers['tried']) / GIB:.1f} GiB of the card's {numbers['capacity'] / GIB:.1f}"
            " GiB, and the weights and optimizer state do not shrink with the batch)"
        )
    tried = re.search(r"tried to allocate (\d+) bytes", text)  # the CPU allocator's message: no totals in it
    alone = f"; the allocation that failed alone was {int(tried[1]) / GIB:.1f} GiB" if tried else ""
    return f"lower {setting} (now {value}), or ask for more memory (the profile's mem_mb for a CPU job){alone}"


def advice(err: BaseException, step: str, settings) -> str:
    """One line: the error, then what to change (on out of memory: the step's batch_tokens when set, else its
    batch_size; `settings` None: not read yet)."""
    if is_out_of_memory(err):
        if settings is None:
            return f"out of memory ({first_line(err)}) -- lower {step}.batch_size or {step}.batch_tokens"
        name = "batch_tokens" if settings.batch_tokens else "batch_size"
        lower = out_of_memory_advice(err, f"{step}.{name}", getattr(settings, name))
        return f"out of memory ({first_line(err)}) -- {lower}"
    if isinstance(err, InputError):
        return f"{first_line(err)} -- fix the input or setting it names"
    return f"{type(err).__name__}: {first_line(err)} -- the step's log has the traceback; fix the cause"


def is_out_of_memory(err: BaseException) -> bool:
    """CUDA's (torch.OutOfMemoryError: "CUDA out of memory. ..."), the CPU allocator's, or Python's own."""
    return isinstance(err, MemoryError) or any(s in str(err) for s in ("out of memory", "can't allocate memory"))


class Attempt:
    """One attempt's last line in the attempts log. The step sets `settings` once it has read them: a failure's
    advice names the batch setting to lower."""

    def __init__(self):
        self.settings = None

    def ended(self, status: int, detail: str = "") -> None:
        if status:
            log.warning("stopped by a signal (exit %d)%s: the next attempt resumes", status, detail)
        else:
            log.info("finished%s", detail)


@contextlib.contextmanager
def recorded(path: str | os.PathLike | None, step: str, number: int) -> Iterator[Attempt]:
    """Run one attempt of `step`: refuse at once when it is a retry of an attempt that failed on its own, log its
    start, and its failure with what to change.

    Every process of the step writes its failures; only the main one (RANK 0) its other lines."""
    if number < 1:
        raise InputError(f"--attempt must be 1 or more, not {number}")
    handler = None
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, mode="a", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        if os.environ.get("RANK", "0") != "0":
            handler.setLevel(logging.ERROR)
        log.addHandler(handler)
    try:
        failure = previous_failure(path) if path is not None and number > 1 else None
        if failure:
            # Logged as a failure of its own too: the attempt after this one refuses as well.
            message = (
                f"{step} attempt {number} not run (a retry would fail the same way; fix the cause and rerun: a new "
                f"run starts again at attempt 1): attempt {number - 1} failed on its own: {failure}"
            )
            log.error(message)
            raise InputError(message)
        job = f" (Slurm job {os.environ['SLURM_JOB_ID']})" if "SLURM_JOB_ID" in os.environ else ""
        kind = "a new run" if number == 1 else "a retry: the previous attempt stopped at a signal or was killed"
        log.info("%s attempt %d starting%s: %s", step, number, job, kind)
        try:
            attempt = Attempt()
            yield attempt
        except (Exception, KeyboardInterrupt) as err:
            if _signal or isinstance(err, KeyboardInterrupt):
                log.warning("stopped by a signal (%s): the next attempt resumes", first_line(err))
            else:
                log.error("failed on its own: %s", advice(err, step, attempt.settings))
            raise
    finally:
        if handler is not None:
            log.removeHandler(handler)
            handler.close()
