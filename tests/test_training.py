"""Training changes weights: GRPO, RLOO (TRL) and PPO on a tiny model; metrics; resume; bad input."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest

torch = pytest.importorskip("torch")

from codeself.families import FAMILIES  # noqa: E402
from codeself.tasks import write_tasks  # noqa: E402
from codeself.training.config import TrainConfig, TrainInputError  # noqa: E402
from codeself.training.nano import NanoConfig, build_nano  # noqa: E402
from codeself.training.runner import run_training  # noqa: E402

TINY = dict(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, sft_steps=80, n_train=200, batch_size=16,
            lr=1e-2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    model = build_nano(root / "model", config=NanoConfig(seed=0, **TINY), progress=False)
    tasks = FAMILIES["arith"].generate(24, 4, seed=0)
    tpath = root / "tasks.jsonl"
    write_tasks(tpath, tasks)
    return model, tpath


def _cfg(algo, tiny, out, **kw):
    model, tpath = tiny
    base = dict(algo=algo, tasks=str(tpath), model=str(model), output_dir=str(out), group_size=4, batch_size=8,
                max_steps=2, lr=5e-3, max_completion_length=12, eval_every=0, eval_samples=2, save_every=1,
                workers=1)
    base.update(kw)
    return TrainConfig(**base)


def _params(path):
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(path)
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


@pytest.fixture(scope="module")
def runs(tiny, tmp_path_factory):
    """Each trainer run once for 2 steps (shared by the tests below)."""
    root = tmp_path_factory.mktemp("runs")
    return {algo: (root / algo, run_training(_cfg(algo, tiny, root / algo), progress=False))
            for algo in ("grpo", "rloo", "ppo")}


@pytest.mark.parametrize("algo", ["grpo", "rloo", "ppo"])
def test_trainer_changes_weights_and_writes_metrics(algo, tiny, runs):
    before = _params(tiny[0])
    out, final = runs[algo]
    after = _params(final)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, f"{algo}: no parameter changed"
    recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [1, 2]
    for r in recs:
        for field in ("reward_mean", "reward_std", "frac_reward_zero_std", "informative_share", "entropy",
                      "completion_length", "sandbox_share", "reward_share", "time_s", "adv_abs_mean"):
            assert field in r, (algo, field)
        assert 0.0 <= r["reward_share"] <= 1.0
        assert r["n_executed"] + r["n_cached"] == 8
    # the last step carries the held-out evaluation
    assert recs[-1]["heldout_n"] == 4
    assert 0.0 <= recs[-1]["heldout_greedy_pass_at_1"] <= 1.0
    if algo == "ppo":
        for field in ("value_loss", "explained_variance", "approx_kl", "clip_frac"):
            assert field in recs[-1]


def test_compare_report(runs, tmp_path):
    from codeself.training.compare import compare_runs

    report = tmp_path / "report.md"
    res = compare_runs([runs[a][0] for a in ("grpo", "rloo", "ppo")], report, samples=2, seed=0)
    text = report.read_text()
    assert "## reward_mean" in text and "## Final held-out comparison" in text
    assert [r["run"] for r in res["rows"]] == ["grpo", "rloo", "ppo"]
    for row in res["rows"][1:]:
        assert 0.0 <= row["mcnemar_p"] <= 1.0 and len(row["sampled_diff_ci"]) == 2
    with pytest.raises(TrainInputError, match="no metrics.jsonl"):
        compare_runs([tmp_path], tmp_path / "x.md")


@pytest.mark.parametrize("algo", ["grpo", "ppo"])
def test_resume_after_kill(algo, tiny, tmp_path):
    out = tmp_path / "run"
    cfg = _cfg(algo, tiny, out, max_steps=3)
    run_training(cfg, progress=False)
    first = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    # simulate a kill after step 3's metrics line but before its checkpoint
    shutil.rmtree(out / "checkpoint-3")
    shutil.rmtree(out / "final")
    (out / "train_done.json").unlink()
    assert (out / "checkpoint-2").is_dir()
    run_training(cfg, progress=False)
    second = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in second] == [1, 2, 3]
    assert second[:2] == first[:2]          # steps 1-2 were not redone
    assert (out / "final" / "config.json").is_file()


def test_bad_inputs_rejected_before_compute(tiny, tmp_path):
    model, tpath = tiny
    with pytest.raises(TrainInputError, match="does not divide"):
        run_training(_cfg("grpo", tiny, tmp_path / "a", group_size=3, batch_size=8), progress=False)
    no_train = tmp_path / "test_only.jsonl"
    write_tasks(no_train, FAMILIES["arith"].generate(0, 3, seed=0))
    with pytest.raises(TrainInputError, match="no task has split 'train'"):
        run_training(_cfg("grpo", tiny, tmp_path / "b", tasks=str(no_train)), progress=False)
    not_lm = tmp_path / "enc"
    not_lm.mkdir()
    (not_lm / "config.json").write_text(json.dumps({"architectures": ["BertForMaskedLM"], "model_type": "bert"}))
    with pytest.raises(TrainInputError, match="not a causal language model"):
        run_training(_cfg("grpo", tiny, tmp_path / "c", model=str(not_lm)), progress=False)
    with pytest.raises(TrainInputError, match="no config.json"):
        run_training(_cfg("grpo", tiny, tmp_path / "c", model=str(tmp_path)), progress=False)
    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(TrainInputError, match="vLLM is not installed"):
            run_training(_cfg("grpo", tiny, tmp_path / "c", use_vllm=True), progress=False)
    # a run directory that holds another run
    run_training(_cfg("grpo", tiny, tmp_path / "d", max_steps=1), progress=False)
    with pytest.raises(TrainInputError, match="already holds another run"):
        run_training(_cfg("grpo", tiny, tmp_path / "d", max_steps=1, lr=1e-3), progress=False)
    for d in ("a", "b", "c"):
        assert not (tmp_path / d).exists(), d   # nothing was written for rejected runs


def test_lora_ppo_changes_merged_weights_and_resumes(tiny, tmp_path):
    out = tmp_path / "lora"
    cfg = _cfg("ppo", tiny, out, lora=True, lr=5e-2)
    run_training(cfg, progress=False)
    shutil.rmtree(out / "checkpoint-2")
    shutil.rmtree(out / "final")
    (out / "train_done.json").unlink()
    final = run_training(cfg, progress=False)   # resumes from the adapter checkpoint-1
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    before, after = _params(tiny[0]), _params(final)
    assert set(before) == set(after)             # merged back into a plain causal LM
    assert any(not torch.equal(before[k], after[k]) for k in before)


# --- rewards, the hacking monitor, reporting (issue 18) ------------------------------------------

def test_monitor_metrics_on_hand_made_results():
    from codeself.training.metrics import monitor_metrics

    tids = ["a", "a", "a", "b", "b", "b", "c"]
    rp = [True, True, False, True, False, None, False]        # None: infra_error, left out
    mp = [True, False, False, False, True, None, False]
    m, by = monitor_metrics(tids, rp, mp, monitored=True, weak={"b", "z"})
    assert m["reward_pass_rate"] == pytest.approx(3 / 6)
    assert m["monitor_pass_rate"] == pytest.approx(2 / 6)
    assert m["hack_rate"] == pytest.approx(2 / 6)            # a#1 and b#0 pass reward tests, fail a monitor
    assert m["weak_prompt_share"] == pytest.approx(1 / 3)
    assert by == {"a": {"n": 3, "hacks": 1, "hack_rate": 1 / 3}, "b": {"n": 2, "hacks": 1, "hack_rate": 0.5},
                  "c": {"n": 1, "hacks": 0, "hack_rate": 0.0}}
    m, by = monitor_metrics(tids, rp, [None] * 7, monitored=False)
    assert set(m) == {"reward_pass_rate"} and by == {}


def test_sandbox_reward_monitor_through_the_sandbox():
    """Public tests pay, hidden tests monitor: a program right on the public inputs only is a hack."""
    from codeself.training.metrics import SandboxReward

    task = FAMILIES["arith"].generate(1, 0, seed=3)[0]
    right = task.canonical_solution
    assert right and task.public_tests and task.hidden_tests
    # a program that answers the public tests from a table and is wrong elsewhere
    import ast

    cases = []
    for t in task.public_tests:
        call = ast.parse(t).body[0].test
        cases.append((", ".join(ast.unparse(a) for a in call.left.args), ast.unparse(call.comparators[0])))
    table = ", ".join(f"({a},): {v}" for a, v in cases)
    hack = f"def {task.entry_point}(*args):\n    return {{{table}}}.get(args, -12345)\n"
    rw = SandboxReward({task.task_id: task}, workers=1, reward="binary", reward_tests="public")
    vals = rw(None, [right, hack, "no code here"], task_id=[task.task_id] * 3)
    m = rw.take()
    assert vals[0] == 1.0 and vals[1] == 1.0 and vals[2] == 0.0   # the hack is paid: public tests only
    assert m["reward_pass_rate"] == pytest.approx(2 / 3)
    assert m["monitor_pass_rate"] == pytest.approx(1 / 3)
    assert m["hack_rate"] == pytest.approx(1 / 3)
    assert rw.by_task[task.task_id]["hacks"] == 1


def _scalars(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = {}
    for ev in sorted(logdir.rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(ev.parent))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out[tag] = [e.value for e in acc.Scalars(tag)]
    return out


@pytest.mark.parametrize("algo,reward_tests", [("grpo", "public"), ("ppo", "hidden")])
def test_monitor_fields_and_tensorboard(algo, reward_tests, tiny, tmp_path):
    pytest.importorskip("tensorboard")
    model, tpath = tiny
    from codeself.tasks import load_tasks

    audit = tmp_path / "audit.jsonl"
    ids = [t.task_id for t in load_tasks(tpath) if t.split == "train"]
    audit.write_text("".join(json.dumps({"task_id": t, "weak": i % 2 == 0}) + "\n" for i, t in enumerate(ids)))
    out = tmp_path / algo
    cfg = _cfg(algo, tiny, out, reward="weighted", reward_tests=reward_tests, audit=str(audit),
               report_to="tensorboard", skip_uniform_groups=algo == "ppo", save_every=10)
    run_training(cfg, progress=False)
    recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [1, 2]
    for r in recs:
        for f in ("reward_pass_rate", "monitor_pass_rate", "hack_rate", "weak_prompt_share"):
            assert 0.0 <= r[f] <= 1.0, (algo, f, r.get(f))
        assert r["hack_rate"] <= r["reward_pass_rate"]
        if algo == "ppo":
            assert 0 <= r["groups_skipped"] <= 2
    by = [json.loads(x) for x in (out / "hack_rate_by_task.jsonl").read_text().splitlines()]
    assert [b["step"] for b in by] == [1, 2]
    assert all(0.0 <= v["hack_rate"] <= 1.0 for b in by for v in b["tasks"].values())
    tb = _scalars(out / "tensorboard")
    assert len(tb["train/codeself/hack_rate"]) == 2 and len(tb["train/codeself/reward_mean"]) == 2, sorted(tb)
    assert tb["train/codeself/hack_rate"] == pytest.approx([r["hack_rate"] for r in recs], abs=1e-6)


def test_monitor_bad_inputs_rejected_before_compute(tiny, tmp_path):
    import dataclasses

    from codeself.tasks import load_tasks

    no_public = tmp_path / "no_public.jsonl"
    write_tasks(no_public, [dataclasses.replace(t, public_tests=[]) for t in load_tasks(tiny[1])])
    with pytest.raises(TrainInputError, match="--reward-tests public: .* no public tests"):
        run_training(_cfg("grpo", tiny, tmp_path / "a", tasks=str(no_public), reward_tests="public"), progress=False)
    with pytest.raises(TrainInputError, match="--reward 'nope'"):
        run_training(_cfg("grpo", tiny, tmp_path / "b", reward="nope"), progress=False)
    with pytest.raises(TrainInputError, match="--skip-uniform-groups"):
        run_training(_cfg("grpo", tiny, tmp_path / "c", skip_uniform_groups=True), progress=False)
    for backend in ("wandb", "trackio"):
        if importlib.util.find_spec(backend) is None:
            with pytest.raises(TrainInputError, match=f"--report-to {backend}: the '{backend}' package is not installed"):
                run_training(_cfg("grpo", tiny, tmp_path / "d", report_to=backend), progress=False)
    for d in ("a", "b", "c", "d"):
        assert not (tmp_path / d).exists(), d


def test_default_identity_unchanged():
    from codeself.training.config import run_identity

    cfg = TrainConfig(algo="grpo", tasks="t.jsonl", output_dir="d")
    ident = run_identity(cfg)
    assert not {"reward", "reward_tests", "audit", "skip_uniform_groups", "report_to"} & set(ident)
    assert run_identity(TrainConfig(reward="binary"))["reward"] == "binary"
    assert "report_to" not in run_identity(TrainConfig(report_to="tensorboard"))
