"""Helpers shared by the CLI groups: one way to declare and check options, one way to report errors.

Exit codes: 0 success; 1 the data or the run is bad (messages name file, line and field);
2 usage error — a bad option value, reported before any work starts.

**Validation happens while the command line is parsed**, before a command body runs, so a bad value
never starts a model, a sandbox or a progress bar and never leaves an output file behind. Each
option declares what it accepts and the parser enforces it:

- numbers: a range (``min=``/``max=``); ``--workers`` is ``WORKERS`` everywhere (at least 1, default
  the CPU count; ``0`` is an error, never a silent "default");
- paths: ``**INPUT_FILE`` (must exist and be a file), ``**OUTPUT_FILE`` (must not be a directory; a
  missing parent directory is created when the file is written), ``**OUTPUT_DIR``, ``**INPUT_DIR``;
- choices: a ``StrEnum``.

Every error, from the parser or from a command body (``CommandError``, ``DataError``), is printed
as one ``error: …`` line naming the option or the file; never a traceback.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from rich.console import Console
from typer.core import TyperGroup

from codeself.io import DataError

console = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

#: ``typer.Option(..., **INPUT_FILE)``: the file must exist (its directory too) and be a file.
INPUT_FILE: dict[str, Any] = {"exists": True, "dir_okay": False, "file_okay": True}
#: an input directory that must exist.
INPUT_DIR: dict[str, Any] = {"exists": True, "dir_okay": True, "file_okay": False}
#: a file to write: not a directory (a missing parent directory is created on write).
OUTPUT_FILE: dict[str, Any] = {"dir_okay": False, "file_okay": True}
#: a directory to write into: not a file (created when missing).
OUTPUT_DIR: dict[str, Any] = {"dir_okay": True, "file_okay": False}
#: the help text of every ``--workers`` option (with ``min=1``).
WORKERS_HELP = "Sandbox worker processes, at least 1 (default: the CPU count)."


class CommandError(Exception):
    """A user-facing error: printed as ``error: …`` and exit code 1."""


def fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}", markup=True)
    raise SystemExit(code)


def error_line(message: str) -> None:
    """Print ``error: MESSAGE`` as one line on stderr (no markup, no wrapping)."""
    console.print(f"error: {' '.join(str(message).split())}", markup=False)


@contextlib.contextmanager
def exit_on_data_error() -> Iterator[None]:
    try:
        yield
    except DataError as e:
        for p in e.problems:
            console.print(f"error: {p}", markup=False)
        raise SystemExit(1) from None
    except CommandError as e:
        error_line(str(e))
        raise SystemExit(1) from None


class CodeselfGroup(TyperGroup):
    """The root command group: turns every parse-time error into one ``error: …`` line (exit 2) and
    every ``CommandError``/``DataError`` into ``error: …`` lines (exit 1), for the ``codeself``
    script and for ``typer.testing.CliRunner`` alike."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        from typer import exceptions as tx
        from typer._click import exceptions as cx

        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            with exit_on_data_error():
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except cx.NoArgsIsHelpError as e:
            e.show()
            sys.exit(e.exit_code)
        except tx.TyperException as e:
            error_line(e.format_message().replace("Value error, ", ""))
            sys.exit(e.exit_code)
        except tx.Abort:
            error_line("aborted")
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def check_output_paths(*pairs: tuple[Path | None, str], inputs: Sequence[Path | None] = ()) -> None:
    """Refuse two outputs that are the same file, or an output that is one of the inputs."""
    seen: dict[Path, str] = {}
    ins = {p.resolve(): p for p in inputs if p is not None}
    for path, flag in pairs:
        if path is None:
            continue
        r = path.resolve()
        if r in seen:
            raise CommandError(f"{flag} {path} is the same file as {seen[r]}")
        if r in ins:
            raise CommandError(f"{flag} {path} would overwrite the input {ins[r]}")
        seen[r] = flag


def choices(name: str, values: Sequence[str]) -> type[StrEnum]:
    """A ``StrEnum`` of the library's own list of allowed values, so the parser rejects any other."""
    return StrEnum(name, {v: v for v in values})  # type: ignore[return-value]


def positive(value: float | None) -> float | None:
    """Option callback for a number that must be strictly greater than 0 (``min=`` is inclusive)."""
    import typer

    if value is not None and value <= 0:
        raise typer.BadParameter(f"must be greater than 0, got {value:g}")
    return value


def check_backend_model(backend: str, model: str | None) -> None:
    """Check ``--model`` for ``--backend`` without loading anything: a static backend needs an existing
    completions file; hf/nano/vllm need ``nano`` or a local Hugging Face model directory. Raises
    ``CommandError`` naming ``--model`` (seconds before torch would be imported)."""
    from codeself.generation import BackendError, resolve_model

    if backend == "static":
        if model is None:
            raise CommandError("--model is required with --backend static (a JSONL file of completions)")
        p = Path(model)
        if p.is_dir():
            raise CommandError(f"--model {model}: is a directory; --backend static needs a JSONL file of completions")
        if not p.is_file():
            raise CommandError(f"--model {model}: file does not exist")
    elif backend in ("hf", "nano", "vllm"):
        if model is None:
            if backend == "hf":
                raise CommandError("--model is required with --backend hf ('nano' or a local Hugging Face model "
                                   "directory)")
            return
        if str(model) != "nano":
            try:
                resolve_model(model)
            except BackendError as e:
                raise CommandError(f"--model {model}: {e}") from None
