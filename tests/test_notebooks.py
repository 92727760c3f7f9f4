"""The marimo notebooks run clean (``app.run()``), honour their CLI arguments, define the report
contract's globals, pass ``marimo check``; the Jupyter notebooks execute with nbclient.

(pytest also collects each marimo notebook's own ``test_*`` cells: ``testpaths`` includes
``notebooks`` and ``python_files`` matches ``NN_name.py``.)
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "notebooks"
MARIMO_NOTEBOOKS = sorted(p.name for p in NB.glob("[0-9][0-9]_*.py"))
IPYNBS = sorted(p.name for p in NB.glob("*.ipynb"))


def run_notebook(name: str, args: list[str], monkeypatch) -> dict:
    """``app.run()`` of a notebook with ``sys.argv`` set as ``marimo run nb.py -- ARGS`` would."""
    monkeypatch.setattr(sys, "argv", [str(NB / name), *args])
    spec = importlib.util.spec_from_file_location(f"nb_{name[:-3]}", NB / name)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    _, defs = mod.app.run()
    return dict(defs)


def check_contract(defs: dict) -> None:
    kn = defs["key_numbers"]
    assert isinstance(kn, dict) and kn
    assert all(isinstance(v, (int, float, str)) or v is None for v in kn.values()), kn
    json.dumps(kn)
    vl = defs["verdict_lines"]
    assert isinstance(vl, list) and vl and all(isinstance(x, str) and x for x in vl)
    assert all(Path(p).exists() for p in defs["inputs_read"])
    assert isinstance(defs["seeds"], dict)


def test_all_six_notebooks_present():
    assert MARIMO_NOTEBOOKS == ["01_datasets.py", "02_sandbox.py", "03_rewards.py", "04_training.py",
                                "05_compare.py", "06_traces.py"]
    assert len(IPYNBS) >= 2


@pytest.mark.parametrize("name", MARIMO_NOTEBOOKS)
def test_notebook_runs_with_defaults(name, monkeypatch):
    defs = run_notebook(name, [], monkeypatch)
    check_contract(defs)


def test_marimo_check_clean():
    proc = subprocess.run([sys.executable, "-m", "marimo", "check", *[str(NB / n) for n in MARIMO_NOTEBOOKS]],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_training_notebook_reads_args_and_a_file_being_written(tmp_path, monkeypatch):
    run = tmp_path / "run7"
    run.mkdir()
    lines = [json.dumps({"step": s, "reward_mean": s / 10, "entropy": 1.0 - s / 20,
                         "reward_pass_rate": s / 10, "monitor_pass_rate": 0.1, "hack_rate": 0.0 if s < 4 else 0.2,
                         **({"heldout_greedy_pass_at_1": 0.5 + s / 100} if s % 2 == 0 else {})})
             for s in range(1, 7)]
    (run / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 7, "rew')  # writer mid-record
    defs = run_notebook("04_training.py", ["--run", str(run)], monkeypatch)
    check_contract(defs)
    assert defs["key_numbers"]["run7.steps"] == 6
    assert defs["key_numbers"]["run7.last_reward_mean"] == 0.6
    assert defs["rises"]["step"].to_list() == [4]          # the hacking monitor marks where hack_rate rose
    assert set(defs["monitor"]["metric"].unique()) == {"reward_pass_rate", "monitor_pass_rate", "hack_rate"}
    assert len(defs["problems"]) == 1 and defs["problems"][0].line == 7
    assert defs["inputs_read"][0] == str((run / "metrics.jsonl").resolve())
    # the rest are the study verdicts shown side by side (runs found under data/runs, or the bundled ones)
    # then how the settings were chosen (a selection.json)
    assert all(p.endswith(("verdict.json", "study_verdicts.jsonl")) for p in defs["inputs_read"][1:-1])
    assert defs["inputs_read"][-1].endswith("selection.json")
    assert "selection.chosen" in defs["key_numbers"]
    assert defs["study_table"].height >= 1


def _weak_tests_verdict(seed: int) -> dict:
    """A verdict.json as ``run_study`` writes it for ``--arm weak-tests`` (the fields the notebook reads)."""
    four = lambda a, b: {"baseline_greedy": a, "trained_greedy": b, "baseline_sampled": a, "trained_sampled": b}  # noqa: E731
    return {"seed": seed, "arm": "weak-tests", "holdout": "test", "n_tasks": 155, "baseline_pass_at_1": 0.4,
            "trained_pass_at_1": 0.45, "mcnemar_p": 0.2, "sampled_diff": 0.02, "sampled_diff_ci": [-0.01, 0.05],
            "alpha": 0.01, "significant": False, "reward_tests": "public", "monitor_tests": "hidden",
            "reward_pass_rate": four(0.7, 0.9), "monitor_pass_rate": four(0.4, 0.45),
            "heldout_hack_rate": four(0.3, 0.45), "monitor_mcnemar_p": 0.2,
            "hack_rate_steps": {"first5_mean": 0.3, "last5_mean": 0.4, "max": 0.5}}


def test_training_notebook_shows_a_weak_tests_study(tmp_path, monkeypatch):
    weak, old = tmp_path / "study-seed1-weak-tests", tmp_path / "study-seed1"
    for d, v in ((weak, _weak_tests_verdict(1)),
                 (old, {**{k: _weak_tests_verdict(1)[k] for k in ("seed", "n_tasks", "baseline_pass_at_1",
                                                                   "trained_pass_at_1", "mcnemar_p", "sampled_diff",
                                                                   "sampled_diff_ci")}, "arm": "default"})):
        d.mkdir()
        (d / "verdict.json").write_text(json.dumps(v))
    defs = run_notebook("04_training.py", ["--study", str(weak), "--study", str(old)], monkeypatch)
    check_contract(defs)
    t = defs["study_table"]
    assert t["arm"].to_list() == ["default", "weak-tests"]
    row = t.filter(t["arm"] == "weak-tests").row(0, named=True)
    assert (row["reward_tests"], row["reward_greedy_after"], row["monitor_greedy_after"], row["hack_greedy_after"],
            row["train_hack_rate_last5"]) == ("public", 0.9, 0.45, 0.45, 0.4)
    assert t.filter(t["arm"] == "default")["monitor_greedy_after"].to_list() == [None]  # an older verdict
    kn = defs["key_numbers"]
    assert kn["study.seed1.weak-tests.monitor_greedy_after"] == 0.45 and "study.seed1.default.monitor_greedy_after" not in kn
    assert any(line.startswith("Study seed 1 (weak-tests arm), monitor: reward tests (public) greedy 0.700 → 0.900")
               for line in defs["verdict_lines"])
    assert sorted(defs["inputs_read"][1:-1]) == sorted(str(d / "verdict.json") for d in (weak, old))


def test_compare_notebook_honours_baseline_and_candidate(tmp_path, monkeypatch):
    from codeself.rollouts import read_rollouts

    base = ROOT / "data" / "examples" / "rollouts.baseline.jsonl"
    if not base.exists():
        pytest.fail("data/examples/rollouts.baseline.jsonl is missing (the rollouts stage commits it)")
    # candidate = baseline: no discordant pair, p = 1, difference 0
    defs = run_notebook("05_compare.py", ["--baseline", str(base), "--candidate", str(base)], monkeypatch)
    kn = defs["key_numbers"]
    assert kn["b"] == kn["c"] == 0 and kn["mcnemar_p"] == 1.0 and kn["diff"] == 0.0
    assert kn["n_tasks"] == len({r["task_id"] for r in read_rollouts(base)})


def test_missing_explicit_input_is_an_error(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="--traces"):
        run_notebook("06_traces.py", ["--traces", str(tmp_path / "absent.jsonl")], monkeypatch)


def test_notebook_runs_as_a_script(tmp_path):
    m = tmp_path / "metrics.jsonl"
    m.write_text(json.dumps({"step": 1, "reward_mean": 0.5}) + "\n")
    proc = subprocess.run([sys.executable, str(NB / "04_training.py"), "--", "--metrics", str(m)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("name", IPYNBS)
def test_jupyter_notebook_executes(name):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NB / name, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb.cells if c.cell_type == "code"), "stored with outputs"
    env_cwd = str(NB)
    client = NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": env_cwd}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    widget_views = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                    if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widget_views, "no widget was displayed"
    # every code cell ran, once and in order (nothing skipped or stopped early)
    counts = [c.get("execution_count") for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), counts


def test_datasets_notebook_shows_audit_and_own_tasks(tmp_path, monkeypatch):
    audit = tmp_path / "audit.jsonl"
    rows = [{"task_id": "example/add", "status": "audited", "reason": None, "mutants_made": 5, "confirmed_wrong": 5,
             "accepted_by_public": 2, "accepted_by_all": 1, "weak": True, "public_weak": True, "example": None},
            {"task_id": "example/mean", "status": "audited", "reason": None, "mutants_made": 4, "confirmed_wrong": 4,
             "accepted_by_public": 1, "accepted_by_all": 0, "weak": False, "public_weak": True, "example": None}]
    audit.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tasks = ROOT / "data" / "tasks.example.jsonl"
    defs = run_notebook("01_datasets.py", ["--tasks", str(tasks), "--audit", str(audit)], monkeypatch)
    check_contract(defs)
    kn = defs["key_numbers"]
    assert kn["tasks"] == 6 and kn["sources"] == 1
    assert kn["weak_tasks"] == 1 and kn["public_weak_tasks"] == 2
    assert defs["inputs_read"] == [str(tasks.resolve()), str(audit.resolve())]


def test_rewards_explorer_shares_the_charts_filters_and_shows_the_file(monkeypatch):
    """Notebook 03: one filter state. With a non-trivial filter (given as the `filters` the controls
    produce), the rollout explorer lists exactly the rollouts the charts count, with their file."""
    monkeypatch.setattr(sys, "argv", [str(NB / "03_rewards.py")])
    spec = importlib.util.spec_from_file_location("nb_03_filters", NB / "03_rewards.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    filters = {"statuses": ["failed", "passed"], "task_query": "example/", "reward_min": 0.1, "reward_max": 1.0}
    _, defs = mod.app.run(defs={"filters": filters})
    shown, explorer, df = defs["shown"], defs["explorer"].widget, defs["df"]
    assert 0 < shown.height < df.height and set(shown["file"]) == {"baseline", "candidate"}
    assert shown["reward"].min() >= 0.1 and set(shown["status"]) <= {"failed", "passed"}
    assert explorer.filters_visible is False
    assert (explorer.status_filter, explorer.task_query, explorer.reward_min, explorer.reward_max) == (
        ["failed", "passed"], "example/", 0.1, 1.0)
    listed = explorer.filtered
    assert explorer.n_matching == listed.height == shown.height
    assert sorted(listed.select("file", "task_id", "sample_id").rows()) == sorted(
        shown.select("file", "task_id", shown["sample_id"].cast(str)).rows())
    assert {r["file"] for r in explorer.rows} == {"baseline", "candidate"}


@pytest.mark.slow
def test_datasets_notebook_default_is_the_dataset_the_cli_builds(tmp_path, monkeypatch):
    """Notebook 01's default HumanEval is what `codeself tasks prepare --format humaneval
    --assign-splits` writes (same conversion: verified docstring examples, derived hidden tests), so
    it reports no finding that `tasks validate` would not (HumanEval/34 has hidden tests)."""
    from codeself.tasks import load_tasks

    built = tmp_path / "humaneval.jsonl"
    code = subprocess.run([sys.executable, "-m", "codeself.cli", "tasks", "prepare", "--format", "humaneval",
                           "--assign-splits", "--output", str(built)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert code.returncode == 0, code.stderr[-2000:]
    cli_tasks = {t.task_id: t.to_dict() for t in load_tasks(built)}
    assert len(cli_tasks) == 164

    defs = run_notebook("01_datasets.py", [], monkeypatch)
    mine = {t.task_id: t.to_dict() for t in defs["tasks"] if t.source == "humaneval"}
    assert mine.keys() == cli_tasks.keys()
    differ = sorted(tid for tid in mine if mine[tid] != cli_tasks[tid])
    assert differ == [], differ[:10]
    assert mine["HumanEval/34"]["hidden_tests"]
    findings = defs["leaks"]
    assert not [r for r in findings.iter_rows(named=True) if r["task_id"].startswith("HumanEval/")
                and "no hidden test" in str(r)], findings
