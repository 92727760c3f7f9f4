"""``codeself bench rollouts``: write N synthetic rollout records, then read them into the flat
polars frame with ``json.loads`` per line (the baseline, measured in the same run) and with
:func:`codeself.rollouts.rollouts_frame` (cold, cached, after an append); the target is named once, below."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codeself.rollouts.frame import FRAME_COLUMNS, _flat, _frame_schema, rollouts_frame
from codeself.rollouts.records import SCHEMA, layout_record

#: the target: records per second for the analysis read of a rollout file
TARGET_RECORDS_PER_S = 200_000


def _synthetic_bodies(n_variants: int, seed: int) -> list[str]:
    """JSON bodies (everything after task_id/sample_id) of realistic records: HumanEval-sized
    prompt/completion/code, a Result with 1 public + 3 hidden test outcomes, reward components."""
    import json
    import random

    from codeself.rewards import reward_v0_correctness
    from codeself.sandbox.result import Result, TestOutcome

    rng = random.Random(seed)
    statuses = ["passed"] * 45 + ["failed"] * 30 + ["runtime_error"] * 10 + ["syntax_error"] * 6 + \
        ["timeout"] * 4 + ["import_error"] * 3 + ["crashed", "infra_error"]
    bodies = []
    for v in range(n_variants):
        st = rng.choice(statuses)
        passed = st == "passed"
        fn = f"f{v}"
        prompt = (f"def {fn}(numbers: list[int], threshold: float) -> bool:\n    \"\"\"Check if any two numbers "
                  f"in the list are closer to each other than the threshold.\n    >>> {fn}([1.0, 2.0, 3.0], 0.5)\n"
                  "    False\n    \"\"\"\n")
        body = "    for i, a in enumerate(numbers):\n        for b in numbers[i + 1:]:\n" \
               f"            if abs(a - b) < threshold{' * 2' if not passed else ''}:\n                return True\n    return False\n"
        completion = f"```python\n{prompt}{body}```\n" if rng.random() < 0.7 else body
        pt = 1
        ht = 3
        pp = pt if passed else rng.randint(0, pt)
        hp = ht if passed else rng.randint(0, ht - 1)
        tests = [TestOutcome(0, "public", pp == 1, "passed" if pp else "failed", None if pp else "Mismatch",
                             None if pp else "expected False, got True", rng.random() * 1e-3, True)]
        tests += [TestOutcome(i, "hidden", i < hp, "passed" if i < hp else "failed", None if i < hp else "Mismatch",
                              None if i < hp else "expected True, got False", rng.random() * 1e-3, True) for i in range(ht)]
        res = Result(task_id="", passed=passed, status=st, sample_id=None,
                     phase="done" if st in ("passed", "failed", "runtime_error") else "syntax",
                     public_passed=pp, public_total=pt, hidden_passed=hp, hidden_total=ht, tests=tests,
                     duration_s=0.004 + rng.random() * 0.01, exec_duration_s=rng.random() * 0.005,
                     tamper_proof_share=1.0, error=None if passed else f"{st}: test failed")
        parse = "ok" if st != "syntax_error" or rng.random() < 0.5 else "no_code"
        bd = reward_v0_correctness(res, completion=completion, parse_status=parse, code=prompt + body)
        d = {
            "schema": SCHEMA, "backend": "hf", "model_id": "data/models/nano", "model_hash": "ab" * 32, "template": "completion",
            "show_public_tests": False, "temperature": 0.8, "top_p": 0.95, "max_new_tokens": 256, "seed": 0,
            "tests": "all", "prompt": prompt, "completion": completion, "code": prompt + body if parse == "ok" else None,
            "parse_status": parse, "parse_reason": None if parse == "ok" else "no fenced block and no code-like lines",
            "result": {k: v for k, v in res.to_dict().items() if k not in ("task_id", "sample_id")},
            "reward": bd.total, "reward_components": bd.components,
            "timings": {"generate_s": rng.random() * 0.05, "sandbox_s": rng.random() * 0.01},
            "split": rng.choice(["train", "train", "validation", "test"]),
        }
        d = layout_record({"task_id": "", "sample_id": 0, **d})
        del d["task_id"], d["sample_id"]
        bodies.append(json.dumps(d, ensure_ascii=False)[1:])  # drop "{"
    return bodies


def write_synthetic_rollouts(path: str | os.PathLike, n: int, *, n_tasks: int = 164, seed: int = 0) -> int:
    """Write ``n`` synthetic rollout records (``n_tasks`` tasks, samples numbered per task); returns bytes."""
    bodies = _synthetic_bodies(257, seed)
    per_task = -(-n // n_tasks)
    written = 0
    with open(path, "w", encoding="utf-8") as f:
        buf = []
        for i in range(n):
            t, k = divmod(i, per_task)
            buf.append(f'{{"task_id": "HumanEval/{t}", "sample_id": {k}, {bodies[i % len(bodies)]}\n')
            if len(buf) >= 10000:
                written += f.write("".join(buf))
                buf = []
        written += f.write("".join(buf))
    return written


def _json_loads_frame(path: str | os.PathLike):
    """Baseline: ``json.loads`` per line, flattened into columns, then one polars DataFrame."""
    import json

    import polars as pl

    cols: dict[str, list[Any]] = {c: [] for c in FRAME_COLUMNS}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            flat = _flat(json.loads(line))
            for c in FRAME_COLUMNS:
                cols[c].append(flat[c])
    return pl.DataFrame(cols, schema=_frame_schema())


def bench_rollouts(n: int = 1_000_000, *, path: str | os.PathLike | None = None, keep: bool = False,
                   seed: int = 0, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write ``n`` synthetic records, then in the same run read them into the flat polars frame
    three ways: ``json.loads`` per line (the baseline), ``rollouts_frame`` cold (polars NDJSON fast
    path, validity checks, builds the frame cache), and ``rollouts_frame`` again (cache hit); then
    append 1% more records and read once more (incremental: only the appended bytes are parsed).
    Checks the frames are equal to the baseline; returns timings, records/s and ratios."""
    import shutil
    import tempfile

    log = log or (lambda s: None)
    tmpdir = tempfile.mkdtemp(prefix="codeself-bench-")
    if path is None:
        path = Path(tmpdir) / "rollouts.jsonl"
    path = Path(path)
    cache_dir = Path(tmpdir) / "frames"  # the frame cache of this run lives in the temp dir
    try:
        t0 = time.perf_counter()
        size = write_synthetic_rollouts(path, n, seed=seed)
        t_write = time.perf_counter() - t0
        log(f"wrote {n:,} synthetic rollout records ({size / 1e6:,.0f} MB, {size / n:,.0f} B/record) "
            f"to {path} in {t_write:.1f} s")
        log("                                          wall time    records/s  ratio   (process CPU s)")
        t0, c0 = time.perf_counter(), time.process_time()
        slow = _json_loads_frame(path)
        t_slow, c_slow = time.perf_counter() - t0, time.process_time() - c0
        log(f"json.loads per line → polars (baseline): {t_slow:7.2f} s  {n / t_slow:>12,.0f}/s  ×1.0   ({c_slow:.1f})")
        t0, c0 = time.perf_counter(), time.process_time()
        cold = rollouts_frame(path, cache_dir=cache_dir)
        t_cold, c_cold = time.perf_counter() - t0, time.process_time() - c0
        log(f"rollouts_frame, raw JSONL, no frame yet:  {t_cold:7.2f} s  {n / t_cold:>12,.0f}/s  ×{t_slow / t_cold:.1f}   ({c_cold:.1f})"
            "   <- a file from another tool; this read builds the Parquet frame")
        same = cold.equals(slow)
        del cold
        t0, c0 = time.perf_counter(), time.process_time()
        warm = rollouts_frame(path, cache_dir=cache_dir)
        t_warm, c_warm = time.perf_counter() - t0, time.process_time() - c0
        log(f"rollouts_frame, analysis read (Parquet):  {t_warm:7.2f} s  {n / t_warm:>12,.0f}/s  ×{t_slow / t_warm:.1f}   ({c_warm:.1f})"
            "   <- a file written by `rollouts generate` (the writer keeps the frame current: sync_frame)")
        same = same and warm.equals(slow)
        del warm, slow
        extra = max(1, n // 100)
        tmp2 = Path(tmpdir) / "extra.jsonl"
        write_synthetic_rollouts(tmp2, extra, seed=seed + 1)
        with open(path, "ab") as f, open(tmp2, "rb") as g:  # a resumed run appends; new task ids
            f.write(g.read().replace(b'"task_id": "HumanEval/', b'"task_id": "Extra/'))
        t0, c0 = time.perf_counter(), time.process_time()
        inc = rollouts_frame(path, cache_dir=cache_dir)
        t_inc, c_inc = time.perf_counter() - t0, time.process_time() - c0
        log(f"rollouts_frame, +{extra:,} appended records: {t_inc:7.2f} s  {(n + extra) / t_inc:>12,.0f}/s  "
            f"×{t_slow * (n + extra) / n / t_inc:.1f}   ({c_inc:.1f})")
        same = same and inc.height == n + extra
        del inc
    finally:
        if not keep:
            shutil.rmtree(tmpdir, ignore_errors=True)
    target = TARGET_RECORDS_PER_S
    return {"n": n, "bytes": size, "write_s": t_write, "baseline_s": t_slow, "cold_s": t_cold, "cached_s": t_warm,
            "incremental_s": t_inc, "baseline_cpu_s": c_slow, "cold_cpu_s": c_cold, "cached_cpu_s": c_warm,
            "incremental_cpu_s": c_inc, "baseline_records_per_s": n / t_slow, "cold_records_per_s": n / t_cold,
            "cached_records_per_s": n / t_warm, "incremental_records_per_s": (n + extra) / t_inc,
            "cold_ratio": t_slow / t_cold, "cached_ratio": t_slow / t_warm, "frames_equal": same,
            "target_records_per_s": target, "cold_meets_target": n / t_cold >= target,
            "cached_meets_target": n / t_warm >= target, "path": str(path) if keep else None}
