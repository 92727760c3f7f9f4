"""Parsing: a raw completion → the program it holds (a leaf module: it imports only the task
schema and the prompt templates).

``parse_code`` handles fenced blocks (```python / ``` / an unterminated fence cut by
max_new_tokens), bare code, prose around code, and a completion that continues the prompt's ``def``
line (it is combined with the prompt). A failure is recorded with its status (``empty`` /
``no_code`` / ``syntax_error``) and a reason; a ``syntax_error`` still returns the best candidate
program so the sandbox can report it. ``completion_text`` is the one rule for which text of a
completion (a string, or TRL's list of chat messages) is parsed.
"""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass
from typing import Any

from codeself.prompts import build_prompt
from codeself.tasks import Task

PARSE_STATUSES = ("ok", "empty", "no_code", "syntax_error")


@dataclass
class ParsedCode:
    """The program parsed from a completion. ``code`` is None for ``empty`` and ``no_code``."""

    code: str | None
    status: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[ \t]*\n(.*?)(?:```|\Z)", re.S)
_CODE_START = re.compile(r"^(def |async def |class |import |from \S+ import |@|[A-Za-z_][A-Za-z0-9_]* *=)")
_NON_PY_LANGS = {"text", "txt", "console", "bash", "sh", "shell", "output", "json", "yaml"}


def _compiles(code: str) -> str | None:
    """None if ``code`` compiles, else a short reason."""
    try:
        ast.parse(code)
    except SyntaxError as e:
        return f"SyntaxError: {e.msg} (line {e.lineno})"
    except (ValueError, MemoryError, RecursionError, OverflowError, SystemError) as e:  # null bytes, absurd nesting
        # (CPython 3.11 may raise SystemError on hostile nesting: see codeself.sandbox.grading.AST_LOCK)
        return f"{type(e).__name__}: {e}"
    return None


def _defines(code: str, name: str) -> bool:
    if not name:  # a stdin task has no entry point: any program that compiles is a whole answer
        return True
    try:
        tree = ast.parse(code)
    except Exception:
        return bool(re.search(rf"^\s*(async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any((a.asname or a.name) == name for a in node.names):
            return True
    return False


def _trim_to_compile(code: str) -> str | None:
    """Drop trailing lines (a cut-off or chatty tail) until the rest compiles; None if never."""
    lines = code.rstrip().split("\n")
    for end in range(len(lines), 0, -1):
        cand = "\n".join(lines[:end]).rstrip() + "\n"
        if cand.strip() and _compiles(cand) is None:
            return cand
    return None


def _stop_at_top_level(continuation: str) -> str:
    """Cut a continuation of an indented body at the first non-blank line at column 0
    (HumanEval's stop sequences ``\\ndef``, ``\\nclass``, ``\\nif``, ``\\nprint``, ``\\n#``)."""
    out = []
    for i, ln in enumerate(continuation.split("\n")):
        if i > 0 and ln.strip() and not ln[0].isspace():
            break
        out.append(ln)
    return "\n".join(out)


def _prose_extract(text: str) -> str | None:
    """The code in a prose answer: from the first line that starts like code to the last line
    that keeps the whole compiling."""
    lines = text.split("\n")
    for i, ln in enumerate(lines):
        if _CODE_START.match(ln):
            rest = "\n".join(lines[i:])
            ok = _trim_to_compile(rest)
            if ok is not None:
                return ok
    return None


def parse_code(completion: str | None, task: Task, prompt: str | None = None) -> ParsedCode:
    """Parse a raw completion into a program that defines ``task.entry_point``.

    Order of attempts (the first that compiles and defines the entry point wins):
    1. fenced blocks (```python, ```py, bare ```, or an unterminated fence), the last block that
       defines the entry point first; a fenced *body* is combined with the prompt;
    2. the completion as a whole program (bare code that repeats the signature);
    3. a continuation of the prompt: ``prompt + completion`` (the model continued the ``def``
       line / docstring), cut at the first top-level line if the rest does not compile;
    4. prose around code: from the first code-looking line, trailing lines dropped until it compiles.
    ``prompt`` defaults to the completion template of the task.
    Statuses: ``ok``; ``empty`` (blank completion); ``no_code`` (nothing code-like); and
    ``syntax_error`` (code-like text that never compiles — ``code`` holds the best candidate so
    the sandbox reports the error). A program that compiles but does not define the entry point is
    ``ok`` with a ``reason`` (the tests will fail on it, which is the honest outcome).
    """
    if completion is None or not completion.strip():
        return ParsedCode(None, "empty", "completion is empty")
    if prompt is None:
        prompt = build_prompt(task, "completion")
    ep = task.entry_point
    text = completion.replace("\r\n", "\n")
    base = task.prompt + (task.starter_code or "")

    candidates: list[tuple[str, str, str]] = []  # (code, how, prefix taken from the prompt)
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    blocks = [(lang, body) for lang, body in blocks if lang not in _NON_PY_LANGS and body.strip()]
    defn_blocks = [body for _, body in blocks if _definitions_only(body)]
    if len(defn_blocks) > 1:
        joined = "\n".join(b.rstrip("\n") for b in defn_blocks) + "\n"
        candidates.append((joined, "fenced blocks joined (definitions only)", ""))
    for _lang, body in sorted(blocks, key=lambda lb: not _defines(lb[1], ep)):
        candidates.append((body, "fenced block", ""))
        if not _defines(body, ep) and _indented(body):
            candidates.append((base + body, "fenced body combined with the prompt", base))
    if not blocks:
        candidates.append((text, "bare code", ""))
        for pre in dict.fromkeys([prompt, base]):
            # a continuation is an indented body, or the rest of a line the prompt left open
            if not (_indented(text) or not pre.endswith("\n")):
                continue
            candidates.append((pre + text, "continuation of the prompt", pre))
            candidates.append((pre + _stop_at_top_level(text), "continuation of the prompt (cut at top level)", pre))

    first_compiling: tuple[str, str] | None = None
    for code, how, _pre in candidates:
        if _compiles(code) is None:
            if _defines(code, ep):
                return ParsedCode(code if code.endswith("\n") else code + "\n", "ok", None if how in ("fenced block", "bare code") else how)
            if first_compiling is None:
                first_compiling = (code, how)
    # trimmed variants (cut-off tails, chatty endings)
    for code, how, pre in candidates:
        trimmed = _trim_to_compile(code)
        # a trimmed candidate must keep some of the completion, not just the prompt
        if trimmed is not None and trimmed[len(pre):].strip() and _defines(trimmed, ep):
            return ParsedCode(trimmed, "ok", f"{how}, trailing lines dropped")
    if not blocks:
        pro = _prose_extract(text)
        if pro is not None and _defines(pro, ep):
            return ParsedCode(pro, "ok", "code extracted from prose")
    if first_compiling is not None and (blocks or _looks_like_code(text)):
        code, how = first_compiling
        return ParsedCode(code if code.endswith("\n") else code + "\n", "ok",
                          f"{how}; does not define entry point {ep!r}")
    if blocks:
        body = blocks[0][1]
        return ParsedCode(body, "syntax_error", _compiles(body))
    if _looks_like_code(text):
        cand = prompt + text if not _defines(text, ep) else text
        return ParsedCode(cand, "syntax_error", _compiles(cand) or "does not compile")
    return ParsedCode(None, "no_code", "no fenced block and no code-like lines")


def _indented(text: str) -> bool:
    """True if the first non-blank line is indented: the text continues a body, not a module."""
    for ln in text.split("\n"):
        if ln.strip():
            return ln[0].isspace()
    return False


def _definitions_only(code: str) -> bool:
    """True if ``code`` compiles and has only imports, defs, classes and assignments at top level."""
    try:
        tree = ast.parse(code)
    except Exception:
        return False
    ok = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)
    return bool(tree.body) and all(isinstance(n, ok) for n in tree.body)


def _looks_like_code(text: str) -> bool:
    for ln in text.split("\n"):
        s = ln.strip()
        if not s:
            continue
        if _CODE_START.match(s) or s.startswith(("return", "if ", "for ", "while ", "print(", "try:", "with ")):
            return True
        if ln[:1].isspace() and re.search(r"[=():\[\]]", s):
            return True
    return False



def completion_text(completion: Any) -> str:
    """The text of a completion that is parsed for code — and so the identity of the completion
    (the reward cache keys on it).

    TRL passes a string (standard format) or a list of chat messages (conversational format);
    for a message list it is the concatenation of the *assistant* messages' contents (a message
    without a role counts as the assistant's), so a reply split over several assistant turns is
    parsed whole. A single message dict gives its content; ``None`` gives ``""``.
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return "".join(str(m.get("content", "")) for m in completion
                       if isinstance(m, dict) and m.get("role", "assistant") == "assistant")
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    return "" if completion is None else str(completion)
