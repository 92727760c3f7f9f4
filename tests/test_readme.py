"""The README as a tested contract: every shell command it shows runs, as written, on a fresh copy.

Every fenced ```` ```bash ```` block of ``README.md`` and of the ``docs/*.md`` pages it links is
extracted in order (README first, then docs in name order) and run with ``bash -e -o pipefail`` in a
fresh copy of the repository (the files git tracks plus new unignored ones, committed into a new git
repository), with this interpreter's environment first on ``PATH`` — the venv the README's setup
made. A block fails the test on a non-zero exit, on a Python traceback in its output, or when it
leaves ``git status --porcelain`` unclean (a file written or changed in the tracked tree; ignored
files such as ``data/runs/`` are allowed). Reference synopses with placeholders are not shell blocks
(they are fenced as ``text``), so a reader can paste every ``bash`` block as it stands.

A block may carry one marker, an HTML comment on the line just before its fence:

- ``<!-- readme-test: ci -->`` — the setup and the test command: CI runs them (``.ci/run``), so
  here the block must appear verbatim in ``.ci/run`` and is not run again (running ``pytest``
  from inside pytest would recurse; the setup is what made this venv);
- ``<!-- readme-test: skip gpu -->`` — needs a GPU (vLLM, CUDA): never run here; the block must say
  ``vllm`` or ``cuda`` so the marker cannot hide anything else;
- ``<!-- readme-test: slow N -->`` — takes about N minutes on the 2-core CI box (the default
  study, the codeself-nano build, the HumanEval audit, exporting every notebook). **The rule:** slow
  blocks run in CI (``CI=true``) and whenever ``CODESELF_README_SLOW=1``; elsewhere they are skipped
  with the list of what was skipped, as is every later block that needs their files (those carry
  ``slow 0``). They run in CI as long as the whole suite stays within ``CI_BUDGET_MIN`` minutes on 2
  cores: ``test_slow_blocks_fit_the_ci_budget`` adds the declared minutes to the rest of the suite
  (``SUITE_MIN``) and fails when a new slow block would break the budget — then the block must get
  faster, or move out of the README's runnable blocks;
- ``<!-- readme-test: server -->`` — each line starts a server (``marimo run``/``edit``,
  ``jupyter lab``): it is started, must answer HTTP on the URL it prints within ``SERVER_WAIT_S``,
  and is then stopped (its whole process group). No browser is opened (``BROWSER=true``), and as root
  JupyterLab gets ``allow_root`` from a throw-away config directory — the README says to add
  ``--allow-root`` as root.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CI_BUDGET_MIN = 25.0  # the whole suite on the 2-core CI box
SUITE_MIN = 4.0  # everything but the README's slow blocks (measured: ~4 min)
FAST_BLOCKS_MIN = 2.0  # the README's other blocks together (measured: ~1.5 min under load)
SERVER_WAIT_S = 180.0
BLOCK_TIMEOUT_S = 1800.0
SHELL_LANGS = {"bash", "sh", "shell", "console", "zsh", "shell-session"}
KINDS = {"ci", "skip", "slow", "server"}
FENCE = re.compile(r"^(`{3,})\s*([\w-]*)\s*$")
MARK = re.compile(r"^<!--\s*readme-test:\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    file: str
    line: int
    lang: str
    text: str
    kind: str | None = None
    arg: str = ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def minutes(self) -> float:
        return float(self.arg or 0) if self.kind == "slow" else 0.0


def doc_files(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def blocks(root: Path = ROOT) -> list[Block]:
    """Every fenced block of the README and docs/*.md (any language), in run order."""
    out: list[Block] = []
    for path in doc_files(root):
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            m = FENCE.match(lines[i])
            if not m:
                i += 1
                continue
            j = i + 1
            while j < len(lines) and not lines[j].startswith(m.group(1)):
                j += 1
            b = Block(str(path.relative_to(root)), i + 1, m.group(2).lower(), "\n".join(lines[i + 1:j]))
            mark = MARK.match(lines[i - 1]) if i > 0 else None
            if mark:
                kind, _, arg = mark.group(1).partition(" ")
                b.kind, b.arg = kind, arg.strip()
            out.append(b)
            i = j + 1
    return out


def shell_blocks(root: Path = ROOT) -> list[Block]:
    return [b for b in blocks(root) if b.lang in SHELL_LANGS]


def run_slow() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("CODESELF_README_SLOW") == "1"


# ------------------------------------------------------------------------------------- fast checks
def test_readme_blocks_are_runnable_as_written():
    """Shell blocks are ``bash``, carry known markers, and hold no placeholder a reader must fill in."""
    found = shell_blocks()
    assert len(found) >= 8, "the README shows almost no commands?"
    placeholder = re.compile(r"\s\[--|\.\.\.|<[A-Z_]+>|\b(?:FILE|DIR|ID|T\.jsonl|A\.jsonl|B\.jsonl|R\.jsonl|S\.jsonl|D)\b")
    for b in found:
        assert b.lang == "bash", f"{b.where}: fence shell blocks as bash (this test runs them)"
        assert b.kind in KINDS | {None}, f"{b.where}: unknown readme-test marker {b.kind!r}"
        if b.kind == "ci":
            ci = (ROOT / ".ci" / "run").read_text()
            for line in b.text.splitlines():
                cmd = line.split("#")[0].strip()
                assert cmd in ci, f"{b.where}: {cmd!r} is not what .ci/run runs"
            continue
        if b.kind == "skip":
            assert b.arg == "gpu" and re.search(r"vllm|cuda", b.text, re.I), f"{b.where}: only GPU blocks are skipped"
            continue
        for n, line in enumerate(b.text.splitlines()):
            code = line.split(" #")[0]
            assert not placeholder.search(code), f"{b.where}+{n + 1}: placeholder in a runnable block: {line!r}"


def test_slow_blocks_fit_the_ci_budget():
    slow = [b for b in shell_blocks() if b.kind == "slow"]
    assert all(re.fullmatch(r"\d+(\.\d+)?", b.arg) for b in slow), [b.where for b in slow if not b.arg]
    total = SUITE_MIN + FAST_BLOCKS_MIN + sum(b.minutes for b in slow)
    assert total <= CI_BUDGET_MIN, (f"README slow blocks ({', '.join(f'{b.where}: {b.arg} min' for b in slow)}) "
                                    f"bring CI to ~{total:.0f} min, over {CI_BUDGET_MIN:.0f}")


def test_readme_says_what_a_newcomer_needs():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "The two commands" not in text
    assert re.search(r"about 6 minutes|~6 min", text) and "verdict.md" in text
    assert re.search(r"one minute|1-minute|a minute", text, re.I)
    assert re.search(r"codeself-nano[^.]*only[^.]*`arith`", text, re.S)
    assert "--allow-root" in text
    assert "[--final]" not in text


# -------------------------------------------------------------------------------------- the run
def fresh_copy(dest: Path) -> Path:
    """The repository's tracked (and new, unignored) files, committed into a new git repository."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    env = {**os.environ, "GIT_AUTHOR_NAME": "readme", "GIT_AUTHOR_EMAIL": "readme@example.invalid",
           "GIT_COMMITTER_NAME": "readme", "GIT_COMMITTER_EMAIL": "readme@example.invalid"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "fresh copy"]):
        subprocess.run(["git", *args], cwd=dest, check=True, capture_output=True, env=env)
    return dest


def block_env(copy: Path, scratch: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODESELF_", "PYTEST_", "JUPYTER_"))}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(copy)  # the copy's codeself, even where the venv holds an editable install of another
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["BROWSER"] = "true"
    if os.geteuid() == 0:  # the README tells root to add --allow-root; the test supplies it by config
        cfg = scratch / "jupyter-config"
        cfg.mkdir(exist_ok=True)
        (cfg / "jupyter_server_config.json").write_text('{"ServerApp": {"allow_root": true}}')
        env["JUPYTER_CONFIG_DIR"] = str(cfg)
    return env


def git_dirty(copy: Path) -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=copy, check=True, capture_output=True,
                          text=True).stdout.strip()


def serve(cmd: str, copy: Path, env: dict[str, str], log: Path) -> str:
    """Start ``cmd``, wait until the URL it prints answers HTTP, stop it; returns the URL."""
    with open(log, "w") as out:
        proc = subprocess.Popen(["bash", "-c", f"exec {cmd}"], cwd=copy, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_WAIT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"{cmd!r} exited ({proc.returncode}) before serving:\n{log.read_text()[-3000:]}")
            m = re.search(r"https?://(?:localhost|127\.0\.0\.1|[\w.-]+):(\d+)[^\s]*", log.read_text())
            if m:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/", timeout=5)
                    return m.group(0)
                except urllib.error.HTTPError as e:  # an answer (e.g. 403 without the token) is serving
                    if e.code < 500:
                        return m.group(0)
                except OSError:
                    pass
            time.sleep(1)
        raise AssertionError(f"{cmd!r} did not serve within {SERVER_WAIT_S:.0f} s:\n{log.read_text()[-3000:]}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.slow
@pytest.mark.timeout(int(60 * CI_BUDGET_MIN))  # with the slow blocks (CI) ~17 min measured under load
def test_readme_commands_run_in_a_fresh_copy(tmp_path):
    copy = fresh_copy(tmp_path / "repo")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = block_env(copy, scratch)
    ran, skipped = [], []
    for i, b in enumerate(shell_blocks(copy)):
        if b.kind in ("ci", "skip") or (b.kind == "slow" and not run_slow()):
            skipped.append(f"{b.where} ({b.kind} {b.arg})".strip())
            continue
        if b.kind == "server":
            for line in b.text.splitlines():
                cmd = line.split(" #")[0].strip()
                if cmd and not cmd.startswith("#"):
                    serve(cmd, copy, env, scratch / f"server-{i}.log")
        else:
            t0 = time.monotonic()
            proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", b.text], cwd=copy, env=env,
                                  capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
            text = proc.stdout + proc.stderr
            assert proc.returncode == 0, f"{b.where}: exit {proc.returncode}\n{b.text}\n---\n{text[-4000:]}"
            assert "Traceback (most recent call last)" not in text, f"{b.where}: traceback\n{text[-4000:]}"
            took = time.monotonic() - t0
            print(f"{b.where}: {took:.0f} s" + (f" (declared {b.arg} min)" if b.kind == "slow" else ""))
        dirty = git_dirty(copy)
        assert not dirty, f"{b.where} wrote into the tracked tree:\n{dirty}"
        ran.append(b.where)
    print(f"ran {len(ran)} README blocks; skipped {len(skipped)}: {', '.join(skipped)}")
    assert ran, "no README block ran"
