"""Prompt templates: the text a model is conditioned on for a task.

``completion`` (HumanEval style): the task prompt followed by its starter code; the model continues
the function body — the format codeself-nano is trained on. ``chat``: an instruction plus the
signature in a fenced block, asking for the complete function in a ```python block. Either can show
the *public* tests as examples (``show_public_tests=True``). Hidden tests are never put in a prompt
— by construction ``build_prompt`` only reads ``task.prompt``, ``task.starter_code`` and
``task.public_tests``.

Competitive-programming tasks (stdin or call tests, :mod:`codeself.competitive`) have a prose
statement as their prompt, not Python. For them the ``completion`` template is still a valid Python
prefix — the statement as ``#`` comment lines, then (stdin) one comment asking for a complete
program that reads standard input, or (call) ``from typing import *`` and the starter code (LeetCode
starters annotate with ``List``/``Optional`` without importing them, as LeetCode's own judge
provides them) — so a continuation combined with the prompt compiles. The ``chat`` template asks
stdin tasks for a complete program reading standard input. A starter that the importer also
appended to the statement is shown once. Guaranteed: assert tasks (HumanEval, MBPP, families) get
exactly the text they got before; no hidden test is read.

A leaf module: it imports only the task schema, so generation, training and the agent share one
definition of every template.
"""

from __future__ import annotations

import ast

from codeself.tasks import Task, test_kind, test_text

TEMPLATES = ("completion", "chat")

CHAT_INSTRUCTION = (
    "Complete the following Python function. Reply with the complete function (signature and "
    "body, plus any imports it needs) in a single ```python code block."
)
STDIN_INSTRUCTION = (
    "Solve the following problem with a complete Python program that reads standard input and writes "
    "the answer to standard output. Reply with the program in a single ```python code block."
)
STDIN_COMMENT = "# A complete Python program: read standard input, print the answer to standard output."


def _statement(task: Task) -> str:
    """``task.prompt`` without a trailing copy of ``task.starter_code`` (the competitive importers
    append the starter to the statement and also keep it as starter code)."""
    p, s = task.prompt, (task.starter_code or "").rstrip()
    if s and p.rstrip().endswith(s):
        return p.rstrip()[: len(p.rstrip()) - len(s)].rstrip() + "\n\n"
    return p


def prose_kind(task: Task) -> str | None:
    """``stdin`` or ``call`` for a task whose tests are stdin/call tests and whose prompt is prose
    (not Python); None for every other task (their templates are unchanged)."""
    kinds = {test_kind(t) for t in [*task.public_tests, *task.hidden_tests]}
    if not kinds or "assert" in kinds:
        return None
    try:
        ast.parse(_statement(task))
        return None
    except (SyntaxError, ValueError):
        return "stdin" if kinds == {"stdin"} else "call"


def _commented(text: str) -> str:
    return "".join(("# " + ln if ln.strip() else "#") + "\n" for ln in text.strip("\n").splitlines())


def build_prompt(task: Task, template: str = "completion", show_public_tests: bool = False) -> str:
    """The text a model is conditioned on for ``task``.

    ``completion``: ``task.prompt + task.starter_code`` (exactly that when no tests are shown — the
    format codeself-nano is trained on); with ``show_public_tests`` the public tests are prepended
    as comment lines (``# Examples:``), which keeps the prompt a valid Python prefix. A prose
    statement (stdin/call tasks) becomes comment lines (see the module docstring).
    ``chat``: an instruction, the signature/docstring in a fenced block and, optionally, the public
    tests in a second fenced block. Hidden tests are never included.
    """
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r} (use one of {TEMPLATES})")
    prose = prose_kind(task)
    starter = task.starter_code or ""
    if prose is None:
        code = task.prompt + starter
    elif prose == "stdin":
        code = _commented(_statement(task)) + STDIN_COMMENT + "\n" + starter
    else:
        code = _commented(_statement(task)) + ("from typing import *\n\n" + starter if starter.strip() else "")
    if template == "completion":
        if show_public_tests and task.public_tests:
            lines = ["# Examples (these tests must pass):"]
            for t in task.public_tests:
                lines.extend("# " + ln for ln in test_text(t, task.entry_point or "f").splitlines())
            return "\n".join(lines) + "\n" + code
        return code
    if prose == "stdin":
        parts = [STDIN_INSTRUCTION, "", _statement(task).strip("\n")]
    elif prose == "call":
        parts = [CHAT_INSTRUCTION, "", _statement(task).strip("\n")]
        if starter.strip():
            parts += ["", "```python", starter.rstrip(), "```"]
    else:
        parts = [CHAT_INSTRUCTION, "", "```python", code.rstrip("\n"), "```"]
    if show_public_tests and task.public_tests:
        shown = [test_text(t, task.entry_point or "f") for t in task.public_tests]
        if task.is_stdio:
            parts += ["", "Your program reads standard input and must pass these examples:", "```", *shown, "```"]
        else:
            parts += ["", "Your function must pass these tests:", "```python", *shown, "```"]
    return "\n".join(parts) + "\n"
