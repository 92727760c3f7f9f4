"""Notebook 01 (datasets): task frames, counts, leakage findings, the task browser's record, and
the report numbers (:func:`summary`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl


def tasks_frame(tasks: Iterable[Any]) -> pl.DataFrame:
    """One row per task: id, split, source, test counts, prompt size, whether a solution exists."""
    rows = []
    for t in tasks:
        rows.append({
            "task_id": t.task_id,
            "split": t.split or "unassigned",
            "source": t.source,
            "entry_point": t.entry_point,
            "n_public": len(t.public_tests),
            "n_hidden": len(t.hidden_tests),
            "n_tests": len(t.public_tests) + len(t.hidden_tests),
            "prompt_chars": len(t.prompt),
            "prompt_lines": t.prompt.count("\n") + 1,
            "has_solution": t.canonical_solution is not None,
        })
    schema = {"task_id": pl.String, "split": pl.String, "source": pl.String, "entry_point": pl.String,
              "n_public": pl.Int64, "n_hidden": pl.Int64, "n_tests": pl.Int64, "prompt_chars": pl.Int64,
              "prompt_lines": pl.Int64, "has_solution": pl.Boolean}
    return pl.DataFrame(rows, schema=schema)


def task_counts(df: pl.DataFrame) -> pl.DataFrame:
    """Task counts by source and split (long format, sorted)."""
    return (df.group_by("source", "split").agg(pl.len().alias("tasks"))
            .sort("source", "split"))


def leakage_findings(tasks: Sequence[Any], *, file: str = "<tasks>") -> pl.DataFrame:
    """Leakage and integrity findings of ``codeself.tasks.validate`` as a frame
    (``task_id, field, kind, message``). ``kind`` is ``leak`` for hidden-test leakage into the
    prompt, starter code or public tests, ``duplicate`` for duplicate ids, else ``integrity``."""
    from codeself.tasks import validate

    rows = []
    for p in validate(list(tasks), file=file):
        kind = p.kind if p.kind in ("leak", "duplicate") else "integrity"
        rows.append({"task_id": p.task_id, "field": p.field, "kind": kind, "message": p.message})
    return pl.DataFrame(rows, schema={"task_id": pl.String, "field": pl.String, "kind": pl.String,
                                      "message": pl.String})


#: a stdin test's input and output can be megabytes; the browser shows this many characters of each
TEST_TEXT_CHARS = 4000


def shown_test(test: Any, entry_point: str) -> str:
    """One test as text for a browser or table: an assert test unchanged; a stdin or call test as
    :func:`codeself.tasks.test_text` renders it (input and expected output; the call and its
    expected value), cut to :data:`TEST_TEXT_CHARS`."""
    from codeself.tasks import test_text

    return test if isinstance(test, str) else test_text(test, entry_point or "f", limit=TEST_TEXT_CHARS)


def task_record(task: Any) -> dict[str, Any]:
    """The JSON-able view of one task the task browser shows (prompt, public and hidden tests, each
    test as text: :func:`shown_test`)."""
    return {
        "task_id": task.task_id, "entry_point": task.entry_point, "split": task.split or "",
        "source": task.source, "prompt": task.prompt, "starter_code": task.starter_code or "",
        "setup_code": task.setup_code or "",
        "public_tests": [shown_test(t, task.entry_point) for t in task.public_tests],
        "hidden_tests": [shown_test(t, task.entry_point) for t in task.hidden_tests],
        "canonical_solution": task.canonical_solution or "",
    }


def summary(tasks_df: pl.DataFrame, leaks: pl.DataFrame, moved: int,
            audit_df: pl.DataFrame | None = None) -> tuple[dict[str, Any], list[str]]:
    """Notebook 01's ``key_numbers`` and ``verdict_lines``: tasks by split, median test counts, leaks
    left after conversion (``moved``: tasks whose visible hidden asserts the converter moved to the
    public tests) and, with an audit frame (:func:`codeself.audit.read_audit`), the weak tasks."""
    by_split = dict(tasks_df.group_by("split").agg(pl.len()).iter_rows())
    key_numbers: dict[str, Any] = {
        "tasks": tasks_df.height,
        "sources": tasks_df["source"].n_unique(),
        "train": by_split.get("train", 0),
        "validation": by_split.get("validation", 0),
        "test": by_split.get("test", 0),
        "median_hidden_tests": float(tasks_df["n_hidden"].median()),
        "median_public_tests": float(tasks_df["n_public"].median()),
        "leak_findings": leaks.filter(pl.col("kind") == "leak").height,
        "hidden_moved_to_public": moved,
    }
    verdict_lines = [
        f"{tasks_df.height} tasks from {tasks_df['source'].n_unique()} sources; "
        f"median {key_numbers['median_hidden_tests']:g} hidden and {key_numbers['median_public_tests']:g} public tests per task.",
        f"{key_numbers['leak_findings']} hidden-test leaks remain after conversion "
        f"({moved} tasks had visible hidden asserts moved to public).",
    ]
    if audit_df is not None and "weak" in audit_df.columns:
        weak = int(audit_df["weak"].fill_null(False).sum())
        public_weak = int(audit_df["public_weak"].fill_null(False).sum()) if "public_weak" in audit_df.columns else 0
        key_numbers["weak_tasks"] = weak
        key_numbers["public_weak_tasks"] = public_weak
        verdict_lines.append(f"The test-strength audit flags {weak} of {audit_df.height} tasks as weak "
                             f"(a wrong mutant passes every test) and {public_weak} whose public tests alone are weak.")
    return key_numbers, verdict_lines
