"""`codeself report …`: export notebooks to static HTML + frozen manifests, verify, archive, kit, serve.

Notebook arguments go after ``--`` (``codeself report export notebooks/05_compare.py -- --baseline
A.jsonl --candidate B.jsonl``). Because the shell-level ``--`` is consumed by the parser, the
notebook list ends at the first token that starts with ``-``; everything from there on is passed
to the notebook(s).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from codeself.cli._common import (
    INPUT_DIR,
    INPUT_FILE,
    OUTPUT_DIR,
    OUTPUT_FILE,
    CommandError,
    console,
    out,
    positive,
)

app = typer.Typer(help="Export notebooks to offline HTML reports with frozen manifests; verify and archive them.",
                  no_args_is_help=True)


def _split(tokens: list[str]) -> tuple[list[str], list[str]]:
    for i, t in enumerate(tokens):
        if t.startswith("-"):
            return tokens[:i], tokens[i:]
    return tokens, []


def _check_notebook(nb: Path, *, jupyter: bool = True) -> None:
    """A notebook argument must be an existing marimo notebook (``.py`` defining ``marimo.App``) or,
    with ``jupyter``, a Jupyter notebook (``.ipynb`` that nbformat reads)."""
    if nb.is_dir():
        raise CommandError(f"{nb}: is a directory, not a notebook file")
    if not nb.is_file():
        raise CommandError(f"{nb}: notebook file does not exist")
    try:
        text = nb.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CommandError(f"{nb}: cannot be read as a notebook ({e})") from None
    if jupyter and nb.suffix == ".ipynb":
        import nbformat

        try:
            nbformat.reads(text, as_version=4)
        except Exception as e:  # noqa: BLE001 - nbformat raises several unrelated types for a bad file
            raise CommandError(f"{nb}: not a Jupyter notebook nbformat can read ({type(e).__name__})") from None
        return
    if nb.suffix != ".py" or "marimo.App(" not in text:
        kinds = "a .py file that defines marimo.App, like notebooks/NN_name.py" + (
            ", or a Jupyter .ipynb" if jupyter else "")
        raise CommandError(f"{nb}: not a marimo notebook (expected {kinds})")


@app.command()
def export(
    items: Annotated[list[str] | None, typer.Argument(
        help="Notebooks (default: every notebooks/NN_*.py and notebooks/*.ipynb), then `--` and the notebook arguments.",
        metavar="[NOTEBOOK]... [-- NOTEBOOK_ARGS]")] = None,
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="Where NAME.html, NAME.manifest.json and index.html go.",
                                             **OUTPUT_DIR)] = Path("reports"),
    jobs: Annotated[int, typer.Option(min=1, help="Notebooks exported in parallel (each in its own process).")] = 2,
    max_mb: Annotated[float, typer.Option(min=0.0, callback=positive,
                                          help="Fail a report larger than this many MB (1 MB = 2**20 bytes).")] = 2.0,
    timeout: Annotated[float, typer.Option(min=0.0, callback=positive, help="Seconds allowed per notebook.")] = 900.0,
) -> None:
    """Run notebooks and write self-contained offline HTML reports, frozen manifests and an index."""
    from codeself.reports import ReportError, discover_notebooks, export_notebooks

    names, nb_args = _split(list(items or []))
    notebooks = [Path(n) for n in names] or discover_notebooks()
    if not notebooks:
        raise CommandError("no notebooks given and none found as notebooks/NN_*.py or notebooks/*.ipynb")
    for nb in notebooks:
        _check_notebook(nb)
    try:
        results = export_notebooks(notebooks, output_dir, nb_args, command_line=["codeself", *sys.argv[1:]],
                                   max_bytes=int(max_mb * 2**20), jobs=jobs, timeout=timeout,
                                   progress=sys.stderr.isatty())  # a log gets the result lines only
    except ReportError as e:  # one line per failed notebook; the notebook's traceback stays out of it
        for line in str(e).splitlines():
            console.print(f"error: {line}", markup=False)
        raise SystemExit(1) from None
    for r in results:
        dirty = "  [dirty git tree]" if (r.manifest.get("git") or {}).get("dirty") else ""
        for note in r.manifest["outputs"]["notes"]:
            console.print(f"warning: {r.name}: {note}", markup=False)
        out.print(f"{os.path.relpath(r.html_path)}  {r.bytes / 1024:.0f} KB  {r.charts} charts  {r.tables} tables  "
                  f"{r.seconds:.1f} s{dirty}", markup=False)
    listed = len(list(output_dir.glob("*.manifest.json")))
    out.print(f"{output_dir / 'index.html'}  ({len(results)} exported now, {listed} listed)", markup=False)


@app.command()
def verify(
    manifest: Annotated[Path, typer.Argument(help="reports/NAME.manifest.json", **INPUT_FILE)],
    args: Annotated[list[str] | None, typer.Argument(help="With --rerun: notebook arguments to use instead of the recorded ones (after `--`).")] = None,
    rerun: Annotated[bool, typer.Option("--rerun", help="Re-execute the notebook with the recorded arguments and compare key numbers.")] = False,
    root: Annotated[Path | None, typer.Option(help="Directory the manifest's relative paths start from (default: the git root of the manifest, else cwd).",
                                              **INPUT_DIR)] = None,
    rtol: Annotated[float, typer.Option(min=0.0, help="Relative tolerance for float key numbers on --rerun.")] = 1e-9,
    atol: Annotated[float, typer.Option(min=0.0, help="Absolute tolerance for float key numbers on --rerun.")] = 0.0,
) -> None:
    """Re-hash the report and every input; exit 1 and list each difference if anything changed."""
    from codeself.reports import ReportError
    from codeself.reports.verify import verify_manifest

    try:
        v = verify_manifest(manifest, root=root, rerun=rerun, notebook_args=args or None, rtol=rtol, atol=atol)
    except ReportError as e:
        raise CommandError(str(e)) from None
    for n in v.notes:
        console.print(f"note: {n}", markup=False)
    if v.ok:
        out.print(f"OK {manifest}: report, notebook and {v.checked - 2 - int(rerun)} inputs match"
                  + ("; re-run key numbers match" if rerun else ""), markup=False)
        return
    for d in v.differences:
        console.print(f"DIFFERS {d}", markup=False)
    console.print(f"{len(v.differences)} difference(s) against {manifest}", markup=False)
    raise SystemExit(1)


@app.command()
def archive(
    output: Annotated[Path, typer.Option("--output", "-o", help="The tar.gz to write.", **OUTPUT_FILE)] = Path("codeself-repro.tar.gz"),
    reports_dir: Annotated[Path, typer.Option(help="Directory with the exported reports and manifests.",
                                              **INPUT_DIR)] = Path("reports"),
    with_models: Annotated[bool, typer.Option("--with-models", help="Also include model weights named by the runs.")] = False,
    root: Annotated[Path | None, typer.Option(help="Project root the manifests' paths are relative to.", **INPUT_DIR)] = None,
) -> None:
    """Bundle reports, manifests, notebooks, the task files and run metrics they name (with its own manifest)."""
    from codeself.reports.archive import build_archive

    a = build_archive(output, reports_dir, root=root, with_models=with_models, command_line=["codeself", *sys.argv[1:]])
    roles: dict[str, int] = {}
    for f in a["files"]:
        roles[f["role"]] = roles.get(f["role"], 0) + 1
    out.print(f"{output}: {a['bytes'] / 1024:.0f} KB, {len(a['files'])} files "
              f"({', '.join(f'{v} {k}' for k, v in sorted(roles.items()))}), sha256 {a['sha256']}", markup=False)
    for e in a["excluded"]:
        console.print(f"excluded {e['path']}: {e['reason']}", markup=False)


@app.command()
def index(
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="Reports directory.", **OUTPUT_DIR)] = Path("reports"),
) -> None:
    """Rewrite reports/index.html from the manifests present (manifests are never modified)."""
    from codeself.reports import write_index_page

    out.print(str(write_index_page(output_dir)), markup=False)


@app.command()
def kit(
    reports_dir: Annotated[Path, typer.Option(help="Exported reports whose manifests fill the checklist.",
                                              **OUTPUT_DIR)] = Path("reports"),
    run: Annotated[Path | None, typer.Option(help="A study/training run directory (verdict.json, metrics.jsonl, config).",
                                             **INPUT_DIR)] = None,
    tasks: Annotated[list[Path] | None, typer.Option("--tasks", help="Task file(s) for the dataset card (repeatable).",
                                                     **INPUT_FILE)] = None,
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="Where the filled documents go.",
                                             **OUTPUT_DIR)] = Path("reports/kit-filled"),
) -> None:
    """Fill the reproducibility kit (checklist, model card, dataset card, methodology numbers) from a run."""
    from codeself.reports.kit import fill_kit

    written = fill_kit(reports_dir=reports_dir, run_dir=run, task_files=list(tasks or []), output_dir=output_dir)
    for p in written:
        out.print(str(p), markup=False)


@app.command()
def serve(
    notebook: Annotated[Path, typer.Argument(help="A marimo notebook to serve interactively.", **INPUT_FILE)],
    args: Annotated[list[str] | None, typer.Argument(help="Notebook arguments (after `--`).")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind (keep 127.0.0.1 unless you mean to share it).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 2718,
) -> None:
    """Serve the interactive notebook locally (`marimo run`; its JS/CSS come from the installed marimo package).

    Needs a running local server — unlike the static reports, which open from disk.
    """
    import subprocess

    _check_notebook(notebook, jupyter=False)
    cmd = [sys.executable, "-m", "marimo", "run", str(notebook), "--headless", "--host", host, "--port", str(port),
           "--no-token"]
    if args:
        cmd += ["--", *args]
    console.print(f"serving {notebook} at http://{host}:{port}/ (Ctrl-C stops)", markup=False)
    raise SystemExit(subprocess.call(cmd))
