"""Bad input never shows a traceback: a sweep over every command of the CLI.

The command tree is read from the typer app itself, so a new command or option is swept without
editing this file. For every numeric, path and choice parameter the sweep feeds invalid values —
negative, zero where zero means nothing, a directory for a file (and a file for a directory), a
file in a missing directory for an input, an unknown choice — with valid values for every other
required parameter, and asserts: exit status 1 or 2, one ``error: …`` line naming the parameter, no
"Traceback", no file written. Every command body is replaced by a sentinel first: validation must
happen while the command line is parsed, before any model, sandbox or progress bar starts, so the
sweep is fast and a value that slips through is reported as "reached the command body".

The second half runs a few real commands end to end (nothing patched) on the bad inputs of issue 15.
"""

from __future__ import annotations

import enum
import os
import time
import types
import typing
from pathlib import Path

import pytest
import typer
from helpers import EX_BASE, EX_CAND, EXAMPLES, ROOT, run_cli

from codeself.cli import app

# numeric parameters for which 0 is a meaningful value (a seed, "0: at the end only", greedy, a share…)
ZERO_OK = {"seed", "eval_every", "eval_tasks", "max_revisions", "beta", "temperature", "atol", "rtol", "corrupt",
           "mock_correctness", "flaw_share", "baseline_rate", "discordant", "min_pass", "max_pass"}
# numbers whose documented sentinel lies below 0 (the value means "all"): the sweep checks the bound
# below it instead (`train feedback --trace-episodes -1` writes every episode, 0 none)
SENTINEL_MIN = {("feedback", "trace_episodes"): -1}
ZERO_OK |= {"trace_episodes"}
# path parameters that name something the command writes (everything else must exist beforehand)
OUTPUT_NAMES = {"output", "output_dir", "json_out", "power_output", "task_table", "trace_output", "report_output",
                "manifest", "report", "reports_dir"}
# path parameters that may be a file or a directory (both must exist)
EITHER = {("study", "config")}


class Reached(Exception):
    """A command body ran although an argument was invalid."""


def _leaf_commands():
    import typer._click as click

    root = typer.main.get_command(app)
    ctx = click.Context(root)
    out = []

    def walk(cmd, path):
        if hasattr(cmd, "list_commands"):
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), [*path, name])
        else:
            out.append((tuple(path), cmd))

    walk(root, [])
    return root, out


ROOT_CMD, LEAVES = _leaf_commands()


def _base_type(annotation):
    """(type, is_list) with Optional[...] / X | None / list[...] unwrapped."""
    is_list = False
    while True:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        elif origin is list:
            is_list, annotation = True, typing.get_args(annotation)[0]
        else:
            return annotation, is_list


def _kind(param) -> str | None:
    t, _ = _base_type(param.type_descriptor.annotation)
    if t is bool:
        return None
    if t in (int, float):
        return "number"
    if isinstance(t, type) and issubclass(t, enum.Enum):
        return "choice"
    if t is Path:
        return "path"
    return None


def _info(param):
    return param.type_descriptor.parameter_info


def _is_option(param) -> bool:
    return type(param).__name__ == "TyperOption"


def _label(param) -> str:
    return param.opts[0] if _is_option(param) else param.name


def _valid_value(param, tmp: Path) -> str:
    kind = _kind(param)
    info = _info(param)
    if kind == "number":
        lo, hi = info.min, info.max
        v = 1 if lo is None or lo <= 1 else lo
        return str(hi if hi is not None and v > hi else v)
    if kind == "choice":
        return next(iter(_base_type(param.type_descriptor.annotation)[0])).value
    if kind == "path":
        if info.exists:
            return str(tmp / ("indir" if not info.file_okay else "in.jsonl"))
        return str(tmp / "new" / ("outdir" if not info.file_okay else "out.file"))
    if param.name == "items":  # `report export` notebooks: the body checks them
        return str(tmp / "in.jsonl")
    return "x"


def _invalid_values(path: tuple[str, ...], param, tmp: Path) -> list[tuple[str, str]]:
    """(what, value) pairs that must be refused."""
    kind = _kind(param)
    info = _info(param)
    bad: list[tuple[str, str]] = []
    if kind == "number":
        sentinel = SENTINEL_MIN.get((path[-1], param.name))
        bad.append(("negative", "-1" if sentinel is None else str(sentinel - 1)))
        if param.name not in ZERO_OK:
            bad.append(("zero", "0"))
    elif kind == "choice":
        bad.append(("unknown choice", "bogus-choice"))
    elif kind == "path":
        if info.exists:
            bad.append(("an input in a missing directory", str(tmp / "no-such-dir" / "in.jsonl")))
        if not info.dir_okay:
            bad.append(("a directory for a file", str(tmp / "indir")))
        if not info.file_okay:
            bad.append(("a file for a directory", str(tmp / "in.jsonl")))
    return bad


def _cases():
    for path, cmd in LEAVES:
        for param in cmd.params:
            if _kind(param) is None:
                continue
            for what, value in _invalid_values(path, param, Path("{tmp}")):
                yield pytest.param(path, param.name, what, value, id=f"{' '.join(path)} {_label(param)} {what}")


def _argv(path, cmd, target, bad_value: str, tmp: Path) -> list[str]:
    args: list[str] = [*path]
    opts: list[str] = []
    for p in cmd.params:
        if p.name == target.name:
            continue
        if p.required:
            v = _valid_value(p, tmp)
            if _is_option(p):
                opts += [p.opts[0], v]
            else:
                args.append(v)
    if _is_option(target):
        # positional arguments first, then the valid options, the bad one last (parsed after the others)
        return [*args, *opts, target.opts[0], bad_value]
    return [*args, bad_value, *opts]


def _files(tmp: Path) -> set[str]:
    return {str(p.relative_to(tmp)) for p in tmp.rglob("*")}


@pytest.fixture
def sandboxed(tmp_path, monkeypatch):
    """A scratch working directory with an input file and an input directory; every command body
    replaced by a sentinel that raises ``Reached``."""
    (tmp_path / "in.jsonl").write_text(EXAMPLES.read_text())
    (tmp_path / "indir").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CODESELF_DATA_DIR", str(tmp_path / "data"))

    def sentinel(*a, **k):
        raise Reached()

    for _, cmd in LEAVES:
        monkeypatch.setattr(cmd, "callback", sentinel)
    return tmp_path


def _invoke(argv: list[str], capsys) -> tuple[int | None, str]:
    try:
        ROOT_CMD.main(args=argv, prog_name="codeself")
        code: int | None = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Reached:
        code = None
    cap = capsys.readouterr()
    return code, cap.out + cap.err


def test_the_sweep_covers_the_whole_cli():
    names = {" ".join(p) for p, _ in LEAVES}
    assert {"tasks prepare", "rollouts generate", "compare", "agent run", "report export", "study",
            "train grpo", "sandbox run", "bench sandbox"} <= names
    cases = list(_cases())
    assert len(cases) > 150
    for opt in ("--workers", "--timeout", "--template", "--batch-size", "--n-resamples", "--output"):
        assert any(opt in c.id for c in cases), opt


@pytest.mark.parametrize("path, name, what, value", list(_cases()))
def test_invalid_value_is_refused_before_the_command_runs(sandboxed, capsys, path, name, what, value):
    cmd = dict(LEAVES)[path]
    param = next(p for p in cmd.params if p.name == name)
    value = value.replace("{tmp}", str(sandboxed))
    argv = _argv(path, cmd, param, value, sandboxed)
    before = _files(sandboxed)
    code, text = _invoke(argv, capsys)
    assert code is not None, f"`codeself {' '.join(argv)}` reached the command body: {what} accepted"
    assert code in (1, 2), (code, text)
    assert "Traceback" not in text, text
    lines = [x for x in text.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    label = _label(param)
    assert label.lower() in text.lower(), f"the message does not name {label}: {text}"
    assert _files(sandboxed) == before, f"files written: {_files(sandboxed) - before}"


@pytest.mark.parametrize("path, cmd", LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_parameter_declares_what_it_accepts(path, cmd):
    """Numbers have a lower bound (0 only where it means something); paths say input or output."""
    for p in cmd.params:
        kind, info = _kind(p), _info(p)
        label = f"codeself {' '.join(path)} {_label(p)}"
        if kind == "number":
            floor = SENTINEL_MIN.get((path[-1], p.name), 0)
            assert info.min is not None and info.min >= floor, f"{label}: no lower bound"
            assert floor == 0 or f"{floor}: all" in (info.help or ""), f"{label}: sentinel {floor} not documented"
            if info.min == 0 and p.name not in ZERO_OK:
                assert info.callback is not None, f"{label}: accepts 0"
        if kind == "path":
            if (path[-1], p.name) in EITHER:
                assert info.exists, label
            elif info.exists:
                assert not (info.file_okay and info.dir_okay), f"{label}: file or directory?"
            else:
                assert p.name in OUTPUT_NAMES, f"{label}: an input path that need not exist"
                assert not (info.file_okay and info.dir_okay), f"{label}: file or directory?"
        if p.name == "workers":
            assert info.min == 1 and "at least 1" in (info.help or ""), label


# ----------------------------------------------------------------------------------------------
# end to end, nothing patched: the bad inputs named in issue 15
# ----------------------------------------------------------------------------------------------


def _run(argv, capsys, cwd: Path):
    before = _files(cwd)
    code, out, err = run_cli(argv, capsys)
    text = out + err
    assert "Traceback" not in text, text
    return code, text, _files(cwd) - before


@pytest.mark.parametrize("extra, flag", [
    (["--workers", "-1"], "--workers"),
    (["--workers", "0"], "--workers"),
    (["--timeout", "-1"], "--timeout"),
    (["--template", "bogus"], "--template"),
    (["--batch-size", "0"], "--batch-size"),
])
def test_rollouts_generate_refuses_before_writing(tmp_path, capsys, monkeypatch, extra, flag):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs" / "r.jsonl"
    code, text, new = _run(["rollouts", "generate", "--tasks", str(EXAMPLES), "--backend", "mock", "--final",
                            "--output", str(out), "--no-progress", *extra], capsys, tmp_path)
    assert code == 2 and flag in text and text.startswith("error: ")
    assert not new and not out.exists()


@pytest.mark.parametrize("n", ["0", "-5"])
def test_compare_n_resamples(tmp_path, capsys, monkeypatch, n):
    monkeypatch.chdir(tmp_path)
    code, text, new = _run(["compare", "--baseline", str(EX_BASE), "--candidate", str(EX_CAND), "--final",
                            "--output", "c.md", "--n-resamples", n], capsys, tmp_path)
    assert code == 2 and "--n-resamples" in text and "negative dimensions" not in text and not new


def test_tasks_prepare_output_directory_and_workers(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    code, text, new = _run(["tasks", "prepare", "--format", "canonical", "--input", str(EXAMPLES), "--output", "d"],
                           capsys, tmp_path)
    assert code == 2 and "--output" in text and "is a directory" in text and not new
    code, text, new = _run(["tasks", "prepare", "--format", "humaneval", "--output", "he.jsonl", "--workers", "-1"],
                           capsys, tmp_path)
    assert code == 2 and "--workers" in text and not new


def test_evaluate_given_a_task_file_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, text, new = _run(["rollouts", "evaluate", "--rollouts", str(EXAMPLES), "--output", "e.md"], capsys,
                           tmp_path)
    assert code == 1 and "this is a task file, not rollouts" in text
    assert len(text.strip().splitlines()) == 1 and not new


def test_hf_backend_with_a_non_model_directory_fails_fast(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notamodel").mkdir()
    t0 = time.perf_counter()
    for argv in (["rollouts", "generate", "--tasks", str(EXAMPLES), "--final", "--output", "r.jsonl"],
                 ["agent", "run", "--tasks", str(EXAMPLES), "--trace-output", "t.jsonl",
                  "--report-output", "r.md"]):
        code, text, new = _run([*argv, "--backend", "hf", "--model", "notamodel"], capsys, tmp_path)
        assert code == 1 and "--model notamodel" in text and "config.json" in text and not new
    assert time.perf_counter() - t0 < 5


def test_report_export_failures_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "reports"
    code, text, _ = _run(["report", "export", "notebooks/05_compare.py", "--output-dir", str(out), "--",
                          "--baseline", str(tmp_path / "missing.jsonl"), "--candidate", str(EX_CAND)], capsys, tmp_path)
    assert code == 1 and "--baseline" in text and "missing.jsonl" in text
    assert [x for x in text.splitlines() if x.strip()] == [text.strip()] and not out.exists()
    code, text, _ = _run(["report", "export", "README.md", "--output-dir", str(out)], capsys, tmp_path)
    assert code == 1 and "not a marimo notebook" in text and not out.exists()


def test_workers_zero_means_the_same_everywhere():
    """--workers 0 is an error in every command (default: leave it out = the CPU count)."""
    seen = 0
    for path, cmd in LEAVES:
        for p in cmd.params:
            if p.name == "workers":
                seen += 1
                assert _info(p).min == 1 and "default: the CPU count" in _info(p).help, " ".join(path)
    assert seen >= 8


def test_no_file_is_left_by_a_refused_generate_in_the_repository(capsys):
    """The same check against the real tree: nothing under data/ appears."""
    before = {str(p) for p in (ROOT / "data").rglob("*")}
    code, _, _ = run_cli(["rollouts", "generate", "--tasks", str(EXAMPLES), "--backend", "mock", "--output",
                          str(ROOT / "data" / "runs" / "sweep-never.jsonl"), "--workers", "-1"], capsys)
    assert code == 2 and {str(p) for p in (ROOT / "data").rglob("*")} == before
    assert not os.path.exists(ROOT / "data" / "runs" / "sweep-never.jsonl")
