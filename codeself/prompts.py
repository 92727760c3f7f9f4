"""Prompt templates: the text a model is conditioned on for a task.

``completion`` (HumanEval style): the task prompt followed by its starter code; the model continues
the function body — the format codeself-nano is trained on. ``chat``: an instruction plus the
signature in a fenced block, asking for the complete function in a ```python block. Either can show
the *public* tests as examples (``show_public_tests=True``). Hidden tests are never put in a prompt
— by construction ``build_prompt`` only reads ``task.prompt``, ``task.starter_code`` and
``task.public_tests``.

A leaf module: it imports only the task schema, so generation, training and the agent share one
definition of every template.
"""

from __future__ import annotations

from codeself.tasks import Task, test_text

TEMPLATES = ("completion", "chat")

CHAT_INSTRUCTION = (
    "Complete the following Python function. Reply with the complete function (signature and "
    "body, plus any imports it needs) in a single ```python code block."
)


def build_prompt(task: Task, template: str = "completion", show_public_tests: bool = False) -> str:
    """The text a model is conditioned on for ``task``.

    ``completion``: ``task.prompt + task.starter_code`` (exactly that when no tests are shown — the
    format codeself-nano is trained on); with ``show_public_tests`` the public tests are prepended
    as comment lines (``# Examples:``), which keeps the prompt a valid Python prefix.
    ``chat``: an instruction, the signature/docstring in a fenced block and, optionally, the public
    tests in a second fenced block. Hidden tests are never included.
    """
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r} (use one of {TEMPLATES})")
    code = task.prompt + (task.starter_code or "")
    if template == "completion":
        if show_public_tests and task.public_tests:
            lines = ["# Examples (these tests must pass):"]
            for t in task.public_tests:
                lines.extend("# " + ln for ln in test_text(t, task.entry_point or "f").splitlines())
            return "\n".join(lines) + "\n" + code
        return code
    parts = [CHAT_INSTRUCTION, "", "```python", code.rstrip("\n"), "```"]
    if show_public_tests and task.public_tests:
        shown = [test_text(t, task.entry_point or "f") for t in task.public_tests]
        if task.is_stdio:
            parts += ["", "Your program reads standard input and must pass these examples:", "```", *shown, "```"]
        else:
            parts += ["", "Your function must pass these tests:", "```python", *shown, "```"]
    return "\n".join(parts) + "\n"
