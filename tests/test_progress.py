"""Long work shows progress within a second of starting and keeps it moving.

`rollouts generate` is run as a user runs it (a subprocess, stderr a pipe read as it arrives) on
programs that each sleep a few seconds in the sandbox: the progress bar must be on stderr before the
first record is in the output file, and must update (timer + phase note) while the sandbox batch
runs — ordering, not wall-clock speed, except one generous bound on the first output.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from helpers import EXAMPLES, ROOT

from codeself.progress import Ticker
from codeself.tasks import load_tasks

SLEEP_S = 4


def _records(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_rollouts_generate_shows_progress_before_the_first_record(tmp_path):
    tasks = load_tasks(EXAMPLES)[:2]
    static = tmp_path / "slow.static.jsonl"
    static.write_text("".join(json.dumps({"task_id": t.task_id, "completion": f"import time\ntime.sleep({SLEEP_S})\n"
                                          + t.canonical_solution}) + "\n" for t in tasks))
    out = tmp_path / "r.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "codeself.cli", "rollouts", "generate", "--tasks", str(EXAMPLES),
                             "--limit", "2", "--backend", "static", "--model", str(static), "--final",
                             "--workers", "2", "--timeout", "60", "--output", str(out)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunks: list[tuple[float, bytes, int]] = []  # (seconds since start, bytes, records in the file then)

    def read() -> None:
        fd = proc.stderr.fileno()
        while data := os.read(fd, 65536):
            chunks.append((time.perf_counter() - t0, data, _records(out)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # stdout is read here, stderr only by the reader thread (communicate() would read stderr too and
    # race the thread for the progress chunks)
    stdout = proc.stdout.read()
    proc.wait(timeout=300)
    reader.join(timeout=30)
    text = b"".join(c for _, c, _ in chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, text[-3000:]
    assert _records(out) == 2 and b"wrote 2 record(s)" in stdout

    # the first output that is the progress line (a library warning may come before it)
    first_at, first, records_then = next((c for c in chunks if b"rollouts (static)" in c[1]), (None, b"", None))
    assert first_at is not None, text[-3000:]
    assert records_then == 0, "the first progress output came after a record was written"
    assert first_at < 30, f"first progress output only after {first_at:.1f} s"
    before = b"".join(c for _, c, n in chunks if n == 0)
    # while the programs sleep in the sandbox the bar keeps moving (a timer) and says what is going on;
    # counted as redraws (tqdm starts each with a carriage return), not as pipe reads — a loaded
    # machine delivers several writes in one read
    assert before.count(b"\r") + before.count(b"\n") >= 3, before
    assert b"running 2 program(s) in the sandbox" in before


def test_ticker_speaks_at_once_then_on_a_timer_and_says_when_done():
    buf = io.StringIO()  # not a terminal: whole lines, one every log_every seconds
    with Ticker("loading the nano backend", every=0.02, log_every=0.1, stream=buf):
        assert buf.getvalue() == "loading the nano backend …\n"  # before any work in the block
        time.sleep(0.5)
    lines = buf.getvalue().splitlines()
    assert len(lines) >= 4 and lines[1].startswith("loading the nano backend … ")
    assert lines[-1].startswith("loading the nano backend: done in ")
    nested = io.StringIO()
    with Ticker("outer", every=0.02, log_every=0.05, stream=nested):
        with Ticker("inner", every=0.02, log_every=0.05, stream=nested):
            time.sleep(0.3)
        mark = len(nested.getvalue())
        time.sleep(0.3)
        assert nested.getvalue()[mark:] == ""  # the outer one stays silent once an inner one spoke
    assert nested.getvalue().splitlines()[-1].startswith("outer: done in ")
