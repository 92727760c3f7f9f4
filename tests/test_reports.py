"""Static HTML reports, frozen manifests, verify, archive (codeself.reports).

One export of the fixture notebook (tests/fixtures/report_notebook.py) in a small throw-away git
project is shared by the module; tests that change files work on their own copies or restore them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from codeself.io import sha256_file
from codeself.reports import ReportError, export_notebook, external_references
from codeself.reports import manifest as mf
from codeself.reports.archive import build_archive
from codeself.reports.verify import compare_numbers, embedded_manifest, verify_manifest

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "report_notebook.py"
SECRET_ARG = "sk-PLANTEDsecretToken1234567890"
SECRET_ENV = "PLANTED-env-secret-5b1e9d"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"})


def make_project(root: Path) -> Path:
    """A tiny git project: the fixture notebook, a tasks file and a run dir with metrics + weights."""
    (root / "notebooks").mkdir(parents=True)
    (root / "data" / "runs" / "r1").mkdir(parents=True)
    shutil.copy(FIXTURE, root / "notebooks" / "report_notebook.py")
    shutil.copy(REPO / "data" / "tasks.example.jsonl", root / "data" / "tasks.jsonl")
    (root / "data" / "runs" / "r1" / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": i, "reward_mean": i / 10}) + "\n" for i in range(3)))
    (root / "data" / "runs" / "r1" / "verdict.json").write_text(json.dumps({"n_tasks": 6, "model": "data/models/m1"}))
    (root / "data" / "models" / "m1").mkdir(parents=True)
    (root / "data" / "models" / "m1" / "config.json").write_text("{}")
    (root / "data" / "models" / "m1" / "model.safetensors").write_bytes(b"\1" * 32)
    (root / "data" / "runs" / "r1" / "model.safetensors").write_bytes(b"\0" * 64)
    (root / ".gitignore").write_text("reports/\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "fixture project")
    return root


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("proj"))
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.setenv("MY_SERVICE_API_KEY", SECRET_ENV)
    mp.setenv("OMP_NUM_THREADS", "1")
    (root / "scratch.txt").write_text("uncommitted\n")  # makes the tree dirty
    try:
        res = export_notebook(
            "notebooks/report_notebook.py", "reports",
            ["--tasks", "data/tasks.jsonl", "--metrics", "data/runs/r1/metrics.jsonl", "--api-token", SECRET_ARG,
             "--seed", "3"],
            command_line=["codeself", "report", "export", "notebooks/report_notebook.py", "--", "--api-token", SECRET_ARG],
        )
    finally:
        mp.undo()
    return root, res


def test_export_writes_one_self_contained_offline_file(exported):
    root, res = exported
    page = res.html_path.read_text(encoding="utf-8")
    assert res.bytes == len(page.encode()) <= 2 * 1024 * 1024
    assert external_references(page) == []
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert "<script" not in page.replace('<script type="application/json" id="codeself-manifest">', "")
    # the external markdown link survives as text, not as a reference
    assert "https://docs.marimo.io" in page and 'href="https://docs.marimo.io"' not in page
    assert page.count('class="codeself-chart"') == 2 == res.charts
    assert page.count("<svg") == 2
    assert res.tables >= 2 and page.count("<table") >= 3  # two outputs + the inputs panel
    for k in res.manifest["key_numbers"]:
        assert f'<div class="k">{k}</div>' in page
    assert res.manifest["key_numbers"] == {"n_tasks": 6, "public_tests": 6, "hidden_tests": 18, "hidden_share": 0.75}
    assert "Every one of the 6 tasks has at least one hidden test." in page
    assert "example/reverse_words" in page  # the polars table
    assert 'id="dirty-warning"' in page
    assert (root / "reports" / "index.html").is_file()


def test_manifest_fields_are_frozen_and_complete(exported):
    root, res = exported
    m = json.loads(res.manifest_path.read_text())
    assert m["schema_version"] == mf.SCHEMA_VERSION
    assert m["started_utc"].endswith("Z") and m["finished_utc"] >= m["started_utc"]
    assert m["command"]["argv"][:3] == ["codeself", "report", "export"]
    assert m["command"]["notebook_args"][:4] == ["--tasks", "data/tasks.jsonl", "--metrics", "data/runs/r1/metrics.jsonl"]
    assert m["notebook"] == {"path": "notebooks/report_notebook.py", "sha256": sha256_file(root / "notebooks/report_notebook.py"),
                             "size": (root / "notebooks/report_notebook.py").stat().st_size}
    git = m["git"]
    assert re.fullmatch(r"[0-9a-f]{40}", git["commit"]) and git["branch"] == "main"
    assert git["dirty"] is True and "scratch.txt" in git["untracked_files"]
    env = m["environment"]
    assert env["python"] and env["os"] and env["cpu_count"] >= 1 and "gpu" in env
    assert env["env"] == {"OMP_NUM_THREADS": "1", **{k: v for k, v in env["env"].items() if k != "OMP_NUM_THREADS"}}
    import marimo
    import polars

    assert m["packages"]["marimo"] == marimo.__version__ and m["packages"]["polars"] == polars.__version__
    assert len(m["packages"]) > 50
    assert m["seeds"] == {"shuffle": 3}
    tasks_entry, metrics_entry = m["inputs"]
    assert tasks_entry["path"] == "data/tasks.jsonl" and tasks_entry["sha256"] == sha256_file(root / "data/tasks.jsonl")
    assert tasks_entry["rows"] == 6 and tasks_entry["schema"]["task_id"] == "str"
    assert tasks_entry["size"] == (root / "data/tasks.jsonl").stat().st_size
    assert metrics_entry["rows"] == 3 and metrics_entry["schema"] == {"step": "int", "reward_mean": "float"}
    assert m["run_ids"] == ["r1"]
    assert m["report"]["sha256"] == sha256_file(res.html_path) and m["report"]["bytes"] == res.bytes
    assert res.manifest_path.stat().st_mode & 0o222 == 0  # frozen: read-only


def test_embedded_manifest_equals_the_json_file(exported):
    _, res = exported
    m = json.loads(res.manifest_path.read_text())
    emb = embedded_manifest(res.html_path.read_text())
    assert emb["report"]["sha256"] is None
    m["report"]["sha256"] = m["report"]["bytes"] = None
    assert emb == m


def test_no_secret_in_manifest_or_html(exported):
    root, res = exported
    for path in (res.manifest_path, res.html_path, root / "reports" / "index.html"):
        text = path.read_text()
        assert SECRET_ARG not in text and SECRET_ENV not in text, path
    m = json.loads(res.manifest_path.read_text())
    assert "--api-token" in m["command"]["notebook_args"]
    assert m["command"]["notebook_args"][m["command"]["notebook_args"].index("--api-token") + 1] == mf.MASK
    assert "MY_SERVICE_API_KEY" not in json.dumps(m["environment"])
    assert mf.MASK in res.html_path.read_text()  # the notebook printed its arguments: scrubbed


def test_mask_args_rules():
    masked, found = mf.mask_args(["--tasks", "t.jsonl", "--hf-token", "abc", "--password=pw1", "--x",
                                  "https://user:pw@host/x", "--note", "hf_abcdefghijkl"])
    assert masked == ["--tasks", "t.jsonl", "--hf-token", mf.MASK, f"--password={mf.MASK}", "--x",
                      f"https://{mf.MASK}@host/x", "--note", mf.MASK]
    assert {"abc", "pw1", "user:pw", "hf_abcdefghijkl"} <= found
    assert not mf.is_secret_name("PWD") and not mf.is_secret_name("--author") and mf.is_secret_name("GITHUB_TOKEN")
    # credentials are masked inside longer values; look-alikes inside ordinary words are not
    assert mf.scrub("Authorization: Bearer abcdefgh12345 for task-abcdefghijk", set()) == \
        f"Authorization: Bearer {mf.MASK} for task-abcdefghijk"


def test_verify_passes_fresh_and_names_each_one_byte_change(exported):
    root, res = exported
    v = verify_manifest(res.manifest_path)
    assert v.ok, v.differences
    assert v.checked == 4  # report, notebook, 2 inputs

    tasks = root / "data" / "tasks.jsonl"
    original = tasks.read_bytes()
    tasks.write_bytes(original[:100] + bytes([original[100] ^ 1]) + original[101:])
    try:
        v = verify_manifest(res.manifest_path)
        assert not v.ok and len(v.differences) == 1
        assert v.differences[0].startswith("input data/tasks.jsonl: content changed")
    finally:
        tasks.write_bytes(original)

    report = res.html_path.read_bytes()
    i = report.index(b"Key numbers")
    res.html_path.write_bytes(report[:i] + b"k" + report[i + 1:])
    try:
        v = verify_manifest(res.manifest_path)
        assert len(v.differences) == 1 and v.differences[0].startswith(f"report {res.html_path.name}: content changed")
    finally:
        res.html_path.write_bytes(report)
    assert verify_manifest(res.manifest_path).ok


def test_verify_cli_exit_codes(exported, capsys):
    from codeself.cli import main

    root, res = exported
    with pytest.raises(SystemExit) as e:
        main(["report", "verify", str(res.manifest_path)])
    assert e.value.code in (0, None)
    metrics = root / "data" / "runs" / "r1" / "metrics.jsonl"
    original = metrics.read_bytes()
    metrics.write_bytes(original + b'{"step": 3, "reward_mean": 0.3}\n')
    try:
        with pytest.raises(SystemExit) as e:
            main(["report", "verify", str(res.manifest_path)])
        assert e.value.code == 1
        err = capsys.readouterr().err
        assert "DIFFERS input data/runs/r1/metrics.jsonl: content changed" in err and "rows 3 → 4" in err
    finally:
        metrics.write_bytes(original)


@pytest.mark.slow
def test_verify_rerun_compares_key_numbers(exported):
    root, res = exported
    # masked arguments cannot be replayed from the manifest: verify says so
    with pytest.raises(Exception, match="masked at export"):
        verify_manifest(res.manifest_path, rerun=True)
    args = ["--tasks", "data/tasks.jsonl", "--metrics", "data/runs/r1/metrics.jsonl", "--api-token", SECRET_ARG,
            "--seed", "3"]
    tasks = root / "data" / "tasks.jsonl"
    original = tasks.read_bytes()
    tasks.write_bytes(original + original.splitlines(keepends=True)[0])  # one more task: 1 public, 3 hidden
    try:
        v = verify_manifest(res.manifest_path, rerun=True, notebook_args=args)
    finally:
        tasks.write_bytes(original)
    reruns = sorted(d for d in v.differences if d.startswith("re-run"))
    # hidden_share stays 0.75, so only the three counts differ
    assert reruns == ["re-run: key number hidden_tests: recorded 18, re-run gives 21",
                      "re-run: key number n_tasks: recorded 6, re-run gives 7",
                      "re-run: key number public_tests: recorded 6, re-run gives 7"]
    assert any(d.startswith("input data/tasks.jsonl") and "rows 6 → 7" in d for d in v.differences)


def test_compare_numbers_tolerance():
    assert compare_numbers({"a": 0.1 + 0.2, "n": 3}, {"a": 0.3, "n": 3}) == []
    assert compare_numbers({"a": 0.3}, {"a": 0.31}) == ["key number a: recorded 0.3, re-run gives 0.31"]
    assert compare_numbers({"n": 3, "s": "x"}, {"n": 3.0, "m": 1, "s": "y"}) == [
        "key number m: new on re-run (1)", "key number s: recorded 'x', re-run gives 'y'"]
    assert compare_numbers({"b": True}, {"b": 1}) == ["key number b: recorded True, re-run gives 1"]


def test_archive_bundles_reports_inputs_and_run_metrics_but_not_weights(exported, tmp_path):
    root, res = exported
    a = build_archive(tmp_path / "repro.tar.gz", root / "reports", root=root)
    with tarfile.open(tmp_path / "repro.tar.gz") as tar:
        names = set(tar.getnames())
        am = json.loads(tar.extractfile("ARCHIVE-MANIFEST.json").read())
    assert {"reports/report_notebook.html", "reports/report_notebook.manifest.json", "reports/index.html",
            "notebooks/report_notebook.py", "data/tasks.jsonl", "data/runs/r1/metrics.jsonl",
            "data/runs/r1/verdict.json"} <= names
    assert "data/runs/r1/model.safetensors" not in names and not any(n.startswith("data/models") for n in names)
    assert {"path": "data/runs/r1/model.safetensors", "reason": "model weights (use --with-models)"} in am["excluded"]
    assert {"path": "data/models/m1/model.safetensors", "reason": "model weights (use --with-models)"} in am["excluded"]
    assert am == {k: v for k, v in a.items() if k not in ("sha256", "bytes")}
    by_path = {f["path"]: f for f in am["files"]}
    assert by_path["data/tasks.jsonl"]["sha256"] == sha256_file(root / "data/tasks.jsonl")
    # deterministic, and --with-models adds the weights
    b = build_archive(tmp_path / "repro2.tar.gz", root / "reports", root=root, with_models=True)
    assert {"data/runs/r1/model.safetensors", "data/models/m1/model.safetensors", "data/models/m1/config.json"} <= {
        f["path"] for f in b["files"]}
    assert b["excluded"] == []
    # unpacked elsewhere, verify still passes from the archive alone
    with tarfile.open(tmp_path / "repro.tar.gz") as tar:
        tar.extractall(tmp_path / "x", filter="data")
    v = verify_manifest(tmp_path / "x" / "reports" / "report_notebook.manifest.json", root=tmp_path / "x")
    assert v.ok, v.differences


def test_index_lists_each_report_with_date_inputs_and_verdict(exported):
    root, res = exported
    index = (root / "reports" / "index.html").read_text()
    assert 'href="report_notebook.html"' in index and "data/tasks.jsonl" in index
    assert "Every one of the 6 tasks has at least one hidden test." in index
    assert res.manifest["started_utc"][:10] in index and external_references(index) == []


def test_failing_notebook_writes_nothing_and_names_the_cause(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(FIXTURE.read_text().replace('key_numbers = {', 'raise ValueError("boom in cell")\n    key_numbers = {'))
    out = tmp_path / "out"
    with pytest.raises(ReportError, match=r"bad\.py: notebook failed: .*boom in cell"):
        export_notebook(bad, out, ["--tasks", str(REPO / "data/tasks.example.jsonl")])
    assert not out.exists() or not any(out.iterdir())



def test_notebook_without_contract_globals_is_rejected(tmp_path, monkeypatch):
    from codeself.reports import runner

    nog = tmp_path / "noglobals.py"
    nog.write_text(FIXTURE.read_text().replace("verdict_lines = [", "_verdict = ["))
    monkeypatch.setattr("sys.argv", list(__import__("sys").argv))
    with pytest.raises(ValueError, match=r"noglobals\.py: global 'verdict_lines' is not defined"):
        runner.run(nog, ["--tasks", str(REPO / "data/tasks.example.jsonl")])


def test_render_rewrites_marimo_elements_and_neutralises_network_html():
    import altair as alt
    import marimo as mo
    import polars as pl

    from codeself.reports.export import _delink
    from codeself.reports.render import render_output

    df = pl.DataFrame({"k": ["a", "b"], "v": [1, 2]})
    chart = alt.Chart(df).mark_bar().encode(x="k", y="v")
    r = render_output(mo.vstack([mo.md("$x$ and a table"), mo.ui.table(df), chart, mo.ui.slider(1, 9, value=4, label="n"),
                                 mo.callout(mo.md("careful"), kind="warn")]))
    assert r.charts == 1 and r.tables == 1 and "marimo-" not in r.html
    assert '<code class="tex">x</code>' in r.html and "value at export: <code>4</code>" in r.html
    assert 'class="callout callout-warn"' in r.html and "careful" in r.html
    with alt.renderers.enable("html"):
        bundle = chart._repr_mimebundle_()
    html_out = bundle[0] if isinstance(bundle, tuple) else bundle
    r2 = render_output(mo.Html(html_out["text/html"]))
    assert r2.charts == 1 and "<script" not in r2.html
    cleaned = _delink('<img src="https://x.invalid/a.png"><script src="https://cdn.invalid/x.js"></script>'
                      '<a href="https://example.org/p">docs</a>')
    assert external_references(cleaned) == [] and "docs" in cleaned and "<script" not in cleaned


def test_kit_is_filled_from_a_run_and_the_manifests(exported, tmp_path):
    from codeself.reports.kit import MISSING, fill_kit

    root, _ = exported
    run = tmp_path / "run"
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    (model / "model.safetensors").write_bytes(b"w" * 10)
    run.mkdir()
    verdict = {"seed": 1, "arm": "default", "family": "arith", "n_tasks": 200, "baseline_pass_at_1": 0.63,
               "trained_pass_at_1": 0.805, "mcnemar_p": 6e-11, "sampled_diff": 0.13, "sampled_diff_ci": [0.09, 0.17],
               "significant": True, "infra_errors": 0, "model": str(model), "verdict": "improved"}
    (run / "verdict.json").write_text(json.dumps(verdict))
    (run / "study.json").write_text(json.dumps({"alpha": 0.01, "flaw_share": 0.6}))
    shutil.copy(root / "data" / "tasks.jsonl", run / "tasks.jsonl")
    written = fill_kit(root / "reports", run, output_dir=tmp_path / "kit")
    names = {p.name for p in written}
    assert names == {"methodology.md", "reproducibility-checklist.md", "model-card.md", "dataset-card.md",
                     "limitations-and-safety.md", "kit-values.json"}
    method = (tmp_path / "kit" / "methodology.md").read_text()
    assert "| greedy pass@1 before → after | 0.63 → 0.805 |" in method and "α = 0.01" in method
    card = (tmp_path / "kit" / "model-card.md").read_text()
    assert f"sha256 `{sha256_file(model / 'model.safetensors')}`" in card and "llama (LlamaForCausalLM)" in card
    data_card = (tmp_path / "kit" / "dataset-card.md").read_text()
    assert "- Tasks: 6; sources: example 6" in data_card
    checklist = (tmp_path / "kit" / "reproducibility-checklist.md").read_text()
    assert "[ ] dirty: report_notebook.manifest.json" in checklist  # the fixture tree was dirty
    assert "[x] verify passes for every report" in checklist and "[x] 0 infrastructure errors excluded" in checklist
    assert "{{" not in "".join(p.read_text() for p in written) and MISSING in card  # nothing invented


def test_cli_splits_notebooks_from_notebook_args_and_rejects_missing_files(capsys, tmp_path):
    from codeself.cli import main
    from codeself.cli.report import _split

    assert _split(["a.py", "b.py", "--tasks", "t.jsonl", "x"]) == (["a.py", "b.py"], ["--tasks", "t.jsonl", "x"])
    assert _split(["a.py"]) == (["a.py"], [])
    with pytest.raises(SystemExit) as e:
        main(["report", "export", str(tmp_path / "nope.py"), "-o", str(tmp_path / "r")])
    assert e.value.code == 1 and "nope.py: notebook file does not exist" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    with pytest.raises(SystemExit) as e:
        main(["report", "verify", str(tmp_path / "missing.manifest.json")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "missing.manifest.json" in err and "does not exist" in err  # refused while parsing


def test_an_unrenderable_output_becomes_a_visible_note(tmp_path, monkeypatch):
    from codeself.reports import runner

    nb = tmp_path / "odd.py"
    nb.write_text('''import marimo

app = marimo.App()


@app.cell
def _():
    class Odd:
        def _repr_html_(self):
            raise RuntimeError("no static form")

    key_numbers, verdict_lines, inputs_read, seeds = {"n": 1}, ["odd"], [], {}
    Odd()
    return inputs_read, key_numbers, seeds, verdict_lines


if __name__ == "__main__":
    app.run()
''')
    monkeypatch.setattr("sys.argv", list(__import__("sys").argv))
    result = runner.run(nb, [])
    (block,) = result["blocks"]
    assert "render-error" in block["html"] and "RuntimeError: no static form" in block["notes"][0]
    assert result["key_numbers"] == {"n": 1}


def test_dirty_warning_only_for_a_dirty_tree(exported):
    from codeself.reports.export import build_page

    _, res = exported
    m = json.loads(res.manifest_path.read_text())
    assert 'id="dirty-warning"' in build_page("t", [], m)
    m["git"] = {**m["git"], "dirty": False, "modified_files": [], "untracked_files": []}
    clean = build_page("t", [], m)
    assert 'id="dirty-warning"' not in clean and m["git"]["commit"][:12] in clean
    m["git"] = None
    assert "not made from a git checkout" in build_page("t", [], m)


def test_dirty_tree_without_a_diff_names_the_untracked_files(exported):
    """Only an untracked file made the fixture tree dirty, so there is no diff to hash: the page and
    `report verify` name the file instead of pointing at a null diff_sha256."""
    from codeself.reports.export import build_page

    _, res = exported
    m = json.loads(res.manifest_path.read_text())
    assert m["git"]["dirty"] and m["git"]["diff_sha256"] is None
    page = build_page("t", [], m)
    assert "diff sha256" not in page and "sha256 )" not in page
    assert "scratch.txt" in page.split('id="dirty-warning"')[1].split("</div>")[0]
    notes = " ".join(verify_manifest(res.manifest_path).notes)
    assert "dirty git tree" in notes and "scratch.txt" in notes and "diff_sha256" not in notes
    m["git"] = {**m["git"], "modified_files": ["a.py"], "diff_sha256": "ab" * 32}
    assert "git diff HEAD sha256 abababababab" in build_page("t", [], m)


# ------------------------------------------------------------------------------ Jupyter notebooks
IPYNB = {"rollout_explorer": ["--rollouts", str(REPO / "data/examples/rollouts.candidate.jsonl")],
         "trace_explorer": ["--traces", str(REPO / "data/examples/traces.jsonl")]}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(IPYNB))
def test_jupyter_notebook_exports_offline_with_its_manifest(name, tmp_path, monkeypatch):
    """`report export` runs an .ipynb headless with the marimo notebooks' flags and writes the same
    offline HTML + frozen manifest; the arguments reach the kernel (the candidate file's numbers)."""
    from codeself.reports import discover_notebooks

    assert REPO / "notebooks" / f"{name}.ipynb" in discover_notebooks(REPO / "notebooks")
    monkeypatch.chdir(REPO)
    res = export_notebook(f"notebooks/{name}.ipynb", tmp_path / "reports", IPYNB[name])
    page = res.html_path.read_text(encoding="utf-8")
    assert external_references(page) == [] and res.bytes <= 2 * 1024 * 1024
    assert re.findall(r"<script\b[^>]*>", page) == ['<script type="application/json" id="codeself-manifest">']
    on_disk = json.loads(res.manifest_path.read_text())
    assert (res.manifest_path.stat().st_mode & 0o222) == 0  # frozen
    embedded = embedded_manifest(page)
    assert embedded["report"]["sha256"] is None and on_disk["report"]["sha256"] == sha256_file(res.html_path)
    assert on_disk["notebook"]["path"] == f"notebooks/{name}.ipynb"
    assert on_disk["command"]["notebook_args"] == IPYNB[name]
    inputs = {e["path"] for e in on_disk["inputs"]}
    assert Path(IPYNB[name][1]).relative_to(REPO).as_posix() in inputs
    assert "interactive widget" in page and "object at 0x" not in page
    assert on_disk["outputs"]["tables"] >= 1 and on_disk["verdict_lines"]
    if name == "rollout_explorer":  # the candidate replays canonical solutions: every rollout passes
        assert on_disk["key_numbers"]["pass_rate"] == 1.0 and on_disk["key_numbers"]["rollouts"] == 24
    else:
        assert on_disk["key_numbers"]["traces"] == sum(1 for _ in open(IPYNB[name][1]))
    v = verify_manifest(res.manifest_path, root=REPO, rerun=name == "trace_explorer")  # --rerun runs the kernel again
    assert v.ok, v.differences


@pytest.mark.slow
def test_jupyter_export_of_a_missing_input_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    from helpers import run_cli

    monkeypatch.chdir(REPO)
    out = tmp_path / "reports"
    code, stdout, stderr = run_cli(["report", "export", "notebooks/rollout_explorer.ipynb", "--output-dir", str(out),
                                    "--", "--rollouts", str(tmp_path / "missing.jsonl")], capsys)
    text = (stdout + stderr).strip()
    assert code == 1 and "Traceback" not in text, text
    assert text.splitlines() == [text] and text.startswith("error: notebooks/rollout_explorer.ipynb: ")
    assert "--rollouts" in text and "missing.jsonl: no such file" in text
    assert not out.exists()
    code, _, stderr = run_cli(["report", "export", str(REPO / "README.md"), "--output-dir", str(out)], capsys)
    assert code == 1 and "not a marimo notebook" in stderr and not out.exists()
    bad = tmp_path / "broken.ipynb"
    bad.write_text("{not json")
    code, _, stderr = run_cli(["report", "export", str(bad), "--output-dir", str(out)], capsys)
    assert code == 1 and "not a Jupyter notebook" in stderr and len(stderr.strip().splitlines()) == 1
    assert not out.exists()
