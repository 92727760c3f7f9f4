"""A conservative AST security scan: a *diagnostic*, never the containment.

Findings are ``{"rule", "line", "severity", "message"}``. ``severity`` is ``high`` (process,
network, native code, dynamic code, frame access, file writes), ``medium`` (file reads, other
introspection) or ``low``. Under ``scan_policy="block"`` a program with any ``high`` finding is not
run (status ``rejected``). The scan over-reports by design (an ``import os`` used only for
``os.path`` is flagged) and under-reports by nature (``getattr(__builtins__, "ev" + "al")``);
containment never depends on it. Code that does not parse yields no findings (it fails as
``syntax_error`` anyway).
"""

from __future__ import annotations

import ast
from typing import Any

#: module (top-level name) -> (rule id, severity, message)
_MODULES = {
    "os": ("S101", "high", "imports os (processes, files, environment)"),
    "subprocess": ("S102", "high", "imports subprocess"),
    "socket": ("S103", "high", "imports socket (network)"),
    "ctypes": ("S104", "high", "imports ctypes (native code)"),
    "multiprocessing": ("S105", "high", "imports multiprocessing"),
    "shutil": ("S106", "high", "imports shutil (file operations)"),
    "signal": ("S107", "high", "imports signal"),
    "pty": ("S108", "high", "imports pty"),
    "resource": ("S109", "high", "imports resource (limits)"),
    "urllib": ("S110", "high", "imports urllib (network)"),
    "http": ("S110", "high", "imports http (network)"),
    "requests": ("S110", "high", "imports requests (network)"),
    "asyncio": ("S111", "medium", "imports asyncio"),
    "threading": ("S112", "medium", "imports threading"),
    "pickle": ("S113", "medium", "imports pickle"),
    "marshal": ("S113", "medium", "imports marshal"),
    "importlib": ("S114", "high", "imports importlib (dynamic imports)"),
    "sys": ("S115", "medium", "imports sys (interpreter state)"),
    "inspect": ("S116", "high", "imports inspect (frame access)"),
    "gc": ("S117", "high", "imports gc (object graph access)"),
    "builtins": ("S118", "high", "imports builtins"),
    "pathlib": ("S119", "medium", "imports pathlib (files)"),
    "tempfile": ("S119", "medium", "imports tempfile (files)"),
    "io": ("S119", "low", "imports io"),
}
_CALLS = {
    "eval": ("S201", "high", "calls eval"),
    "exec": ("S202", "high", "calls exec"),
    "compile": ("S203", "high", "calls compile"),
    "__import__": ("S204", "high", "calls __import__"),
    "globals": ("S205", "medium", "calls globals()"),
    "locals": ("S205", "medium", "calls locals()"),
    "vars": ("S205", "low", "calls vars()"),
    "breakpoint": ("S206", "medium", "calls breakpoint()"),
    "input": ("S207", "low", "reads stdin (closed in the sandbox)"),
}
_ATTRS = {
    "_getframe": ("S301", "high", "frame access (sys._getframe)"),
    "f_back": ("S301", "high", "frame access (f_back)"),
    "f_locals": ("S301", "high", "frame access (f_locals)"),
    "f_globals": ("S301", "high", "frame access (f_globals)"),
    "tb_frame": ("S301", "high", "frame access (tb_frame)"),
    "gi_frame": ("S301", "high", "frame access (gi_frame)"),
    "__subclasses__": ("S302", "high", "class-hierarchy walk (__subclasses__)"),
    "__globals__": ("S303", "high", "function globals access (__globals__)"),
    "__builtins__": ("S304", "high", "builtins access (__builtins__)"),
    "__code__": ("S305", "medium", "code object access (__code__)"),
    "system": ("S306", "high", "calls .system"),
    "popen": ("S306", "high", "calls .popen"),
    "fork": ("S307", "high", "calls .fork"),
    "kill": ("S308", "high", "calls .kill"),
    "_exit": ("S309", "high", "calls ._exit"),
}
_WRITE_MODES = set("wax+")


def scan(code: str) -> list[dict[str, Any]]:
    """Security findings of ``code`` (sorted by line, then rule)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    return scan_tree(tree)


def scan_tree(tree: ast.AST) -> list[dict[str, Any]]:
    """:func:`scan` of an already parsed module."""
    out: list[dict[str, Any]] = []

    def add(rule: tuple[str, str, str], line: int) -> None:
        out.append({"rule": rule[0], "line": line, "severity": rule[1], "message": rule[2]})

    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            for a in node.names:
                top = a.name.split(".")[0]
                if top in _MODULES:
                    add(_MODULES[top], line)
        elif isinstance(node, ast.ImportFrom) and node.module:
            top = node.module.split(".")[0]
            if top in _MODULES:
                add(_MODULES[top], line)
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in _CALLS:
                add(_CALLS[f.id], line)
            if isinstance(f, ast.Name) and f.id == "open":
                mode = None
                if len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
                    mode = node.args[1].value
                for k in node.keywords:
                    if k.arg == "mode" and isinstance(k.value, ast.Constant):
                        mode = k.value.value
                if isinstance(mode, str) and _WRITE_MODES & set(mode):
                    add(("S401", "high", f"opens a file for writing (mode {mode!r})"), line)
                elif mode is None and (len(node.args) >= 2 or any(k.arg == "mode" for k in node.keywords)):
                    add(("S402", "medium", "opens a file with a computed mode"), line)
                else:
                    add(("S403", "low", "opens a file for reading"), line)
            if isinstance(f, ast.Attribute) and f.attr in ("write_text", "write_bytes", "unlink", "rmdir",
                                                            "rmtree", "remove", "chmod"):
                add(("S404", "high", f"file-system modification (.{f.attr})"), line)
        elif isinstance(node, ast.Attribute) and node.attr in _ATTRS:
            add(_ATTRS[node.attr], line)
        elif isinstance(node, ast.Name) and node.id == "__builtins__":
            add(_ATTRS["__builtins__"], line)
    out.sort(key=lambda d: (d["line"], d["rule"]))
    return out


def blocking(findings: list[dict[str, Any]]) -> bool:
    """True if ``scan_policy="block"`` refuses to run code with these findings."""
    return any(f["severity"] == "high" for f in findings)
