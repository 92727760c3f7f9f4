"""Feedback and prompts: the feedback message made from a PUBLIC-only run, the revision prompt
(fitted to the model's context), and the choice of the submitted attempt from public results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from codeself.agent.config import POLICIES, AgentConfig
from codeself.tasks import Task, test_text


def truncate(text: str | None, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    text = text or ""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… [{len(text) - limit} more characters cut]"


def build_feedback(task: Task, turn: dict[str, Any], result: dict[str, Any] | None, config: AgentConfig) -> str | None:
    """The feedback message for one attempt, made from its PUBLIC-only run; None if it passed.

    Shows: how many public tests passed, the first failing public test's text, its error type and
    message (capped at ``feedback_chars``), and the program's stdout (capped at ``stdout_chars``).
    For attempts that never ran it says why (empty reply, no code, backend failure). Only outcomes
    of kind ``public`` are read, and ``result`` comes from a ``tests="public"`` run.
    """
    if turn.get("generation_error"):
        return "The previous request produced no reply (the model backend failed). Please answer the task."
    if turn.get("code") is None:
        status = turn.get("parse_status")
        if status == "empty":
            return "Your previous reply was empty. Reply with the complete function."
        return ("Your previous reply contained no Python code that could be run"
                f" ({turn.get('parse_reason') or status}). Reply with the complete function.")
    if result is None:  # pragma: no cover - every attempt with code is run
        return None
    status = result.get("status")
    if status == "passed":
        return None
    pub_p, pub_t = result.get("public_passed", 0), result.get("public_total", 0)
    lines = [f"Your code passed {pub_p} of {pub_t} public tests (status: {status})."]
    if status in ("syntax_error", "import_error"):
        lines.append("It did not run: " + truncate(result.get("error") or status, config.feedback_chars))
    elif status == "timeout":
        lines.append("It was stopped for exceeding the time limit"
                     + (f" ({result.get('error')})." if result.get("error") else ".")
                     + " Look for an infinite loop or a much too slow algorithm.")
    elif status == "memory":
        lines.append("It was stopped for exceeding the memory limit.")
    elif status == "crashed":
        lines.append("The process died: " + truncate(result.get("error") or "crashed", config.feedback_chars))
    elif status == "infra_error":
        lines.append("The test harness failed (not a fault of your code): "
                     + truncate(result.get("error") or "", config.feedback_chars))
    elif status == "rejected":
        lines.append("The code was refused by the security scan: " + truncate(result.get("error") or "", config.feedback_chars))
    failing = [t for t in result.get("tests", [])
               if t.get("kind") == "public" and not t.get("passed") and t.get("status") != "not_run"]
    if failing:
        t = failing[0]
        idx = t.get("index")
        text = (test_text(task.public_tests[idx], task.entry_point or "f", limit=config.feedback_chars)
                if isinstance(idx, int) and 0 <= idx < len(task.public_tests) else None)
        if text is not None:
            lines.append("This public test failed:\n" + text)
        err = t.get("error_type") or t.get("status") or "failed"
        msg = t.get("error_message")
        lines.append("Error: " + err + (": " + truncate(msg, config.feedback_chars) if msg else ""))
        if len(failing) > 1:
            lines.append(f"({len(failing) - 1} more public test(s) failed.)")
    elif status not in ("syntax_error", "import_error", "timeout", "memory", "crashed", "infra_error", "rejected"):
        if result.get("error"):
            lines.append("Error: " + truncate(result["error"], config.feedback_chars))
    stdout = result.get("stdout") or ""
    if stdout.strip():
        lines.append("Its output (stdout) was:\n" + truncate(stdout, config.stdout_chars))
    return "\n".join(lines)


def _comment(text: str) -> str:
    return "\n".join("# " + ln if ln.strip() else "#" for ln in text.rstrip("\n").split("\n"))


def build_revision_prompt(task: Task, first_prompt: str, previous: dict[str, Any], feedback: str,
                          template: str, *, include_attempt: bool = True) -> str:
    """The prompt asking for a revision of ``previous`` (a turn dict) given ``feedback``.

    ``chat``: the first prompt, the previous attempt in a fenced block, the feedback, and a request
    for the corrected complete function in one ```python block. ``completion``: the previous attempt
    and the feedback as Python comments, then the task prompt again, so a completion model continues
    the function body (the same format as the first prompt). Only the latest attempt and its
    feedback are shown (prompts do not grow with R); ``include_attempt=False`` leaves the attempt
    out (the compact form used when a model's context is too short). No hidden test is read.
    """
    attempt = previous.get("code")
    if attempt is None:
        attempt = previous.get("completion") or ""
    if template == "chat":
        fence = _fence_for(attempt)
        shown = (f"Your previous attempt:\n{fence}python\n{attempt.rstrip()}\n{fence}\n\n" if include_attempt
                 else "Your previous attempt failed.\n")
        return (f"{first_prompt.rstrip()}\n\n{shown}"
                f"Feedback from running the public tests:\n{feedback}\n\n"
                "Fix the problem. Reply with the corrected complete function in a single ```python code block.\n")
    from codeself.prompts import build_prompt

    base = build_prompt(task, "completion")
    if include_attempt:
        head = ["# A previous attempt at the function below:",
                _comment(attempt) if attempt.strip() else "# (no code)"]
    else:
        head = ["# A previous attempt at the function below failed."]
    head.append("# Feedback from running the public tests:")
    head.append(_comment(feedback))
    head.append("# Write a corrected version.")
    return "\n".join(head) + "\n" + base


def _context_limit(backend: Any) -> int | None:
    """The model's context length in tokens, when the backend exposes it (``hf``, ``nano``)."""
    cfg = getattr(getattr(backend, "model", None), "config", None)
    n = getattr(cfg, "max_position_embeddings", None)
    return n if isinstance(n, int) and n > 0 else None


def fit_revision_prompt(backend: Any, task: Task, first_prompt: str, previous: dict[str, Any], feedback: str,
                        config: AgentConfig) -> tuple[str, str]:
    """``(prompt, variant)``: the full revision prompt if it fits the model's context with room for
    ``max_new_tokens``, else a compact one without the previous attempt (``feedback_only``), else
    one with the feedback cut to its first line (``short_feedback``). Without a tokenizer or a known
    context length the full prompt is used (``full``)."""
    full = build_revision_prompt(task, first_prompt, previous, feedback, config.template)
    limit = _context_limit(backend)
    if limit is None or getattr(backend, "tokenizer", None) is None:
        return full, "full"
    budget = limit - config.max_new_tokens
    first_line = feedback.split("\n", 1)[0]
    candidates = [
        (full, "full"),
        (build_revision_prompt(task, first_prompt, previous, feedback, config.template, include_attempt=False),
         "feedback_only"),
        (build_revision_prompt(task, first_prompt, previous, first_line, config.template, include_attempt=False),
         "short_feedback"),
    ]
    for text, variant in candidates:
        n = _count_tokens(backend, text)
        if n is not None and n <= budget:
            return text, variant
    return candidates[-1]


def select_final(turns: Sequence[dict[str, Any]], policy: str) -> int:
    """Index of the submitted attempt under ``policy`` (see ``POLICIES``); public results only."""
    if not turns:
        raise ValueError("no turns")
    if policy == "last":
        return len(turns) - 1
    if policy == "first-public-pass":
        for i, t in enumerate(turns):
            if t.get("public_status") == "passed":
                return i
        best = max(t.get("public_passed") or 0 for t in turns)
        return next(i for i, t in enumerate(turns) if (t.get("public_passed") or 0) == best)
    raise ValueError(f"unknown policy {policy!r} (use one of {sorted(POLICIES)})")


def _count_tokens(backend: Any, text: str | None) -> int | None:
    tok = getattr(backend, "tokenizer", None)
    if tok is None or text is None:
        return None
    try:
        return len(tok(text, add_special_tokens=False)["input_ids"])
    except Exception:  # a tokenizer that cannot count is not worth failing the run for
        return None



def _fence_for(text: str) -> str:
    longest, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)
