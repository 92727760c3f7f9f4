"""`codeself train …` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="train commands", no_args_is_help=True)


def register_top_level(root: typer.Typer) -> None:
    """Add top-level commands owned by this stage (``codeself study``)."""
