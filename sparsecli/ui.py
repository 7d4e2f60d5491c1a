"""Everything the user sees besides results: logs and progress, all on stderr.

stdout is reserved for results (tables, and the run directory as the last line), so that
`ENC=$(sparse encode ... | tail -n1)` works. On a terminal, logs go through Rich and long
loops show a progress bar; without one (CI, pipes) a plain log line is emitted every
`interval` seconds instead, because Rich only draws the final bar when not on a TTY.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

log = logging.getLogger("sparsecli")

_console = None
LOG_WIDTH = 160  # columns of a table written to a file or a pipe, where nothing wraps it again
_progress_mode = "auto"  # auto | bar | log | none
_progress_interval = 10.0


def _sized(out):
    """A Rich console as wide as its terminal, or LOG_WIDTH when writing to a file or pipe."""
    if not out.is_terminal:
        out.width = LOG_WIDTH
    return out


def results_console():
    """stdout, for results."""
    from rich.console import Console

    return _sized(Console(file=sys.stdout, soft_wrap=False))


def console():
    """stderr, for logs, progress and summaries."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = _sized(Console(stderr=True))
    return _console


def configure(progress: str = "auto", interval: float = 10.0) -> None:
    global _progress_mode, _progress_interval
    _progress_mode, _progress_interval = progress, interval


def console_handler() -> logging.Handler:
    """Handler factory referenced from hydra/job_logging/sparse.yaml."""
    if console().is_terminal:
        from rich.logging import RichHandler

        return RichHandler(console=console(), show_path=False, log_time_format="[%X]")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    return handler


class AttemptLog(logging.FileHandler):
    """The log file of one attempt, which also receives the traceback of an unexpected error."""


def file_handler(path: str) -> logging.Handler:
    """One log file per attempt, so reruns in a cached run directory never interleave."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = AttemptLog(path, delay=True, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def attempt_log() -> AttemptLog | None:
    """The current attempt's log file handler, as configured by Hydra's job logging."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, AttemptLog):
            return handler
    return None


def reopen_attempt_log() -> None:
    """Make the attempt's log file again at its path, when its run directory was removed
    (by the failed run of another process this one waited for) and made again."""
    handler = attempt_log()
    if handler is None:
        return
    Path(handler.baseFilename).parent.mkdir(parents=True, exist_ok=True)
    handler.acquire()
    try:
        if handler.stream is not None:
            handler.stream.close()
        handler.stream = None  # FileHandler opens it again at the next record
    finally:
        handler.release()


def message(line: str) -> None:
    """One line on stderr, outside logging (so never interleaved with a progress bar)."""
    sys.stderr.write(f"{line}\n")
    sys.stderr.flush()


def error(line: str) -> None:
    """The single line a user sees for an error."""
    message(f"error: {line}")


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """A table on stderr: summaries that are not a command's results."""
    from rich.table import Table
    from rich.text import Text

    shown = Table(title=title, title_justify="left")
    for column in header:
        shown.add_column(column, overflow="fold")
    for row in rows:
        shown.add_row(*(Text(cell) for cell in row))  # plain text: a list value's [ ] is not markup
    console().print(shown)


def _fmt_duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _LogTracker:
    """Progress as periodic log lines: `encode docs 4000/5183 (77%) 812 docs/s eta 0:00:01`."""

    def __init__(self, description: str, total: int | None, unit: str, interval: float):
        self.description, self.total, self.unit, self.interval = description, total, unit, interval
        self.done = 0
        self.start = self.last = time.monotonic()
        self.status = ""

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            log.info(self._line(now))

    def note(self, status: str) -> None:
        """A short status shown beside the count (e.g. the running loss)."""
        self.status = status

    def _line(self, now: float) -> str:
        rate = self.done / max(now - self.start, 1e-9)
        text = f"{self.description} {self.done}"
        if self.total:
            eta = (self.total - self.done) / rate if rate > 0 else 0.0
            text += f"/{self.total} ({100 * self.done / self.total:.0f}%)"
            text = f"{text} {rate:,.0f} {self.unit}/s eta {_fmt_duration(eta)}"
        else:
            text = f"{text} {rate:,.0f} {self.unit}/s"
        return f"{text} {self.status}" if self.status else text

    def close(self) -> None:
        now = time.monotonic()
        rate = self.done / max(now - self.start, 1e-9)
        log.info(f"{self.description}: {self.done} {self.unit} in {now - self.start:.1f}s ({rate:,.0f} {self.unit}/s)")

    def stop(self) -> None:
        pass


class _BarTracker:
    def __init__(self, description: str, total: int | None, unit: str):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:,.0f} {unit}/s" if speed else f"? {unit}/s")

        self._progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console(),
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total)
        self._description = description
        self._log = _LogTracker(description, total, unit, float("inf"))

    def advance(self, n: int = 1) -> None:
        self._progress.advance(self._task, n)
        self._log.done += n

    def note(self, status: str) -> None:
        self._progress.update(self._task, description=f"{self._description} {status}")

    def close(self) -> None:
        self._progress.stop()
        self._log.close()

    def stop(self) -> None:
        self._progress.stop()


class _NullTracker:
    def advance(self, n: int = 1) -> None:
        pass

    def note(self, status: str) -> None:
        pass

    def close(self) -> None:
        pass

    def stop(self) -> None:
        pass


@contextmanager
def progress(description: str, total: int | None = None, unit: str = "items") -> Iterator:
    """Yield a tracker with `.advance(n)`; a bar on a terminal, log lines otherwise."""
    mode = _progress_mode
    if mode == "auto":
        mode = "bar" if console().is_terminal else "log"
    if mode == "bar":
        tracker = _BarTracker(description, total, unit)
    elif mode == "log":
        tracker = _LogTracker(description, total, unit, _progress_interval)
    else:
        tracker = _NullTracker()
    try:
        yield tracker
    except BaseException:
        tracker.stop()  # no "done in 8.4s" line: the error or interruption speaks last
        raise
    tracker.close()
