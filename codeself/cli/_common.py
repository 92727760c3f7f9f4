"""Helpers shared by the CLI groups: located error messages and consistent exit codes.

Exit codes: 0 success; 1 the data or the run is bad (messages name file, line and field);
2 usage error (typer's own).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console

from codeself.io import DataError

console = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


class CommandError(Exception):
    """A user-facing error: printed as ``error: …`` and exit code 1."""


def fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}", markup=True)
    raise SystemExit(code)


@contextlib.contextmanager
def exit_on_data_error() -> Iterator[None]:
    try:
        yield
    except DataError as e:
        for p in e.problems:
            console.print(f"error: {p}", markup=False)
        raise SystemExit(1) from None
    except CommandError as e:
        console.print(f"error: {e}", markup=False)
        raise SystemExit(1) from None
