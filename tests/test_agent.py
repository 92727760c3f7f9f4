"""The self-debug agent: scripted static attempts with exact trace and report counts, the hidden-test
scan over every prompt, bad inputs (recorded, never lost), resume, the CLI, and HumanEval with a
tiny local model directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeself.agent import (
    AgentConfig,
    build_feedback,
    fit_revision_prompt,
    load_traces,
    render_report,
    render_traces,
    revision_outcome,
    run_agent,
    select_final,
    summarize_traces,
)
from codeself.agent.traces import hidden_leaks
from codeself.cli import main
from codeself.generation import Backend, get_backend
from codeself.io import DataError
from codeself.tasks import Task, write_tasks

ROOT = Path(__file__).resolve().parents[1]


def _task(tid: str, ep: str, doc: str, public: list[str], hidden: list[str]) -> Task:
    return Task(task_id=tid, prompt=f'def {ep}(x):\n    """{doc}"""\n', entry_point=ep,
                public_tests=public, hidden_tests=hidden)


def _body(ep: str, body: str) -> str:
    return f"```python\ndef {ep}(x):\n    {body}\n```"


TASKS = [
    _task("t/fix", "add3", "Return x plus three.", ["assert add3(1) == 4", "assert add3(2) == 5"],
          ["assert add3(1000) == 1003", "assert add3(-77) == -74"]),
    _task("t/broke", "mul2", "Return twice x.", ["assert mul2(0) == 0", "assert mul2(3) == 6"],
          ["assert mul2(41) == 82", "assert mul2(-19) == -38"]),
    _task("t/never", "sq", "Return x squared.", ["assert sq(2) == 4", "assert sq(3) == 9"],
          ["assert sq(12) == 144", "assert sq(-11) == 121"]),
    _task("t/overfit", "neg", "Return minus x.", ["assert neg(5) == -5", "assert neg(6) == -6"],
          ["assert neg(321) == -321", "assert neg(-4096) == 4096"]),
    _task("t/first", "half", "Return x divided by two.", ["assert half(8) == 4.0", "assert half(3) == 1.5"],
          ["assert half(1234) == 617.0", "assert half(-9) == -4.5"]),
]

# The scripted attempts, in file order per task (attempt 0, revision 1, revision 2).
SCRIPT = {
    "t/fix": [_body("add3", "return x + 2"), _body("add3", "return x + 3")],
    "t/broke": [_body("mul2", "return x * x"), _body("mul2", "return x + 1"), _body("mul2", "return x + 1")],
    "t/never": [_body("sq", "return x + 100"), _body("sq", "return x + 2"), _body("sq", "return 2 * x")],
    "t/overfit": [_body("neg", "return {5: -5, 6: -6}.get(x, 0)")],
    "t/first": [_body("half", "return x / 2")],
}


@pytest.fixture(scope="module")
def scripted(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("scripted")
    tasks_path = d / "tasks.jsonl"
    write_tasks(tasks_path, TASKS)
    static = d / "attempts.jsonl"
    # interleave tasks: only the order within a task matters
    lines = [{"task_id": tid, "completion": c} for i in range(3) for tid, cs in SCRIPT.items() if i < len(cs)
             for c in [cs[i]]]
    static.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return tasks_path, static


@pytest.fixture(scope="module")
def run_last(scripted, tmp_path_factory):
    tasks_path, static = scripted
    trace = tmp_path_factory.mktemp("last") / "traces.jsonl"
    recs = run_agent(TASKS, get_backend("static", static), AgentConfig(max_revisions=2, policy="last"),
                     trace_path=trace, progress=False)
    return recs, trace


def _by_task(recs):
    return {r["task_id"]: r for r in recs}


def test_scripted_traces_exact(run_last):
    recs, trace = run_last
    assert [r["task_id"] for r in recs] == [t.task_id for t in TASKS]
    assert load_traces(trace) == recs  # what was written is what was returned
    r = _by_task(recs)
    assert [len(r[t]["turns"]) for t in ("t/fix", "t/broke", "t/never", "t/overfit", "t/first")] == [2, 3, 3, 1, 1]
    fix = r["t/fix"]
    assert [t["public_passed"] for t in fix["turns"]] == [0, 2]
    assert [t["public_total"] for t in fix["turns"]] == [2, 2]
    assert fix["stop_reason"] == "public_pass" and fix["final_turn"] == 1
    assert fix["first"]["passed"] is False and fix["final"]["passed"] is True
    assert fix["final"]["hidden_total"] == 2 and fix["final"]["hidden_passed"] == 2
    assert fix["turns"][0]["feedback_sent"] and fix["turns"][1]["feedback"] is None
    # feedback: the failing public test, its error type; the revision prompt carries it
    fb = fix["turns"][0]["feedback"]
    assert "passed 0 of 2 public tests" in fb and "assert add3(1) == 4" in fb and "Error: " in fb
    p1 = fix["turns"][1]["prompt"]  # completion template: attempt and feedback as comments, then the task
    assert all(f"# {ln}" in p1 for ln in fb.splitlines()) and "#     return x + 2" in p1
    assert p1.endswith(TASKS[0].prompt)
    assert "(1 more public test(s) failed.)" in fb
    broke = r["t/broke"]
    assert [t["public_passed"] for t in broke["turns"]] == [1, 0, 0]
    assert broke["stop_reason"] == "max_revisions" and broke["final_turn"] == 2
    assert broke["turns"][2]["feedback"] and not broke["turns"][2]["feedback_sent"]
    assert [t["public_passed"] for t in r["t/never"]["turns"]] == [0, 1, 1]
    ov = r["t/overfit"]
    assert ov["final"]["public_passed"] == 2 and ov["final"]["hidden_passed"] == 0 and not ov["final"]["passed"]
    assert r["t/first"]["final"]["passed"] and r["t/first"]["revisions_used"] == 0
    for rec in recs:
        for i, t in enumerate(rec["turns"]):
            assert t["turn"] == i and t["request_index"] == i and t["parse_status"] == "ok"
            assert t["timings"]["generate_s"] >= 0 and t["timings"]["sandbox_s"] > 0
        assert rec["config"]["policy"] == "last" and rec["backend"] == "static"


def test_scripted_report_counts_exact(run_last):
    recs, _ = run_last
    s = summarize_traces(recs)
    assert s["paired"] == {"a": 1, "b": 0, "c": 1, "d": 3, "n": 5, "mcnemar_p": 1.0, "clustered": False}
    assert s["pass_at_1_first"] == pytest.approx(0.2) and s["pass_at_1_final"] == pytest.approx(0.4)
    assert s["revision_outcomes"] == {"fixed": 1, "improved": 1, "same_result": 1, "unchanged": 1, "broke": 1}
    assert s["revision_outcomes_by_revision"] == {
        1: {"fixed": 1, "improved": 1, "same_result": 0, "unchanged": 0, "broke": 1},
        2: {"fixed": 0, "improved": 0, "same_result": 1, "unchanged": 1, "broke": 0}}
    assert s["overfit_final"]["k"] == 1 and s["overfit_final"]["n"] == 3
    assert s["overfit_first"]["k"] == 1 and s["overfit_first"]["n"] == 2
    assert s["revisions_used"] == {"hist": {0: 2, 1: 1, 2: 2}, "mean": 1.0, "total": 5}
    assert s["stop_reasons"] == {"public_pass": 3, "max_revisions": 2}
    assert s["final_turn"] == {0: 2, 1: 1, 2: 2}
    assert s["tokens"]["prompt"] is None  # the static backend has no tokenizer: characters instead
    assert s["tokens"]["completion_chars"]["sum"] == sum(len(c) for cs in SCRIPT.values() for c in cs)
    md = render_report(recs)
    assert "| first attempt | 0.200 |" in md and "| final submission | 0.400 |" in md
    assert "| **first passes** | 1 | 0 (broke) |" in md and "| **first fails** | 1 (fixed) | 3 |" in md
    assert "p = 1**" in md
    assert "| fixed (now passes every public test) | 1 | 0.200 |" in md
    assert "| final submission | 3 | 1 | 0.333 |" in md


def test_policy_first_public_pass(scripted, tmp_path):
    _, static = scripted
    recs = run_agent(TASKS, get_backend("static", static),
                     AgentConfig(max_revisions=2, policy="first-public-pass"), progress=False)
    r = _by_task(recs)
    # broke: attempt 0 passed the most public tests (1/2) -> submitted; never: revision 1 (first with 1/2)
    assert r["t/broke"]["final_turn"] == 0 and r["t/never"]["final_turn"] == 1 and r["t/fix"]["final_turn"] == 1
    assert r["t/broke"]["final"]["public_passed"] == 1
    # the first attempt is the final one: graded once, the same result serves both
    assert r["t/broke"]["first"] == r["t/broke"]["final"]
    assert summarize_traces(recs)["final_turn"] == {0: 3, 1: 2}


def test_no_hidden_test_text_in_any_prompt_or_feedback(run_last):
    recs, _ = run_last
    tasks = {t.task_id: t for t in TASKS}
    assert sum(len(r["turns"]) for r in recs) == 10
    for rec in recs:
        assert hidden_leaks(tasks[rec["task_id"]], rec) == []
    # the scan can fail: a prompt with a hidden test in it is caught
    bad = json.loads(json.dumps(recs[0]))
    bad["turns"][0]["prompt"] += TASKS[0].hidden_tests[0]
    assert hidden_leaks(tasks[bad["task_id"]], bad)


def test_chat_template_revision_and_long_stdout(tmp_path):
    task = TASKS[0]
    noisy = "```python\ndef add3(x):\n    print('z' * 5000)\n    return x\n```"
    static = tmp_path / "s.jsonl"
    static.write_text("".join(json.dumps({"task_id": task.task_id, "completion": c}) + "\n"
                              for c in [noisy, SCRIPT["t/fix"][1]]))
    (rec,) = run_agent([task], get_backend("static", static),
                       AgentConfig(max_revisions=3, template="chat", stdout_chars=100), progress=False)
    fb = rec["turns"][0]["feedback"]
    assert "z" * 100 in fb and "z" * 101 not in fb and "more characters cut" in fb
    p1 = rec["turns"][1]["prompt"]
    assert p1.startswith(rec["turns"][0]["prompt"].rstrip()) and "Your previous attempt:" in p1 and fb in p1
    assert rec["final"]["passed"] and rec["revisions_used"] == 1


class _RaisingBackend(Backend):
    name, model_id, model_hash = "raising", "raising", "0"

    def generate(self, requests):
        raise RuntimeError("GPU on fire")


class _EmptyBackend(Backend):
    name, model_id, model_hash = "empty", "empty", "0"

    def generate(self, requests):
        return [[] for _ in requests]


def test_bad_inputs_are_recorded_and_the_loop_goes_on(tmp_path):
    tasks = [
        _task("b/empty", "f", "Return x.", ["assert f(1) == 1"], ["assert f(77) == 77"]),
        _task("b/prose", "g", "Return x.", ["assert g(1) == 1"], ["assert g(77) == 77"]),
        _task("b/loop", "h", "Return x.", ["assert h(1) == 1"], ["assert h(77) == 77"]),
        _task("b/short", "k", "Return x.", ["assert k(1) == 1"], ["assert k(77) == 77"]),
        _task("b/ok", "m", "Return x.", ["assert m(1) == 1"], ["assert m(77) == 77"]),
    ]
    lines = [("b/empty", ""), ("b/empty", "   \n"), ("b/prose", "I cannot solve this, sorry."),
             ("b/prose", "Still no idea."), ("b/loop", _body("h", "while True:\n        pass")),
             ("b/loop", _body("h", "while True:\n        x += 1")), ("b/short", "garbage without code"),
             ("b/ok", _body("m", "return x"))]
    static = tmp_path / "s.jsonl"
    static.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n" for t, c in lines))
    trace = tmp_path / "t.jsonl"
    recs = run_agent(tasks, get_backend("static", static), AgentConfig(max_revisions=1, timeout_s=0.5),
                     trace_path=trace, progress=False)
    r = _by_task(recs)
    assert len(load_traces(trace)) == 5
    assert [t["parse_status"] for t in r["b/empty"]["turns"]] == ["empty", "empty"]
    assert "was empty" in r["b/empty"]["turns"][0]["feedback"]
    assert [t["parse_status"] for t in r["b/prose"]["turns"]] == ["no_code", "no_code"]
    assert r["b/prose"]["turns"][0]["public_status"] == "not_run" and not r["b/prose"]["final"]["passed"]
    assert [t["public_status"] for t in r["b/loop"]["turns"]] == ["timeout", "timeout"]
    assert "time limit" in r["b/loop"]["turns"][0]["feedback"]
    assert r["b/loop"]["final"]["status"] == "timeout" and r["b/loop"]["final"]["hidden_total"] == 1
    # the static file ran out for b/short: the missing attempt is a recorded generation error
    short = r["b/short"]["turns"]
    assert short[0]["parse_status"] == "no_code" and short[1]["generation_error"]
    assert "has 1 completion line" in short[1]["generation_error"]
    assert r["b/ok"]["final"]["passed"]
    s = summarize_traces(recs)
    assert s["generation_errors"] == 1 and s["public_status"]["timeout"] == 2
    # a backend that raises, and one that returns nothing: every loop still gets its record
    for be, msg in ((_RaisingBackend(), "RuntimeError: GPU on fire"), (_EmptyBackend(), "no completion")):
        out = run_agent(tasks[:2], be, AgentConfig(max_revisions=1), progress=False)
        assert len(out) == 2
        for rec in out:
            assert all(msg in t["generation_error"] for t in rec["turns"]) and len(rec["turns"]) == 2
            assert rec["final"]["passed"] is False and rec["final"]["status"] != "passed"
        assert "backend failed" in out[0]["turns"][0]["feedback"]
        assert out[0]["turns"][1]["prompt"] == out[0]["turns"][0]["prompt"]


def test_resume_skips_done_and_refuses_other_settings(run_last, scripted, tmp_path):
    recs, trace = run_last
    _, static = scripted
    part = tmp_path / "traces.jsonl"
    lines = trace.read_text().splitlines(keepends=True)
    part.write_text("".join(lines[:2]) + lines[2][:40])  # two records and a torn third (killed run)
    again = run_agent(TASKS, get_backend("static", static), AgentConfig(max_revisions=2, policy="last"),
                      trace_path=part, progress=False)
    assert [r["task_id"] for r in again] == [t.task_id for t in TASKS]
    written = load_traces(part)
    assert len(written) == 5 and len({(r["task_id"], r["sample_id"]) for r in written}) == 5

    def core(rec):  # everything but wall times
        return [(t["prompt"], t["completion"], t["code"], t["public_passed"], t["feedback"]) for t in rec["turns"]] + [
            rec["final"]["passed"], rec["final"]["status"], rec["first"]["passed"], rec["final_turn"]]

    assert [core(r) for r in again] == [core(r) for r in recs]
    assert again[:2] == recs[:2]  # the records kept from the first run are returned as written
    with pytest.raises(DataError, match="policy"):
        run_agent(TASKS, get_backend("static", static), AgentConfig(max_revisions=2, policy="first-public-pass"),
                  trace_path=part, progress=False)
    assert len(load_traces(part)) == 5


def test_unit_pieces():
    t0 = {"code": "a", "public_passed": 1, "public_status": "failed"}
    assert revision_outcome(t0, {"code": "b", "public_passed": 2, "public_status": "passed"}) == "fixed"
    assert revision_outcome(t0, {"code": "a", "public_passed": 1, "public_status": "failed"}) == "unchanged"
    assert revision_outcome(t0, {"code": None, "public_passed": 0, "public_status": "not_run"}) == "broke"
    turns = [{"public_passed": 1, "public_status": "failed"}, {"public_passed": 2, "public_status": "failed"},
             {"public_passed": 0, "public_status": "failed"}]
    assert select_final(turns, "last") == 2 and select_final(turns, "first-public-pass") == 1
    with pytest.raises(ValueError):
        select_final(turns, "best-hidden")
    with pytest.raises(ValueError, match="policy"):
        AgentConfig(policy="oracle")
    # feedback reads public outcomes only, even if a result carried hidden ones
    res = {"status": "failed", "public_passed": 0, "public_total": 1, "stdout": "",
           "tests": [{"kind": "hidden", "index": 0, "passed": False, "error_type": "SECRET"},
                     {"kind": "public", "index": 0, "passed": False, "error_type": "AssertionError"}]}
    fb = build_feedback(TASKS[0], {"code": "x"}, res, AgentConfig())
    assert "SECRET" not in fb and "AssertionError" in fb and TASKS[0].public_tests[0] in fb


class _CountingBackend:
    """Only what fit_revision_prompt reads: a tokenizer (one token per character) and a context length."""

    def __init__(self, limit):
        self.tokenizer = lambda text, add_special_tokens=False: {"input_ids": list(text)}
        self.model = type("M", (), {"config": type("C", (), {"max_position_embeddings": limit})()})()


def test_revision_prompt_fits_the_model_context():
    task, cfg = TASKS[0], AgentConfig(max_new_tokens=10)
    prev = {"code": "def add3(x):\n    return x + 2\n" + "# padding\n" * 30}
    fb = "Your code passed 0 of 2 public tests (status: failed).\n" + "details\n" * 20
    full, v = fit_revision_prompt(_CountingBackend(10_000), task, task.prompt, prev, fb, cfg)
    assert v == "full" and "return x + 2" in full and "details" in full
    mid, v = fit_revision_prompt(_CountingBackend(len(full) - 100), task, task.prompt, prev, fb, cfg)
    assert v == "feedback_only" and "return x + 2" not in mid and "details" in mid and len(mid) + 10 <= len(full) - 100
    small, v = fit_revision_prompt(_CountingBackend(len(task.prompt) + 130), task, task.prompt, prev, fb, cfg)
    assert v == "short_feedback" and "details" not in small and "passed 0 of 2" in small
    assert small.endswith(task.prompt)
    assert fit_revision_prompt(object(), task, task.prompt, prev, fb, cfg)[1] == "full"  # no tokenizer: full


def test_view_renders_diffs_and_collapsible(run_last, tmp_path):
    recs, trace = run_last
    md = render_traces(recs, task_id="t/fix")
    assert "```diff" in md and "-    return x + 2" in md and "+    return x + 3" in md
    assert "<details><summary>Prompt" in md and "⇐ submitted" in md
    assert "## `t/fix` · sample 0 — final: **PASSED**" in md and "t/broke" not in md
    out = tmp_path / "view.md"
    _ok(["agent", "view", "--traces", str(trace), "--output", str(out)])
    text = out.read_text()
    assert text.count("## `t/") == 5 and "_identical code_" in text


def _ok(args) -> None:
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code in (0, None)


def _cli(args, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        main(args)
    return e.value.code, capsys.readouterr().err


def test_cli_run_report_and_bad_input(scripted, tmp_path, capsys):
    tasks_path, static = scripted
    trace, report = tmp_path / "tr.jsonl", tmp_path / "rep.md"
    base = ["agent", "run", "--tasks", str(tasks_path), "--backend", "static", "--model", str(static),
            "--max-revisions", "2", "--trace-output", str(trace), "--report-output", str(report), "--no-progress"]
    _ok(base)
    assert len(load_traces(trace)) == 5 and "| **first fails** | 1 (fixed) | 3 |" in report.read_text()
    _ok(base)  # a re-run resumes: nothing duplicated
    assert len(load_traces(trace)) == 5
    rep2 = tmp_path / "rep2.md"
    _ok(["agent", "report", "--traces", str(trace), "--output", str(rep2)])
    assert rep2.read_text() == report.read_text()

    bad_tasks = tmp_path / "bad.jsonl"
    bad_tasks.write_text(tasks_path.read_text().splitlines()[0] + "\n{not json\n")
    outs = [tmp_path / "o1.jsonl", tmp_path / "o1.md"]
    args = ["agent", "run", "--backend", "static", "--model", str(static), "--trace-output", str(outs[0]),
            "--report-output", str(outs[1]), "--no-progress"]
    code, err = _cli(args + ["--tasks", str(bad_tasks)], capsys)
    assert code == 1 and f"{bad_tasks}:2" in err and "malformed JSON" in err
    code, err = _cli(args + ["--tasks", str(tasks_path), "--task", "t/nope"], capsys)
    assert code == 1 and "t/nope" in err
    code, err = _cli(["agent", "run", "--tasks", str(tasks_path), "--backend", "static", "--model",
                      str(tmp_path / "missing.jsonl"), "--trace-output", str(outs[0]), "--report-output",
                      str(outs[1])], capsys)
    assert code == 1 and "missing.jsonl" in err and "does not exist" in err
    code, err = _cli(args[:2] + ["--tasks", str(tasks_path), "--backend", "telepathy", *args[6:]], capsys)
    assert code == 2 and "--backend" in err and "'telepathy' is not one of" in err  # refused while parsing
    code, err = _cli(args + ["--tasks", str(tasks_path), "--policy", "oracle"], capsys)
    assert code == 2
    code, err = _cli(args[:6] + ["--tasks", str(tasks_path), "--trace-output", str(trace), "--report-output",
                                 str(outs[1]), "--policy", "first-public-pass"], capsys)
    assert code == 1 and f"{trace}:1" in err and "config.policy" in err
    assert not any(p.exists() for p in outs)
    code, err = _cli(["agent", "view", "--traces", str(trace), "--task", "t/zzz", "--output", str(outs[1])], capsys)
    assert code == 1 and "t/zzz" in err and not outs[1].exists()
    bad_trace = tmp_path / "badtrace.jsonl"
    bad_trace.write_text(json.dumps({"task_id": "x", "sample_id": 0, "turns": [{"prompt": "p"}], "final": {"passed": 1}}) + "\n")
    code, err = _cli(["agent", "view", "--traces", str(bad_trace), "--output", str(outs[1])], capsys)
    assert code == 1 and f"{bad_trace}:1" in err and "turns[0].completion" in err and not outs[1].exists()


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    from test_generation import make_tiny_llama  # the generation tests' tiny random Llama builder

    return make_tiny_llama(tmp_path_factory.mktemp("tiny") / "llama")


@pytest.mark.slow
def test_humaneval_with_a_local_model_directory(tiny_llama, tmp_path):
    from codeself.datasets import from_humaneval

    # the three shortest HumanEval prompts (so revision prompts can fit the 512-position model)
    tasks = sorted(from_humaneval(verify_examples=False), key=lambda t: len(t.prompt))[:3]
    be = get_backend("hf", tiny_llama)
    trace = tmp_path / "he.jsonl"
    recs = run_agent(tasks, be, AgentConfig(max_revisions=1, samples_per_task=2, max_new_tokens=12, seed=3,
                                            timeout_s=5.0), trace_path=trace, progress=False)
    assert len(recs) == 6 and len(load_traces(trace)) == 6
    by_id = {t.task_id: t for t in tasks}
    for rec in recs:
        assert rec["config"]["temperature"] == 0.8 and rec["backend"] == "hf"
        assert all(t["prompt_tokens"] and t["completion_tokens"] is not None for t in rec["turns"])
        assert rec["final"]["hidden_total"] == len(by_id[rec["task_id"]].hidden_tests)
        assert hidden_leaks(by_id[rec["task_id"]], rec) == []
        for t in rec["turns"][1:]:  # revision prompts are fitted to the model's 512-position context
            assert t["prompt_variant"] in ("full", "feedback_only", "short_feedback")
            if t["prompt_variant"] != "short_feedback":
                assert t["prompt_tokens"] + 12 <= 512
    s = summarize_traces(recs)
    assert s["paired"]["clustered"] and s["tokens"]["prompt"]["sum"] > 0
    assert "cluster bootstrap" in render_report(recs)


def test_several_samples_request_order_and_clustered_report(tmp_path):
    fix, first = TASKS[0], TASKS[4]
    wrong, right = SCRIPT["t/fix"]
    lines = [(fix.task_id, wrong), (fix.task_id, right), (fix.task_id, right),  # s0 turn 0, s1 turn 0, s0 turn 1
             (first.task_id, SCRIPT["t/first"][0]), (first.task_id, SCRIPT["t/first"][0])]
    static = tmp_path / "s.jsonl"
    static.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n" for t, c in lines))
    recs = run_agent([fix, first], get_backend("static", static), AgentConfig(max_revisions=1, samples_per_task=2),
                     progress=False)
    assert [(r["task_id"], r["sample_id"], len(r["turns"])) for r in recs] == [
        ("t/fix", 0, 2), ("t/fix", 1, 1), ("t/first", 0, 1), ("t/first", 1, 1)]
    assert [t["request_index"] for t in recs[0]["turns"]] == [0, 2] and recs[1]["turns"][0]["request_index"] == 1
    assert recs[0]["config"]["temperature"] == 0.8
    s = summarize_traces(recs)
    assert s["paired"]["c"] == 1 and s["paired"]["a"] == 3 and s["paired"]["clustered"]
    assert s["pass_at_1_first"] == pytest.approx(0.75) and s["pass_at_1_final"] == pytest.approx(1.0)
    assert s["paired"]["cluster_ci"]["diff"] == pytest.approx(0.25)


def test_retry_arm_asks_the_first_prompt_again(scripted):
    _, static = scripted
    recs = run_agent(TASKS[:1], get_backend("static", static), AgentConfig(max_revisions=2, revision_prompt="retry"),
                     progress=False)
    (rec,) = recs
    t0, t1 = rec["turns"]
    assert t1["prompt"] == t0["prompt"] and t1["prompt_variant"] == "retry"
    assert t0["feedback"] and not t0["feedback_sent"] and rec["final"]["passed"]
    assert "revision prompt = `retry`" in render_report(recs) and "not sent: retry arm" in render_traces(recs)
    with pytest.raises(ValueError, match="revision_prompt"):
        AgentConfig(revision_prompt="hint")


def test_cli_run_refuses_the_test_split_without_final_and_logs_it_with(scripted, tmp_path, capsys, monkeypatch):
    """The same locked-split guard as `rollouts generate`: refused without --final (nothing written,
    nothing logged); with --final the access is logged through evaluation.guard_test_split."""
    from codeself.evaluation import read_test_access_log

    _, static = scripted
    monkeypatch.setenv("CODESELF_DATA_DIR", str(tmp_path / "data"))
    locked = tmp_path / "locked.jsonl"
    write_tasks(locked, [TASKS[0], Task(**{**TASKS[1].to_dict(), "split": "test"})])
    trace, report = tmp_path / "runs" / "tr.jsonl", tmp_path / "runs" / "rep.md"
    args = ["agent", "run", "--tasks", str(locked), "--backend", "static", "--model", str(static),
            "--trace-output", str(trace), "--report-output", str(report), "--no-progress"]
    code, err = _cli(args, capsys)
    assert code == 1 and "locked test split" in err and "--final" in err and "t/broke" in err
    assert not trace.exists() and not report.exists() and read_test_access_log() == []
    _ok([*args, "--final"])
    log = read_test_access_log()
    assert [(r["action"], r["task_ids"], r["run"]) for r in log] == [("agent run", ["t/broke"], str(trace.resolve()))]
    assert len(trace.read_text().splitlines()) == 2


def test_readme_agent_commands_run_on_a_fresh_copy_and_write_only_under_data_runs(tmp_path, monkeypatch, capsys):
    """The README's agent block, run as written in a copy of the files it names: every command exits
    0 and nothing outside the git-ignored data/runs/ (and the ignored access log) is written."""
    import re
    import shlex
    import shutil

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Self-debug agent"):]
    block = section[section.index("```bash") + len("```bash"):]
    block = block[:block.index("```")]
    commands = [shlex.split(c.split("   #")[0]) for c in block.replace("\\\n", " ").strip().splitlines()]
    assert [c[:3] for c in commands] == [["codeself", "agent", "run"], ["codeself", "agent", "view"],
                                         ["codeself", "agent", "report"]]
    for c in commands:
        for flag in ("--trace-output", "--report-output", "--output"):
            if flag in c:
                assert c[c.index(flag) + 1].startswith("data/runs/"), c
    inputs = {a for c in commands for a in c if re.match(r"data/(?!runs/)", a)}
    for rel in inputs:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CODESELF_DATA_DIR", raising=False)
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    for c in commands:
        _ok([*c[1:], "--no-progress"] if c[2] == "run" else c[1:])
    new = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()} - {
        str(p.relative_to(tmp_path)) for p in before}
    assert new and all(n.startswith("data/runs/") or n == "data/test_access_log.jsonl" for n in new), new
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "data/runs/" in ignored and "data/test_access_log.jsonl" in ignored
