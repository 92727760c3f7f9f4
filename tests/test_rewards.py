"""reward_v0_correctness against hand-built Results, and the TRL adapter through the real sandbox."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from codeself.attempts import unexecuted_result
from codeself.rewards import RewardBreakdown, make_trl_reward, reward_v0_correctness
from codeself.sandbox.result import Result
from codeself.tasks import load_tasks

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "tasks.example.jsonl"


def R(status, pp=0, pt=2, hp=0, ht=3, scan=(), **kw):
    return Result(task_id="t", passed=status == "passed", status=status, public_passed=pp, public_total=pt,
                  hidden_passed=hp, hidden_total=ht, scan=list(scan), **kw)


def test_passed_is_one():
    bd = reward_v0_correctness(R("passed", 2, 2, 3, 3), completion="x")
    assert isinstance(bd, RewardBreakdown)
    assert bd.total == 1.0 and not bd.excluded
    assert bd.components["frac_passed"] == 1.0


def test_partial_credit_from_tests_passed():
    assert reward_v0_correctness(R("failed", 1, 2, 2, 3)).total == pytest.approx(0.5 * 3 / 5)
    assert reward_v0_correctness(R("failed", 0, 2, 0, 3)).total == 0.0
    assert reward_v0_correctness(R("runtime_error", 2, 2, 1, 3)).total == pytest.approx(0.5 * 3 / 5)
    more = reward_v0_correctness(R("failed", 2, 2, 2, 3)).total
    less = reward_v0_correctness(R("failed", 2, 2, 1, 3)).total
    assert more > less


def test_timeouts_distinct_and_below_wrong_answers():
    t = reward_v0_correctness(R("timeout", 2, 2, 1, 3)).total
    f = reward_v0_correctness(R("failed", 2, 2, 1, 3)).total
    assert t == pytest.approx(0.25 * 3 / 5) and t < f
    assert reward_v0_correctness(R("memory", 2, 2, 1, 3)).components["rule"].startswith("memory")
    assert reward_v0_correctness(R("crashed", 1, 2, 0, 3)).total == pytest.approx(0.25 / 5)


def test_parse_and_syntax_failures_distinct():
    parse_fail = reward_v0_correctness(R("syntax_error"), parse_status="no_code").total
    empty = reward_v0_correctness(R("syntax_error"), parse_status="empty").total
    syntax = reward_v0_correctness(R("syntax_error"), parse_status="ok").total
    syntax2 = reward_v0_correctness(R("syntax_error"), parse_status="syntax_error").total
    imp = reward_v0_correctness(R("import_error")).total
    assert parse_fail == empty == -1.0
    assert syntax == syntax2 == -0.5
    assert imp == 0.0
    assert parse_fail < syntax < imp <= reward_v0_correctness(R("failed")).total


def test_infra_error_excluded_never_zero():
    bd = reward_v0_correctness(R("infra_error", error="fork server died"))
    assert bd.total is None and bd.excluded
    assert bd.components["reason"] == "fork server died"


def test_rejected_by_scan():
    assert reward_v0_correctness(R("rejected")).total == -1.0


def test_diagnostics_reported_but_not_added_by_default():
    scan = [{"rule": "os.system", "line": 1, "severity": "high", "message": "m"}] * 4
    a = reward_v0_correctness(R("failed", 1, 2, 1, 3, scan=scan), completion="x" * 9000, code="y" * 9000)
    b = reward_v0_correctness(R("failed", 1, 2, 1, 3), completion="x", code="y")
    assert a.total == b.total
    assert a.components["scan_high"] == 4 and a.components["code_chars"] == 9000
    assert a.components["quality"] == -1.0 and b.components["quality"] > -0.01


def test_quality_weight_bounded():
    with pytest.raises(ValueError):
        reward_v0_correctness(R("passed", 2, 2, 3, 3), quality_weight=0.5)


@pytest.mark.parametrize("qw", [0.0, 0.1])
def test_every_correct_outranks_every_incorrect(qw):
    rng = random.Random(0)
    statuses = ["failed", "runtime_error", "timeout", "memory", "crashed", "import_error", "syntax_error", "rejected"]
    bad_scan = [{"rule": "x", "line": 1, "severity": "high", "message": ""}] * 5
    correct, incorrect = [], []
    for _ in range(300):
        pt, ht = rng.randint(0, 4), rng.randint(1, 6)
        scan = bad_scan if rng.random() < 0.5 else []
        code = "z" * rng.choice([10, 10000])
        correct.append(reward_v0_correctness(R("passed", pt, pt, ht, ht, scan=scan), code=code, quality_weight=qw).total)
        s = rng.choice(statuses)
        pp, hp = rng.randint(0, pt), rng.randint(0, ht)
        if pp == pt and hp == ht:
            hp -= 1  # not all passed
        parse = rng.choice(["ok", "ok", "no_code", "empty", "syntax_error"])
        incorrect.append(reward_v0_correctness(R(s, pp, pt, hp, ht), parse_status=parse, code=None, quality_weight=qw).total)
    assert min(correct) > max(incorrect)


def test_accepts_result_dicts():
    d = R("failed", 1, 2, 0, 3).to_dict()
    assert reward_v0_correctness(d).total == pytest.approx(0.1)


def test_unexecuted_result_keeps_denominators():
    task = load_tasks(EXAMPLES)[0]
    res = unexecuted_result(task, "no_code", "prose only")
    assert res.status == "syntax_error" and res.hidden_total == len(task.hidden_tests)
    assert "parser returned no_code" in res.error


def test_trl_reward_batches_through_sandbox():
    tasks = load_tasks(EXAMPLES)
    fn = make_trl_reward(tasks, workers=2, timeout=5)
    good = [f"```python\n{t.canonical_solution}```" for t in tasks]
    wrong = [f"```python\n{t.prompt}    return None\n```" for t in tasks]
    cont = ["    return a + b\n"]  # a continuation of example/add's def line
    prompts = [t.prompt for t in tasks] * 2 + [tasks[0].prompt, "p"]
    completions = good + wrong + cont + ["no code here, sorry"]
    ids = [t.task_id for t in tasks] * 2 + [tasks[0].task_id, tasks[1].task_id]
    out = fn(prompts, completions, task_id=ids)
    n = len(tasks)
    assert out[:n] == [1.0] * n
    assert all(v is not None and v < 0.5 for v in out[n:2 * n])
    assert tasks[0].task_id == "example/add" and out[2 * n] == 1.0
    assert out[-1] == -1.0
    st = fn.last_stats
    assert st["n"] == len(completions) and st["sandbox_s"] > 0
    assert st["parse_statuses"]["no_code"] == 1 and st["statuses"]["passed"] == n + 1


def test_trl_reward_needs_task_id_and_known_tasks():
    tasks = load_tasks(EXAMPLES)
    fn = make_trl_reward(tasks)
    with pytest.raises(ValueError, match="task_id"):
        fn(["p"], ["c"])
    with pytest.raises(ValueError, match="unknown task"):
        fn(["p"], ["c"], task_id=["nope"])


def test_trl_reward_conversational_completions_without_code_skip_sandbox():
    tasks = load_tasks(EXAMPLES)
    fn = make_trl_reward(tasks)
    out = fn([[{"role": "user", "content": "x"}]] * 2,
             [[{"role": "assistant", "content": ""}], [{"role": "assistant", "content": "I refuse."}]],
             task_id=[tasks[0].task_id, tasks[1].task_id])
    assert out == [-1.0, -1.0]
    assert fn.last_stats["sandbox_s"] < 0.5 and fn.last_stats["statuses"] == {"syntax_error": 2}


def test_combinations_of_status_and_parse_are_all_defined():
    for s, p in itertools.product(
        ["passed", "failed", "runtime_error", "timeout", "memory", "crashed", "import_error", "syntax_error", "rejected"],
        ["ok", "syntax_error", "empty", "no_code"],
    ):
        if s == "passed" and p != "ok":
            continue
        bd = reward_v0_correctness(R(s, 1, 2, 1, 3) if s != "passed" else R(s, 2, 2, 3, 3), parse_status=p)
        assert bd.total is not None and -1.0 <= bd.total <= 1.0


def test_one_completion_text_is_parsed_and_is_the_reward_cache_key():
    from codeself.parsing import completion_text
    from codeself.training.metrics import SandboxReward

    add = next(t for t in load_tasks(EXAMPLES) if t.task_id == "example/add")
    head = {"role": "assistant", "content": "```python\ndef add(a, b):\n"}
    # a reply split over two assistant messages: only the joined text holds the program
    split_ok = [head, {"role": "assistant", "content": "    return a + b\n```"}]
    split_bad = [{"role": "assistant", "content": "```python\ndef add(a, b):\n    return a - b\n"},
                 {"role": "assistant", "content": "    return a + b\n```"}]  # same last message
    assert completion_text(split_ok) == head["content"] + "    return a + b\n```"
    assert completion_text([{"role": "user", "content": "x"}, {"content": "y"}]) == "y"
    assert completion_text(None) == "" and completion_text({"content": "z"}) == "z"
    fn = SandboxReward({add.task_id: add}, workers=1)
    first = fn([add.prompt], [split_ok], task_id=[add.task_id])
    second = fn([add.prompt], [split_bad], task_id=[add.task_id])
    assert first == [1.0]
    # keyed by the parsed text, not the last message: the second reply is executed, not served from the cache
    assert second[0] is not None and second[0] < 0.5
    m = fn.take()
    assert m["n_executed"] == 2 and m["n_cached"] == 0
    assert fn([add.prompt], [split_ok], task_id=[add.task_id]) == [1.0] and fn.take()["n_cached"] == 1


# --- reward variants (issue 18) ------------------------------------------------------------------

from codeself.rewards import REWARDS, restrict_result, score  # noqa: E402
from codeself.sandbox.result import STATUSES  # noqa: E402
from codeself.sandbox.result import TestOutcome as Outcome  # noqa: E402

#: (status, public passed, hidden passed) of 2 public + 3 hidden tests → expected value per variant
VARIANT_TABLE = [
    # status          pp hp  partial        binary fraction  weighted
    ("passed",        2, 3, 1.0,           1.0,   1.0,      1.1),
    ("failed",        1, 2, 0.5 * 3 / 5,   0.0,   3 / 5,    0.1 * 3 / 5),
    ("failed",        2, 2, 0.5 * 4 / 5,   0.0,   4 / 5,    0.1 * 4 / 5),
    ("runtime_error", 2, 1, 0.5 * 3 / 5,   0.0,   3 / 5,    0.1 * 3 / 5),
    ("timeout",       1, 0, 0.25 * 1 / 5,  0.0,   1 / 5,    0.1 * 1 / 5),
    ("memory",        2, 1, 0.25 * 3 / 5,  0.0,   3 / 5,    0.1 * 3 / 5),
    ("crashed",       0, 0, 0.0,           0.0,   0.0,      0.0),
    ("crashed",       2, 3, 0.25,          0.0,   4 / 5,    0.1 * 4 / 5),  # died after every test: capped
    ("syntax_error",  0, 0, -0.5,          0.0,   0.0,      0.0),
    ("import_error",  0, 0, 0.0,           0.0,   0.0,      0.0),
    ("rejected",      0, 0, -1.0,          0.0,   0.0,      0.0),
]


@pytest.mark.parametrize("row", VARIANT_TABLE, ids=lambda r: f"{r[0]}-{r[1]}{r[2]}")
def test_variant_values_pinned_on_every_status(row):
    status, pp, hp, *vals = row
    for variant, want in zip(REWARDS, vals, strict=True):
        bd = score(R(status, pp, 2, hp, 3), variant)
        assert bd.total == pytest.approx(want), (variant, status)
        assert not bd.excluded


def test_every_status_is_covered():
    assert {r[0] for r in VARIANT_TABLE} | {"infra_error"} == set(STATUSES)


@pytest.mark.parametrize("variant", REWARDS)
def test_variant_infra_error_excluded_and_parse_failures(variant):
    bd = score(R("infra_error", error="boom"), variant)
    assert bd.total is None and bd.excluded
    want = {"partial": -1.0, "binary": 0.0, "fraction": 0.0, "weighted": 0.0}[variant]
    for ps in ("empty", "no_code"):
        assert score(R("syntax_error"), variant, parse_status=ps).total == want
    assert score(R("syntax_error"), variant, parse_status="syntax_error").total == (-0.5 if variant == "partial" else 0.0)


@pytest.mark.parametrize("variant", REWARDS)
def test_variant_correct_outranks_every_incorrect(variant):
    correct = score(R("passed", 2, 2, 3, 3), variant).total
    incorrect = []
    for status in STATUSES:
        if status in ("passed", "infra_error"):
            continue
        for pp, hp in itertools.product(range(3), range(4)):
            incorrect.append(score(R(status, pp, 2, hp, 3), variant).total)
    incorrect += [score(R("syntax_error"), variant, parse_status=p).total for p in ("empty", "no_code")]
    assert correct > max(incorrect), variant


def test_default_variant_is_reward_v0():
    r = R("failed", 1, 2, 2, 3)
    assert score(r).to_dict() == reward_v0_correctness(r).to_dict()
    with pytest.raises(ValueError, match="reward 'nope'"):
        score(r, "nope")
    with pytest.raises(ValueError, match="partial"):
        score(r, "binary", quality_weight=0.05)


def _outcomes(pub, hid, bad="failed"):
    ts = [Outcome(i, "public", ok, "passed" if ok else bad) for i, ok in enumerate(pub)]
    ts += [Outcome(i, "hidden", ok, "passed" if ok else bad) for i, ok in enumerate(hid)]
    return ts


def test_restrict_result_to_reward_tests():
    r = R("failed", 2, 2, 1, 3, tests=_outcomes([True, True], [True, False, False]))
    pub = restrict_result(r, "public")
    assert pub.status == "passed" and pub.passed and (pub.public_total, pub.hidden_total) == (2, 0)
    hid = restrict_result(r, "hidden")
    assert hid.status == "failed" and (hid.hidden_passed, hid.hidden_total, hid.public_total) == (1, 3, 0)
    assert restrict_result(r, "all") is r
    t = R("timeout", 1, 2, 0, 3, tests=_outcomes([True, False], [False] * 3, bad="timeout"))
    assert restrict_result(t, "public").status == "timeout"
    e = R("runtime_error", 2, 2, 2, 3, tests=_outcomes([True, True], [True, True, False], bad="error"))
    assert restrict_result(e, "hidden").status == "runtime_error"
    assert restrict_result(e, "public").status == "passed"
    assert restrict_result(R("syntax_error"), "public").status == "syntax_error"
    assert score(restrict_result(r, "public"), "binary").total == 1.0
    assert score(restrict_result(r, "hidden"), "binary").total == 0.0


def test_rollouts_reward_option(tmp_path, capsys):
    """`rollouts generate --reward` scores with the variant; `evaluate --reward` re-scores; a bad value is
    one `error:` line naming the option, exit 2, before any work."""
    import json

    from helpers import EX_BASE, run_cli

    static = Path(__file__).resolve().parents[1] / "data" / "examples" / "static.candidate.jsonl"
    out = tmp_path / "r.jsonl"
    base = ["rollouts", "generate", "--tasks", str(EXAMPLES), "--backend", "static", "--model", str(static), "-n", "2",
            "--seed", "1", "--final", "--no-progress", "--output", str(out)]
    code, _, err = run_cli([*base, "--reward", "bogus"], capsys)
    assert code == 2 and err.strip().startswith("error:") and "--reward" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    code, _, err = run_cli([*base, "--reward", "weighted"], capsys)
    assert code == 0, err
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert {r["reward_variant"] for r in recs} == {"weighted"}
    assert all(r["reward"] == pytest.approx(1.1 if r["result"]["passed"] else 0.1 * r["reward_components"]["fraction"])
               for r in recs)
    code, _, err = run_cli(base, capsys)   # resuming with another reward is refused
    assert code == 1 and "reward_variant" in err
    md = tmp_path / "e.md"
    code, _, err = run_cli(["rollouts", "evaluate", "-r", str(EX_BASE), "-o", str(md), "--final", "--reward", "binary"],
                           capsys)
    assert code == 0, err
    assert "## Reward (binary)" in md.read_text()
