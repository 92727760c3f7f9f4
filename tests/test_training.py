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
