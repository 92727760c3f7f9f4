"""The ``codeself`` command line: a thin face over the library, one command group per stage.

Each group lives in its own module (``codeself/cli/<group>.py``); heavy libraries (torch, trl,
ray, vllm) are imported inside command bodies, so ``codeself --help`` stays fast. Options are
declared and checked as ``codeself/cli/_common.py`` describes: at parse time, before any work.
"""

from __future__ import annotations

import sys

import typer

from codeself.cli import agent, bench, model, report, rollouts, sandbox, tasks, train
from codeself.cli._common import CodeselfGroup

app = typer.Typer(
    name="codeself",
    cls=CodeselfGroup,
    help="CodeSelf: execution-feedback RL on Python coding tasks, measured with exact paired tests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(tasks.app, name="tasks")
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(rollouts.app, name="rollouts")
app.add_typer(model.app, name="model")
app.add_typer(train.app, name="train")
app.add_typer(agent.app, name="agent")
app.add_typer(report.app, name="report")
app.add_typer(bench.app, name="bench")
rollouts.register_top_level(app)   # `codeself compare`
train.register_top_level(app)      # `codeself study`


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``codeself`` script."""
    app(args=argv if argv is not None else sys.argv[1:], prog_name="codeself")


if __name__ == "__main__":  # pragma: no cover
    main()
