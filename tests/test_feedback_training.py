"""Training with feedback in the loop (``codeself train feedback``): weights change, only completion
tokens are trained, the reward comes from hidden tests only, no hidden test reaches a training-time
prompt, metrics and traces are written, bad input is refused before compute; the feedback study end
to end on a tiny configuration."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from codeself.agent.traces import hidden_leaks, read_traces  # noqa: E402
from codeself.cli import app  # noqa: E402
from codeself.families import FAMILIES  # noqa: E402
from codeself.tasks import load_tasks, write_tasks  # noqa: E402
from codeself.training.config import TrainConfig, TrainInputError  # noqa: E402
from codeself.training.feedback import _pad, episode_metrics, episode_reward, group_advantages  # noqa: E402
from codeself.training.nano import NanoConfig, build_nano  # noqa: E402
from codeself.training.runner import run_training  # noqa: E402

TINY = dict(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, sft_steps=60, n_train=120, batch_size=16,
            lr=1e-2, revision_demos=True, max_positions=640)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("fbtiny")
    model = build_nano(root / "model", config=NanoConfig(seed=0, **TINY), progress=False)
    tasks = FAMILIES["arith"].generate(16, 4, seed=0)
    tpath = root / "tasks.jsonl"
    write_tasks(tpath, tasks)
    return model, tpath


def _cfg(tiny, out, **kw):
    model, tpath = tiny
    base = dict(algo="grpo", protocol="feedback", tasks=str(tpath), model=str(model), output_dir=str(out),
                group_size=4, batch_size=16, max_steps=2, lr=5e-3, max_completion_length=16, eval_every=0,
                eval_samples=2, eval_tasks=2, save_every=1, workers=1, max_turns=3, trace_episodes=-1)
    base.update(kw)
    return TrainConfig(**base)


def _params(path):
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(path)
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


@pytest.fixture(scope="module")
def runs(tiny, tmp_path_factory):
    root = tmp_path_factory.mktemp("fbruns")
    return {name: (root / name, run_training(_cfg(tiny, root / name, **kw), progress=False))
            for name, kw in (("grpo", {}), ("ppo", {"algo": "ppo"}),
                             ("retry", {"revision_prompt": "retry", "policy": "first-public-pass"}))}


@pytest.mark.parametrize("name", ["grpo", "ppo", "retry"])
def test_feedback_trainer_changes_weights_and_writes_metrics(name, tiny, runs):
    before = _params(tiny[0])
    out, final = runs[name]
    after = _params(final)
    assert any(not torch.equal(before[k], after[k]) for k in before), "no weight changed"
    recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [1, 2]
    for r in recs:
        for k in ("turns_mean", "fixed_on_revision_1", "fixed_on_revision_2", "broke_share", "unchanged_share",
                  "first_public_pass_rate", "final_public_pass_rate", "first_hidden_pass_rate",
                  "final_hidden_pass_rate", "public_pass_hidden_fail_rate", "reward_share", "reward_mean",
                  "programs_sampled", "loss", "entropy", "frac_reward_zero_std"):
            assert k in r, k
        assert 1.0 <= r["turns_mean"] <= 3.0
        assert r["n_episodes"] == 16 and r["programs_sampled"] >= 16
        assert 0 <= r["reward_share"] <= 1
    assert recs[-1]["heldout_n"] == 2  # the end-of-run evaluation
    if name == "ppo":
        assert all(r["value_loss"] is not None for r in recs)


def test_training_time_traces_are_agent_traces_without_hidden_tests(tiny, runs):
    tasks = {t.task_id: t for t in load_tasks(tiny[1])}
    for name, (out, _) in runs.items():
        recs = [r for _, r in read_traces(out / "traces.jsonl")]  # the agent's schema (and no duplicate ids)
        assert len(recs) == 2 * 16  # trace_episodes=-1: every episode of both steps
        assert {r["train_step"] for r in recs} == {1, 2}
        n_prompts = 0
        for r in recs:
            assert hidden_leaks(tasks[r["task_id"]], r) == [], name
            n_prompts += len(r["turns"])
            if name == "retry":  # the control arm sends no feedback text
                assert all(t["prompt"] == r["turns"][0]["prompt"] for t in r["turns"])
        assert n_prompts > 32  # revisions happened, so feedback prompts were scanned too
    # some episode of the feedback arm got a revision prompt with feedback in it
    fb = [r for _, r in read_traces(runs["grpo"][0] / "traces.jsonl")]
    assert any(t["prompt"].startswith("# A previous attempt") for r in fb for t in r["turns"][1:])
    # the scan can fail: a hidden test pasted into a prompt is caught
    bad = json.loads(json.dumps(fb[0]))
    bad["turns"][0]["prompt"] += tasks[bad["task_id"]].hidden_tests[0]
    assert hidden_leaks(tasks[bad["task_id"]], bad)


def test_only_completion_tokens_carry_loss():
    rows = [([5, 6, 7], [8, 9], 1.0, 0, 0, True), ([5], [8, 9, 1], -1.0, 1, 0, True)]
    ids, att, tmask = _pad(rows, 0)
    assert ids.tolist() == [[5, 6, 7, 8, 9], [5, 8, 9, 1, 0]]
    assert att.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]
    # target position i predicts ids[i + 1]: the masked targets are exactly the completion tokens
    assert tmask.tolist() == [[0, 0, 1, 1], [1, 1, 1, 0]]
    assert [int(ids[r, i + 1]) for r in range(2) for i in range(4) if tmask[r, i]] == [8, 9, 8, 9, 1]


def _result(public: list[bool], hidden: list[bool]) -> dict:
    tests = ([{"kind": "public", "index": i, "passed": p, "status": "passed" if p else "failed"} for i, p in enumerate(public)]
             + [{"kind": "hidden", "index": i, "passed": p, "status": "passed" if p else "failed"} for i, p in enumerate(hidden)])
    ok = all(public) and all(hidden)
    return {"task_id": "t", "status": "passed" if ok else "failed", "passed": ok, "public_passed": sum(public),
            "public_total": len(public), "hidden_passed": sum(hidden), "hidden_total": len(hidden), "tests": tests}


def _record(public: list[bool], hidden: list[bool], task_id: str = "t") -> dict:
    turn = {"completion": "    return x\n", "code": "def f(x):\n    return x\n", "parse_status": "ok",
            "public_status": "passed" if all(public) else "failed", "public_passed": sum(public)}
    res = _result(public, hidden)
    return {"task_id": task_id, "sample_id": 0, "turns": [turn], "final_turn": 0, "final": res, "first": res}


def test_the_reward_is_paid_by_hidden_tests_only():
    overfit = episode_reward(_record([True, True], [False, False]), "binary")
    hidden_ok = episode_reward(_record([False, False], [True, True]), "binary")
    assert (overfit, hidden_ok) == (0.0, 1.0)
    assert episode_reward(_record([True], [True, False]), "partial") < 0.5
    # metrics: a public pass that fails a hidden test is counted as such
    m = episode_metrics([_record([True], [False]), _record([True], [True])], 3)
    assert m["public_pass_hidden_fail_rate"] == 0.5 and m["final_hidden_pass_rate"] == 0.5


def test_group_advantages_are_relative_to_the_task_group():
    recs = [{"task_id": "a"}, {"task_id": "a"}, {"task_id": "b"}, {"task_id": "b"}, {"task_id": "b"}]
    adv = group_advantages(recs, [1.0, 0.0, 0.5, 0.5, None])
    assert adv[0] > 0 > adv[1] and abs(adv[0] + adv[1]) < 1e-9
    assert adv[2] == adv[3] == 0.0 and adv[4] is None  # uniform group: no signal; infra error: left out


def test_bad_input_is_refused_before_compute(tiny, tmp_path):
    model, tpath = tiny
    for kw, msg in (({"max_turns": 0}, "--max-turns"), ({"revision_prompt": "hint"}, "--revision-prompt"),
                    ({"policy": "best-hidden"}, "--policy"), ({"algo": "rloo"}, "--algo"),
                    ({"reward_tests": "public"}, "--reward-tests")):
        out = tmp_path / f"o{len(msg)}{kw!s:.4}"
        with pytest.raises(TrainInputError, match=msg.replace("-", r"\-")):
            run_training(_cfg(tiny, out, **kw), progress=False)
        assert not out.exists()
    # train tasks without public tests: no feedback possible
    tasks = load_tasks(tpath)
    for t in tasks:
        if t.split == "train":
            t.hidden_tests = t.hidden_tests + t.public_tests
            t.public_tests = []
    nopub = tmp_path / "nopub.jsonl"
    write_tasks(nopub, tasks)
    with pytest.raises(TrainInputError, match="no public tests"):
        run_training(_cfg(tiny, tmp_path / "o-nopub", tasks=str(nopub)), progress=False)
    # a model whose context cannot hold the revision prompt
    short = build_nano(tmp_path / "short", config=NanoConfig(seed=0, **{**TINY, "sft_steps": 1, "max_positions": 200,
                                                                       "revision_demos": False}), progress=False)
    with pytest.raises(TrainInputError, match="cannot hold"):
        run_training(_cfg(tiny, tmp_path / "o-short", model=str(short)), progress=False)
    assert not (tmp_path / "o-short").exists()
    # with retry prompts the first prompt is all a turn needs: the same short model is accepted by the check
    from codeself.training.feedback import check_context
    from codeself.training.runner import _tokenizer_and_context

    check_context(_cfg(tiny, tmp_path / "x", revision_prompt="retry"), [t for t in load_tasks(tpath) if t.split == "train"],
                  *_tokenizer_and_context(short), where="m")


@pytest.mark.parametrize("args, needle", [
    (["--max-turns", "0"], "--max-turns"),
    (["--policy", "best-hidden"], "--policy"),
    (["--revision-prompt", "hint"], "--revision-prompt"),
    (["--algo", "rloo"], "--algo"),
])
def test_cli_bad_options_one_line(args, needle, tiny, tmp_path):
    model, tpath = tiny
    r = CliRunner().invoke(app, ["train", "feedback", "--tasks", str(tpath), "--model", str(model),
                                 "--output-dir", str(tmp_path / "o"), *args])
    assert r.exit_code == 2, r.output
    assert needle in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()


def test_study_protocol_feedback_bad_input(tmp_path):
    r = CliRunner().invoke(app, ["study", "--protocol", "feedback", "--arm", "weak", "--output-dir", str(tmp_path / "s")])
    assert r.exit_code in (1, 2) and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["study", "--max-turns", "2", "--output-dir", str(tmp_path / "s")])
    assert r.exit_code in (1, 2) and "--max-turns" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_tiny_feedback_study_end_to_end(tmp_path):
    from codeself.training.feedback_study import FeedbackStudyConfig, load_feedback_config, run_feedback_study
    from codeself.training.study import StudyConfig, run_study

    run_study(StudyConfig(seed=3, output_dir=str(tmp_path / "study"), model_root=str(tmp_path / "models"), n_train=64,
                          n_heldout=6, sft_steps=4, max_steps=2, group_size=4, prompts_per_step=2, eval_samples=2,
                          eval_every=0, eval_tasks=0, save_every=1, max_completion_length=16, n_bootstrap=200,
                          workers=1), progress=False, log=lambda m: None)
    cfg = FeedbackStudyConfig(seed=3, output_dir=str(tmp_path / "fb"), model_root=str(tmp_path / "models"), n_train=64,
                              n_heldout=6, sft_steps=4, max_steps=2, group_size=4, prompts_per_step=2, eval_samples=2,
                              save_every=1, max_completion_length=16, n_bootstrap=200, workers=1,
                              single_turn_dir=str(tmp_path / "study"))
    v = run_feedback_study(cfg, progress=False, log=lambda m: None)
    d = tmp_path / "fb"
    saved = json.loads((d / "verdict.json").read_text())
    assert saved == json.loads(json.dumps(v))
    for k in ("first_pass_at_1_before", "first_pass_at_1_after", "final_pass_at_1_before", "final_pass_at_1_after",
              "mcnemar_p", "retry_final_pass_at_1_after", "feedback_vs_retry_p", "single_turn_final_pass_at_1",
              "programs_trained", "sampled", "significant", "feedback_beats_retry", "uses_feedback", "wall_s_total",
              "verdict"):
        assert k in saved, k
    assert saved["n_tasks"] == 6 and saved["programs_trained"]["single_turn"] == 2 * 8
    assert saved["programs_trained"]["feedback_protocol"] >= 2 * 8
    for key in ("after_minus_before", "feedback_minus_retry", "feedback_minus_single_turn"):
        lo, hi = saved["sampled"][key]["ci"]
        assert lo <= saved["sampled"][key]["diff"] <= hi
    # every evaluation is a trace file of the agent's schema, one record per task (greedy)
    for name in ("before.feedback", "after.feedback", "after.retry", "single_turn.feedback"):
        assert len(read_traces(d / "heldout" / f"{name}.greedy.traces.jsonl")) == 6
    # the resolved config re-runs from the directory alone, reporting the finished verdict
    again = run_feedback_study(load_feedback_config(d / "study.json", {}), progress=False, log=lambda m: None)
    assert again == v
    # a verdict written before a field existed is judged again from the cached evaluations, keeping
    # the phases' timings (nothing is re-run: the train and evaluation directories are untouched)
    assert round(json.loads((d / "timings.json").read_text())["phases"]["train_s"], 1) == saved["timings_s"]["train_s"]
    stale = {k: x for k, x in saved.items() if k != "feedback_beats_retry"}
    (d / "verdict.json").write_text(json.dumps(stale))
    mtime = (d / "train" / "metrics.jsonl").stat().st_mtime
    redone = run_feedback_study(load_feedback_config(d / "study.json", {}), progress=False, log=lambda m: None)
    assert redone["feedback_beats_retry"] == saved["feedback_beats_retry"]
    assert redone["timings_s"]["train_s"] == saved["timings_s"]["train_s"]
    assert redone["wall_s_total"] >= saved["wall_s_total"]
    assert (d / "train" / "metrics.jsonl").stat().st_mtime == mtime
    # another configuration in the same directory is refused
    with pytest.raises(TrainInputError, match="another run"):
        run_feedback_study(load_feedback_config(d / "study.json", {"max_turns": 3}), progress=False)


def test_notebooks_04_and_06_show_a_feedback_run(runs, monkeypatch):
    from test_notebooks import check_contract, run_notebook

    out, _ = runs["grpo"]
    defs = run_notebook("04_training.py", ["--run", str(out)], monkeypatch)
    check_contract(defs)
    loop = defs["loop"]
    assert set(loop["metric"].unique()) >= {"first_hidden_pass_rate", "final_hidden_pass_rate", "fixed_on_revision_1",
                                            "turns_mean"}
    assert sorted(loop.filter(loop["metric"] == "turns_mean")["step"].to_list()) == [1, 2]
    # notebook 06 reads the run's training-time episodes (D/traces.jsonl) as agent traces
    defs = run_notebook("06_traces.py", ["--run", str(out)], monkeypatch)
    check_contract(defs)
    assert len(defs["traces"]) == 32 and {r["train_step"] for r in defs["traces"]} == {1, 2}
    assert defs["summary"]["n_records"] == 32


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_hf_generate_captures_the_sampled_token_ids(tiny, temperature):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from codeself.generation import GenerationRequest, hf_generate

    model = AutoModelForCausalLM.from_pretrained(tiny[0])
    tok = AutoTokenizer.from_pretrained(tiny[0])
    reqs = [GenerationRequest(task_id="a", prompt="def f(x):\n", n=2, temperature=temperature, max_new_tokens=12, seed=1),
            GenerationRequest(task_id="b", prompt="def f(x, a, b):\n    ", n=2, temperature=temperature,
                              max_new_tokens=12, seed=1)]
    cap: list = []
    texts = hf_generate(model, tok, reqs, batch_size=2, capture=cap)
    assert len(cap) == 2 and all(len(c) == 2 for c in cap)
    for r, outs, seqs in zip(reqs, texts, cap, strict=True):
        for text, (p_ids, c_ids) in zip(outs, seqs, strict=True):
            assert p_ids == tok(r.prompt)["input_ids"]  # the prompt without the left padding
            assert tok.decode(c_ids, skip_special_tokens=True) == text
            assert tok.pad_token_id not in c_ids[:-1] and c_ids.count(tok.eos_token_id) <= 1


def test_a_killed_feedback_run_resumes_from_its_checkpoint(tiny, tmp_path):
    import shutil

    out = tmp_path / "run"
    cfg = _cfg(tiny, out, max_steps=2, save_every=1)
    run_training(cfg, progress=False)
    full = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    step1 = (out / "metrics.jsonl").read_text().splitlines()[0]
    # as if killed during step 2: its checkpoint, the final model and the done-marker never written
    shutil.rmtree(out / "checkpoint-2")
    shutil.rmtree(out / "final")
    (out / "train_done.json").unlink()
    final = run_training(_cfg(tiny, out, max_steps=2, save_every=1), progress=False)
    assert final.is_dir()
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == full == [1, 2]  # step 2 redone once, step 1 kept, nothing duplicated
    assert (out / "metrics.jsonl").read_text().splitlines()[0] == step1  # resumed, not restarted
    recs = [r for _, r in read_traces(out / "traces.jsonl")]  # read_traces refuses duplicate (task, sample)
    assert sorted({r["train_step"] for r in recs}) == [1, 2] and len(recs) == 32
