"""Progress for long work that has no natural counter yet: a status line at once, then updates.

A leaf module (standard library only), so a command can show it before importing torch or
transformers. ``Ticker(message)`` writes ``message …`` to stderr when it starts and keeps it alive
until the block ends: on a terminal it rewrites the line with the elapsed seconds every ``every``
seconds; in a log (stderr not a terminal) it writes a line every ``log_every`` seconds, so a
piped log shows the work is alive without flooding. ``keep_alive(bar)`` refreshes a tqdm bar on a
timer, so its elapsed time and its phase note move between updates (a batch of generations or of
sandbox runs is one long step for the bar's counter).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


class Ticker:
    """``with Ticker("loading backend nano"):`` — see the module docstring.

    Tickers nest: an inner one (e.g. the nano build inside "loading the nano backend") ends the
    outer one's line and silences it until the outer block ends, so two never write over each other
    and a progress bar started inside the inner work has the terminal to itself.
    """

    _stack: list[Ticker] = []

    def __init__(self, message: str, *, enabled: bool = True, every: float = 1.0, log_every: float = 5.0,
                 stream: TextIO | None = None):
        self.message = message
        self.enabled = enabled
        self.every = every
        self.log_every = log_every
        self.stream = stream if stream is not None else sys.stderr
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._tty = False
        self._muted = False
        self._lock = threading.Lock()

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed stream must not break the work it reports on
            pass

    def note(self, text: str) -> None:
        """A line of its own (e.g. "01_datasets done in 9.8 s"); the status line goes on below it."""
        if self._thread is None:
            return
        with self._lock:
            if self._tty and not self._muted:
                self._write(f"\r\x1b[K{text}\n{self.message} … {time.perf_counter() - self._t0:.0f} s")
            else:
                self._write(f"{text}\n")

    def _mute(self) -> None:
        with self._lock:
            if not self._muted and self._tty and self._thread is not None:
                self._write("\n")
            self._muted = True

    def _run(self) -> None:
        last_line = self._t0
        while not self._stop.wait(self.every):
            now = time.perf_counter()
            with self._lock:
                if self._muted:
                    continue
            if self._tty:
                self._write(f"\r\x1b[K{self.message} … {now - self._t0:.0f} s")
            elif now - last_line >= self.log_every:
                last_line = now
                self._write(f"{self.message} … {now - self._t0:.0f} s\n")

    def __enter__(self) -> Ticker:
        if not self.enabled:
            return self
        if Ticker._stack:
            Ticker._stack[-1]._mute()
        Ticker._stack.append(self)
        self._t0 = time.perf_counter()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._write(f"{self.message} …" + ("" if self._tty else "\n"))
        self._thread = threading.Thread(target=self._run, name="codeself-ticker", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        if self in Ticker._stack:
            Ticker._stack.remove(self)
        took = time.perf_counter() - self._t0
        end = "done" if exc[0] is None else "stopped"
        self._write((f"\r\x1b[K{self.message} … {end} ({took:.0f} s)\n") if self._tty else f"{self.message}: {end} in {took:.1f} s\n")


@contextmanager
def keep_alive(bar: Any, every: float = 1.0) -> Iterator[None]:
    """Refresh the tqdm ``bar`` every ``every`` seconds while the block runs (None: nothing)."""
    if bar is None:
        yield
        return
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every):
            try:
                bar.refresh()
            except (OSError, ValueError, AttributeError):
                return

    t = threading.Thread(target=tick, name="codeself-bar-refresh", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()
