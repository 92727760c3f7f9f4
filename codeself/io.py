"""Small, strict file IO shared by every stage: JSONL reading with located errors, atomic writes,
append-and-flush writers, hashing.

Guarantees:
- ``read_jsonl`` names file, line number and the problem for every bad line (``DataError``); with
  ``skip_invalid=True`` it returns the bad lines as ``Problem`` objects instead of raising, so a
  caller can report exactly what it skipped.
- ``atomic_write_text`` / ``atomic_writer`` write to a temporary file in the target directory and
  rename it into place: a crash or an error never leaves a half-written output file.
- ``JsonlAppender`` appends one record per line and flushes (and fsyncs) after each, so a killed
  run loses at most the record being written; ``read_jsonl(..., tolerate_truncated_tail=True)``
  ignores (and reports) a truncated last line left by such a kill.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: every ``Problem.kind``
PROBLEM_KINDS = ("invalid", "truncated", "duplicate", "leak")


@dataclass(frozen=True)
class Problem:
    """One located problem in an input file: ``file:line: [task_id] field: message``.

    ``kind`` says what sort of problem it is, so callers never parse the message (one of
    :data:`PROBLEM_KINDS`): ``invalid`` (the file or record breaks its format: the default),
    ``truncated`` (the last line was cut mid-write: a writer still running, or killed),
    ``duplicate`` (an id seen before) and ``leak`` (a hidden test visible to the model).
    """

    file: str
    line: int | None
    field: str | None
    message: str
    task_id: str | None = None
    kind: str = "invalid"

    def __post_init__(self) -> None:
        if self.kind not in PROBLEM_KINDS:
            raise ValueError(f"Problem.kind must be one of {PROBLEM_KINDS}, got {self.kind!r}")

    def __str__(self) -> str:
        loc = f"{self.file}:{self.line}" if self.line is not None else self.file
        tid = f" task {self.task_id}" if self.task_id else ""
        fld = f" field '{self.field}'" if self.field else ""
        where = f"{tid}{fld}".strip()
        return f"{loc}: {where}: {self.message}" if where else f"{loc}: {self.message}"


class DataError(ValueError):
    """Raised for bad input data; carries one or more located ``Problem`` records."""

    def __init__(self, problems: list[Problem] | Problem):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def read_jsonl(
    path: str | os.PathLike,
    *,
    skip_invalid: bool = False,
    tolerate_truncated_tail: bool = False,
    allow_empty: bool = False,
) -> tuple[list[tuple[int, dict[str, Any]]], list[Problem]]:
    """Read a JSONL file strictly.

    Returns ``(records, problems)`` where ``records`` is a list of ``(line_number, object)``.
    Raises ``DataError`` (naming file and line) for a missing file, a UTF-8 error, malformed JSON,
    a line that is not a JSON object, or an empty file (unless ``allow_empty``), unless
    ``skip_invalid`` is set, in which case bad lines come back in ``problems``. A last line without
    a trailing newline that does not parse is reported as truncated; with
    ``tolerate_truncated_tail`` it is returned as a problem rather than raised.
    """
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise DataError(Problem(name, None, None, "file does not exist"))
    if p.is_dir():
        raise DataError(Problem(name, None, None, "is a directory, expected a JSONL file"))
    raw = p.read_bytes()
    records: list[tuple[int, dict[str, Any]]] = []
    problems: list[Problem] = []
    lines = raw.split(b"\n")
    ends_with_newline = raw.endswith(b"\n")
    for i, bline in enumerate(lines, start=1):
        if not bline.strip():
            continue
        is_tail = i == len(lines) and not ends_with_newline
        try:
            text = bline.decode("utf-8")
        except UnicodeDecodeError as e:
            problems.append(Problem(name, i, None, f"invalid UTF-8 at byte {e.start}: {e.reason}"))
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            if is_tail:
                problems.append(Problem(name, i, None, f"truncated last line (killed writer?): {e.msg}",
                                        kind="truncated"))
                if tolerate_truncated_tail:
                    continue
            else:
                problems.append(Problem(name, i, None, f"malformed JSON: {e.msg} at column {e.colno}"))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(name, i, None, f"expected a JSON object, got {type(obj).__name__}"))
            continue
        records.append((i, obj))
    if not records and not problems and not allow_empty:
        raise DataError(Problem(name, None, None, "file is empty (no records)"))
    hard = [pr for pr in problems if not (tolerate_truncated_tail and pr.kind == "truncated")]
    if hard and not skip_invalid:
        raise DataError(hard)
    return records, problems


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temp file beside ``path``; on success rename it to ``path``, on error delete it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get ordinary permissions
        kwargs = {"encoding": encoding} if "b" not in mode else {}
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_writer(path) as f:
        f.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_jsonl_atomic(path: str | os.PathLike, records: list[dict[str, Any]]) -> None:
    with atomic_writer(path) as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")


class JsonlAppender:
    """Append JSON records to a file, one per line, flushed and fsynced after each write.

    If the existing file ends in a truncated line (a killed writer), that tail is cut off first so
    the next record starts on a fresh line; nothing valid is removed.
    """

    def __init__(self, path: str | os.PathLike, fsync: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        if self.path.exists() and self.path.stat().st_size > 0:
            data = self.path.read_bytes()
            if not data.endswith(b"\n"):
                cut = data.rfind(b"\n") + 1
                with open(self.path, "r+b") as f:
                    f.truncate(cut)
        self._f = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._f.flush()
        if self.fsync:
            os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
