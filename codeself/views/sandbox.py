"""Notebook 02 (sandbox runs): frames of sandbox results, per-test outcomes and scan findings,
status counts in the contract's order, the first failing test of a rollout, and the report numbers
(:func:`summary`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from codeself.sandbox.result import STATUSES

#: statuses in the order of the Result contract (``codeself.sandbox.result.STATUSES``), for tables and charts
STATUS_ORDER = STATUSES


def results_frame(results: Sequence[Any]) -> pl.DataFrame:
    """Flat frame of sandbox ``Result`` objects (or their dicts): one row per execution."""
    rows = []
    for r in results:
        d = r.to_dict() if hasattr(r, "to_dict") else dict(r)
        rows.append({
            "task_id": d["task_id"], "sample_id": None if d.get("sample_id") is None else str(d["sample_id"]),
            "status": d["status"], "passed": bool(d["passed"]), "phase": d.get("phase"),
            "public_passed": d.get("public_passed", 0), "public_total": d.get("public_total", 0),
            "hidden_passed": d.get("hidden_passed", 0), "hidden_total": d.get("hidden_total", 0),
            "duration_s": float(d.get("duration_s") or 0.0),
            "exec_duration_s": float(d.get("exec_duration_s") or 0.0),
            "n_scan": len(d.get("scan") or []),
        })
    schema = {"task_id": pl.String, "sample_id": pl.String, "status": pl.String, "passed": pl.Boolean,
              "phase": pl.String, "public_passed": pl.Int64, "public_total": pl.Int64,
              "hidden_passed": pl.Int64, "hidden_total": pl.Int64, "duration_s": pl.Float64,
              "exec_duration_s": pl.Float64, "n_scan": pl.Int64}
    return pl.DataFrame(rows, schema=schema)


def tests_frame(results: Sequence[Any]) -> pl.DataFrame:
    """Per-test outcomes of sandbox results: task_id, sample_id, kind, index, passed, status, error."""
    rows = []
    for r in results:
        d = r.to_dict() if hasattr(r, "to_dict") else dict(r)
        for t in d.get("tests") or []:
            rows.append({"task_id": d["task_id"],
                         "sample_id": None if d.get("sample_id") is None else str(d["sample_id"]),
                         "kind": t["kind"], "index": t["index"], "passed": t["passed"], "status": t["status"],
                         "error_type": t.get("error_type"), "error_message": t.get("error_message"),
                         "duration_s": float(t.get("duration_s") or 0.0)})
    schema = {"task_id": pl.String, "sample_id": pl.String, "kind": pl.String, "index": pl.Int64,
              "passed": pl.Boolean, "status": pl.String, "error_type": pl.String,
              "error_message": pl.String, "duration_s": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


def scan_frame(results: Sequence[Any]) -> pl.DataFrame:
    """Security-scan findings of sandbox results, one row per finding."""
    rows = []
    for r in results:
        d = r.to_dict() if hasattr(r, "to_dict") else dict(r)
        for f in d.get("scan") or []:
            rows.append({"task_id": d["task_id"], "rule": str(f.get("rule")), "line": f.get("line"),
                         "severity": str(f.get("severity")), "message": str(f.get("message"))})
    return pl.DataFrame(rows, schema={"task_id": pl.String, "rule": pl.String, "line": pl.Int64,
                                      "severity": pl.String, "message": pl.String})


def status_counts(df: pl.DataFrame, by: Sequence[str] = ()) -> pl.DataFrame:
    """Counts per status (optionally per group), statuses in the contract's order, with shares."""
    keys = [*by, "status"]
    out = df.group_by(keys).agg(pl.len().alias("count"))
    total = pl.col("count").sum().over(list(by)) if by else pl.col("count").sum()
    order = {s: i for i, s in enumerate(STATUS_ORDER)}
    out = out.with_columns((pl.col("count") / total).round(4).alias("share"),
                           pl.col("status").replace_strict(order, default=len(order),
                                                           return_dtype=pl.Int64).alias("_o"))
    return out.sort([*by, "_o"]).drop("_o")


def failing_test(record: Mapping[str, Any], task: Any | None) -> dict[str, Any] | None:
    """The first failing test of a rollout (or Result dict) with its text and error, else None.

    ``record`` is a rollout record (with ``result``) or a Result dict. With ``task`` the test's
    source text is filled in from ``public_tests`` / ``hidden_tests`` (a stdin or call test as its
    readable text: :func:`codeself.views.datasets.shown_test`).
    """
    from codeself.views.datasets import shown_test

    res = record.get("result", record) or {}
    for t in res.get("tests") or []:
        if not t.get("passed"):
            text = None
            if task is not None:
                pool = task.public_tests if t.get("kind") == "public" else task.hidden_tests
                if 0 <= int(t.get("index", -1)) < len(pool):
                    text = shown_test(pool[int(t["index"])], task.entry_point)
            return {"kind": t.get("kind"), "index": t.get("index"), "status": t.get("status"),
                    "error_type": t.get("error_type"), "error_message": t.get("error_message"),
                    "test": text}
    if res.get("status") not in (None, "passed"):
        return {"kind": None, "index": None, "status": res.get("status"),
                "error_type": res.get("status"), "error_message": res.get("error"), "test": None}
    return None


def summary(res_df: pl.DataFrame, scans: pl.DataFrame) -> tuple[dict[str, Any], list[str]]:
    """Notebook 02's ``key_numbers`` and ``verdict_lines`` from :func:`results_frame` and
    :func:`scan_frame` of one batch: programs, passes, status counts, median wall time, infra errors."""
    status = status_counts(res_df)
    counts = dict(zip(status["status"].to_list(), status["count"].to_list(), strict=True))
    key_numbers = {
        "programs": res_df.height,
        "passed": int(counts.get("passed", 0)),
        "pass_rate": round(float(res_df["passed"].mean()), 4) if res_df.height else 0.0,
        "infra_errors": int(counts.get("infra_error", 0)),
        "median_ms": round(float(res_df["duration_s"].median() * 1000), 2) if res_df.height else 0.0,
        "scan_findings": scans.height,
    }
    verdict_lines = [
        f"{key_numbers['passed']} of {res_df.height} programs passed every public and hidden test; "
        f"statuses: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + ".",
        f"Median wall time {key_numbers['median_ms']} ms per program; "
        f"{key_numbers['infra_errors']} infrastructure errors (excluded, never scored 0).",
    ]
    return key_numbers, verdict_lines
