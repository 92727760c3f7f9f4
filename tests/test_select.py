"""`codeself train select`: settings chosen on validation compositions by a fixed rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeself.cli import main
from codeself.families import FAMILIES
from codeself.tasks import load_tasks
from codeself.training.config import TrainInputError
from codeself.training.select import choose, parse_grid, plan, run_selection, score, setting_name
from codeself.training.study import StudyConfig, load_config, run_study


def test_parse_grid_types_and_bad_items():
    assert parse_grid(["lr=5e-5,1e-4", "max_steps=50,100"]) == {"lr": [5e-5, 1e-4], "max_steps": [50, 100]}
    for item, msg in [("lr", "KEY=V1"), ("lr=", "KEY=V1"), ("lrs=1", "unknown study setting 'lrs'"),
                      ("seed=1,2", "defines the protocol"), ("holdout=test", "defines the protocol"),
                      ("max_steps=1.5", "not a valid int"), ("lr=abc", "not a valid float"),
                      ("lr=1e-4,1e-4", "repeated value")]:
        with pytest.raises(TrainInputError, match=msg):
            parse_grid([item])
    with pytest.raises(TrainInputError, match="given twice"):
        parse_grid(["lr=1e-4", "lr=2e-4"])
    with pytest.raises(TrainInputError, match="at least one"):
        parse_grid([])


def test_plan_sets_validation_protocol_and_refuses_bad_seeds(tmp_path):
    cfgs = plan({"sft_steps": 7}, {"lr": [1e-4, 2e-4]}, [11, 12], tmp_path)
    assert [(c.lr, c.seed) for c in cfgs] == [(1e-4, 11), (1e-4, 12), (2e-4, 11), (2e-4, 12)]
    assert {c.holdout for c in cfgs} == {"validation"} and {c.sft_steps for c in cfgs} == {7}
    assert Path(cfgs[0].output_dir).name == "lr0.0001-seed11" == f"{setting_name({'lr': 1e-4})}-seed11"
    with pytest.raises(TrainInputError, match="repeated seed"):
        plan({}, {"lr": [1e-4]}, [1, 1], tmp_path)
    with pytest.raises(TrainInputError, match="at least one seed"):
        plan({}, {"lr": [1e-4]}, [], tmp_path)
    with pytest.raises(TrainInputError, match="sets holdout"):
        plan({"holdout": "test"}, {"lr": [1e-4]}, [1], tmp_path)
    with pytest.raises(TrainInputError, match="max_steps=0"):
        plan({}, {"max_steps": [0]}, [1], tmp_path)
    # a study directory of the plan that holds a different run is refused before anything runs
    other = tmp_path / "lr0.0002-seed12"
    other.mkdir()
    (other / "study.json").write_text(json.dumps({"identity": {"seed": 12, "lr": 0.5}}))
    with pytest.raises(TrainInputError, match="lr0.0002-seed12 already holds another run"):
        plan({"sft_steps": 7}, {"lr": [1e-4, 2e-4]}, [11, 12], tmp_path)


def test_choose_follows_the_declared_rule():
    def cand(n_sig, ci_low, gdiff):
        return {"score": {"n_significant": n_sig, "mean_ci_low": ci_low, "mean_greedy_diff": gdiff}}

    # more significant seeds beat a larger mean effect
    assert choose([cand(1, 0.30, 0.5), cand(2, 0.01, 0.1)]) == 1
    # then the CI lower bound, then the greedy difference, then grid order
    assert choose([cand(2, 0.05, 0.1), cand(2, 0.10, 0.0)]) == 1
    assert choose([cand(2, 0.10, 0.1), cand(2, 0.10, 0.2)]) == 1
    assert choose([cand(2, 0.10, 0.2), cand(2, 0.10, 0.2)]) == 0


def test_score_counts_seeds_by_the_verdict_rule():
    run = {"baseline_pass_at_1": 0.5, "trained_pass_at_1": 0.7, "greedy_diff": 0.2, "mcnemar_p": 0.001,
           "sampled_diff": 0.1, "sampled_diff_ci": [0.05, 0.15]}
    # greedy significantly worse while sampled is better: an old flag saying significant is not counted
    worse = {**run, "trained_pass_at_1": 0.4, "greedy_diff": -0.1, "significant": True}
    stored = {**run, "mcnemar_p": 0.03, "alpha": 0.05, "significant": True}  # written under the rule: read as stored
    s = score([run, worse, stored])
    assert (s["n_significant"], s["n_seeds"]) == (2, 3)


def test_old_study_without_holdout_setting_still_resumes(tmp_path):
    """A study directory written before ``holdout`` existed is the same run as the default protocol."""
    d = tmp_path / "old"
    d.mkdir()
    cfg = StudyConfig(output_dir=str(d))
    from dataclasses import asdict

    ident = {k: v for k, v in asdict(cfg).items() if k not in ("output_dir", "workers", "holdout")}
    (d / "study.json").write_text(json.dumps({"identity": ident, "config": asdict(cfg)}))
    (d / "verdict.json").write_text(json.dumps({"seed": 1, "measured": True}))
    assert run_study(cfg, progress=False, log=lambda m: None) == {"seed": 1, "measured": True}
    with pytest.raises(TrainInputError, match="differs in: holdout"):
        run_study(StudyConfig(output_dir=str(d), holdout="validation"))
    with pytest.raises(TrainInputError, match="holdout='dev'"):
        load_config(None, {"holdout": "dev"})


TINY = dict(n_train=48, n_heldout=6, sft_steps=4, max_steps=2, group_size=4, prompts_per_step=2, eval_samples=2,
            eval_every=0, eval_tasks=0, save_every=1, max_completion_length=16, n_bootstrap=200, workers=1)


@pytest.mark.slow
def test_selection_end_to_end_never_touches_heldout(tmp_path, capsys):
    base = {**TINY, "model_root": str(tmp_path / "models")}
    out = tmp_path / "select"
    # two studies of the same seed in two processes at once: the shared warm start is built once
    sel = run_selection({"lr": [1e-4, 2e-4]}, [5], out, base=base, jobs=2, progress=False, log=lambda m: None)
    assert [c["setting"] for c in sel["candidates"]] == [{"lr": 1e-4}, {"lr": 2e-4}]
    assert sel["chosen"] == sel["candidates"][sel["chosen_index"]]["setting"]
    heldout = {"-".join(c) for c in FAMILIES["arith"].heldout}
    for c in sel["candidates"]:
        (run,) = c["runs"]
        d = Path(run["run_dir"])
        verdict = json.loads((d / "verdict.json").read_text())
        assert verdict["holdout"] == "validation" and verdict["n_tasks"] == 6
        assert "validation greedy" in verdict["verdict"] or "NO significant" in verdict["verdict"]
        tasks = load_tasks(d / "tasks.jsonl")
        assert {t.split for t in tasks} == {"train", "validation"}
        assert not {t.metadata["composition"] for t in tasks} & heldout
    assert (tmp_path / "models" / "nano-seed5-validation" / "config.json").is_file()
    assert sorted(p.name for p in (tmp_path / "models").iterdir() if not p.name.startswith(".")) == [
        "nano-seed5-validation"]
    # the chosen setting is a study config; the selection table and json agree
    chosen = load_config(out / "chosen.toml", {})
    assert chosen.lr == sel["chosen"]["lr"] and chosen.sft_steps == 4
    assert "(chosen)" in (out / "selection.md").read_text()
    assert json.loads((out / "selection.json").read_text())["chosen"] == sel["chosen"]
    # re-running reuses every finished study (in-process path) and reaches the same choice; via the CLI
    cfg_toml = tmp_path / "base.toml"
    cfg_toml.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in base.items()))
    try:
        main(["train", "select", "--grid", "lr=1e-4,2e-4", "--seeds", "5", "--config", str(cfg_toml),
              "--output-dir", str(out)])
    except SystemExit as e:
        assert e.code in (0, None)
    text = capsys.readouterr().out
    assert "(chosen)" in text and json.loads((out / "selection.json").read_text())["chosen"] == sel["chosen"]
