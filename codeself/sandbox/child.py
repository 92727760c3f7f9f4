"""The code that runs inside the sandboxed child (forked from a warm server).

Everything this module needs after untrusted code has started is captured when the server imports
it: every builtin it calls is rebound as a module global (module globals shadow ``builtins``), the
string escaper is the C function ``_json.encode_basestring_ascii``, and writes go through a captured
``os.write``. A program that replaces ``json``, ``pickle``, ``marshal``, ``print``, ``builtins`` or
``sys`` in its own process therefore does not change what the harness sends.

The child never holds an expected value: it receives the program, the setup code and a list of
steps — expressions to evaluate (``value``) or, for tests of shapes that cannot be graded in the
parent, statements to run (``exec``) — and reports one record per step as a line of JSON on the
result pipe. Values are sent with a type-preserving encoding (see :func:`encode`).
"""

from __future__ import annotations

import _json
import builtins
import ctypes
import gc
import os
import random
import resource
import signal
import sys
import time

# ---- captured before any untrusted code runs -----------------------------------------------------
_CAPTURED = (
    "len", "type", "isinstance", "issubclass", "repr", "str", "int", "float", "bool", "list", "tuple",
    "dict", "set", "frozenset", "range", "enumerate", "compile", "exec", "eval", "getattr", "id",
    "sorted", "complex", "bytes", "bytearray", "BaseException", "Exception", "MemoryError",
    "RecursionError", "ValueError", "TypeError", "iter", "next", "min", "max", "format", "object",
    "hasattr", "callable", "abs", "any", "all", "zip", "map", "hash", "KeyboardInterrupt", "SystemExit",
    "memoryview", "OSError",
)
for _name in _CAPTURED:
    globals()[_name] = getattr(builtins, _name)
_BUILTINS_MODULE = builtins
_enc_str = _json.encode_basestring_ascii
_json_loads = __import__("json").loads
_os_write = os.write
_os_close = os.close
_os_exit = os._exit
_perf = time.perf_counter
_float_repr = float.__repr__
_int_format = int.__format__
_int_repr = int.__repr__
_str_str = str.__str__
_bytes_hex = bytes.hex
_list_iter = list.__iter__
_tuple_iter = tuple.__iter__
_dict_items = dict.items
_set_iter = set.__iter__
_frozenset_iter = frozenset.__iter__
_complex_real = complex.real.__get__
_complex_imag = complex.imag.__get__
_mro = type.__dict__["__mro__"].__get__
_type_name = type.__dict__["__name__"].__get__
_type_qualname = type.__dict__["__qualname__"].__get__
_type_module = type.__dict__["__module__"].__get__
_join = "".join
_sort = list.sort
_append = list.append
_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWIPC = 0x08000000
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
MAX_DEPTH = 100
MAX_NODES = 2_000_000
_PLAIN_BASES = (bool, int, float, complex, str, bytes, bytearray, list, tuple, dict, set, frozenset, range)


class ValueTooLarge(Exception):
    """The returned value exceeds the encoder's node or depth budget."""


def _encode(v, depth, budget, stack):
    """Encode one value; see :func:`encode`."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueTooLarge("value too large to encode")
    t = type(v)
    if v is None or t is bool:
        return "null" if v is None else ("true" if v else "false")
    base = t
    if t not in _PLAIN_BASES:
        base = None
        for b in _mro(t):
            if b in _PLAIN_BASES:
                base = b
                break
        if base is None:
            mod = _type_module(t)
            if isinstance(mod, str) and mod.startswith("numpy") and hasattr(v, "tolist"):
                try:
                    return _encode(v.tolist(), depth, budget, stack)
                except ValueTooLarge:
                    raise
                except BaseException:
                    pass
            try:
                r = repr(v)
                r = _str_str(r)[:200] if isinstance(r, str) else "?"
            except BaseException:
                r = "?"
            name = f"{mod}.{_type_qualname(t)}" if isinstance(mod, str) else _type_qualname(t)
            return '{"$o":' + _enc_str(name) + ',"r":' + _enc_str(r) + "}"
    if base is int:
        return '{"$i":"' + _int_format(v, "x") + '"}'
    if base is float:
        return '{"$f":"' + _float_repr(v) + '"}'
    if base is str:
        return _enc_str(_str_str(v))
    if base is complex:
        return '{"$c":["' + _float_repr(_complex_real(v)) + '","' + _float_repr(_complex_imag(v)) + '"]}'
    if base is bytes:
        return '{"$b":"' + _bytes_hex(v) + '"}'
    if base is bytearray:
        return '{"$ba":"' + _bytes_hex(bytes(v)) + '"}'
    if base is range:
        return '{"$r":[' + _encode(v.start, depth, budget, stack) + "," + _encode(v.stop, depth, budget, stack) \
            + "," + _encode(v.step, depth, budget, stack) + "]}"
    # containers
    if depth > MAX_DEPTH:
        raise ValueTooLarge("value nested too deeply to encode")
    key = id(v)
    if key in stack:
        return '{"$o":"<cycle>","r":"<cycle>"}'
    stack.add(key)
    try:
        if base is list or base is tuple:
            it = _list_iter(v) if base is list else _tuple_iter(v)
            parts = []
            for x in it:
                _append(parts, _encode(x, depth + 1, budget, stack))
            body = "[" + ",".join(parts) + "]"
            return body if base is list else '{"$t":' + body + "}"
        if base is dict:
            parts = []
            for k, x in _dict_items(v):
                _append(parts, "[" + _encode(k, depth + 1, budget, stack) + ","
                        + _encode(x, depth + 1, budget, stack) + "]")
            return '{"$d":[' + ",".join(parts) + "]}"
        # set / frozenset: canonical order of the encodings
        parts = []
        for x in (_set_iter(v) if base is set else _frozenset_iter(v)):
            _append(parts, _encode(x, depth + 1, budget, stack))
        _sort(parts)
        return '{"' + ("$s" if base is set else "$fs") + '":[' + ",".join(parts) + "]}"
    finally:
        stack.discard(key)


def encode(value) -> str:
    """Type-preserving JSON text of ``value``.

    ``None``/``bool``/``str`` are JSON natives; ``{"$i": hex}`` int, ``{"$f": repr}`` float (so
    ``nan``, ``inf`` and ``-0.0`` survive), ``{"$c": [re, im]}``, ``{"$b": hex}`` bytes,
    ``{"$ba": hex}`` bytearray, ``{"$r": [start, stop, step]}`` range, JSON list for list,
    ``{"$t": [...]}`` tuple, ``{"$d": [[k, v], ...]}`` dict (insertion order), ``{"$s": [...]}`` /
    ``{"$fs": [...]}`` set / frozenset (sorted by encoding). A subclass of one of these is encoded
    as its builtin base, read through the base type's own slots — an overridden ``__eq__``,
    ``__str__`` or ``__iter__`` is never consulted. numpy values go through ``tolist()``. Anything
    else becomes ``{"$o": "module.qualname", "r": repr[:200]}``, which equals nothing.
    Two encodings are equal iff the values are equal with exact types (NaN equals NaN here).
    """
    return _encode(value, 0, [MAX_NODES], set())


# ---- the child process -----------------------------------------------------------------------------

class _Channel:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, text: str) -> None:
        data = (text + "\n").encode("utf-8")
        view = memoryview(data)
        while len(view):
            try:
                n = _os_write(self.fd, view)
            except BaseException:
                return
            view = view[n:]


def _err_fields(e) -> str:
    t = type(e)
    name = _type_name(t)
    try:
        msg = str(e)
        msg = _str_str(msg)[:500] if isinstance(msg, str) else ""
    except BaseException:
        msg = "<unprintable>"
    return '"et":' + _enc_str(name) + ',"em":' + _enc_str(msg)


def _setrlimit(which, soft, hard=None) -> None:
    hard = soft if hard is None else hard
    try:
        resource.setrlimit(which, (soft, hard))
    except (ValueError, OSError):
        # hard limit lower than requested: keep the lower one
        cur = resource.getrlimit(which)
        resource.setrlimit(which, (min(soft, cur[1]) if cur[1] >= 0 else soft, cur[1]))


def contain(limits: dict | None, *, scratch: str, uid: int | None, gid: int | None, new_ipc: bool,
            cgroups: list[str] | tuple = ()) -> None:
    """Confine the current (already forked) process before untrusted code runs.

    (The network namespace is the server's own, empty one: see ``server.py``.)
    """
    # own process group (kill(0) reaches only the program). Not setsid(): that creates a scheduler
    # autogroup and costs ~3 ms; the server already runs in its own session without a terminal.
    os.setpgid(0, 0)
    for procs in cgroups:  # extra cgroups to join (the server's own are inherited)
        with open(procs, "w") as f:
            f.write("0")
    try:  # if the tree exceeds the memory cgroup, the OOM killer picks the program, not the server
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
        try:
            os.write(fd, b"1000")
        finally:
            os.close(fd)
    except OSError:
        pass
    if new_ipc and _libc.unshare(CLONE_NEWIPC) != 0:  # SysV IPC objects die with the program
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWIPC) failed")
    os.chdir(scratch)
    os.umask(0o077)
    _setrlimit(resource.RLIMIT_CORE, 0)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": scratch, "TMPDIR": scratch,
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    for k in [k for k in os.environ if k not in env]:
        del os.environ[k]
    for k, v in env.items():
        if os.environ.get(k) != v:
            os.environ[k] = v
    if uid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        if os.geteuid() == 0 or os.getuid() == 0:
            raise OSError("could not drop root privileges")
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if limits is not None:
        apply_limits(limits)


def apply_limits(limits: dict) -> None:
    """The per-job rlimits (lowering works after the uid drop); address space last."""
    cpu = max(1, int(limits["cpu_s"] + 0.999))
    _setrlimit(resource.RLIMIT_CPU, cpu, cpu + 1)
    _setrlimit(resource.RLIMIT_FSIZE, int(limits["max_file_mb"]) << 20)
    _setrlimit(resource.RLIMIT_NOFILE, int(limits["max_open_files"]))
    _setrlimit(resource.RLIMIT_NPROC, int(limits["max_procs"]))
    _setrlimit(resource.RLIMIT_AS, int(limits["memory_mb"]) << 20)


def child_main(job: dict | None, fds: dict, *, scratch: str, uid: int | None, gid: int | None, new_ipc: bool,
               cgroups: list[str] | tuple = ()) -> None:
    """Body of the forked child. Never returns: always ends in ``os._exit``.

    With ``job=None`` (pre-forked) the child is contained first, then reads its job from
    ``fds["job"]`` (until EOF) and applies the job's rlimits before any program code runs.
    """
    chan = _Channel(fds["result"])
    try:
        # stdio: stdin from /dev/null, stdout/stderr into the drained pipes
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fds["stdout"], 1)
        os.dup2(fds["stderr"], 2)
        os.dup2(fds["result"], 3)
        chan.fd = 3
        if job is None:
            os.dup2(fds["job"], 4)
        os.closerange(5 if job is None else 4, 1 << 16)
        contain(job["limits"] if job is not None else None, scratch=scratch, uid=uid, gid=gid,
                new_ipc=new_ipc, cgroups=cgroups)
        if job is None:
            parts = []
            while True:
                chunk = os.read(4, 1 << 20)
                if not chunk:
                    break
                parts.append(chunk)
            _os_close(4)
            job = _json_loads(b"".join(parts))
            apply_limits(job["limits"])
        random.seed(0)
        # sys.stdin/stdout/stderr are the server's own (unused) objects on fds 0/1/2, which now point
        # to /dev/null and the drained pipes: nothing to reopen.
        sys.argv = ["solution"]
        gc.enable()
    except BaseException as e:  # containment failed: never run the program
        chan.send('{"ev":"setup_failed",' + _err_fields(e) + "}")
        _os_exit(70)
    # Sent before any program code runs: a "setup_failed" that is not the first record was forged
    # by the program (which would otherwise turn its own failure into an excluded infra_error).
    chan.send('{"ev":"contained"}')
    _run(job, chan, sys.stdout, sys.stderr)


def _run(job: dict, chan: _Channel, out, err) -> None:
    out_flush, err_flush = out.flush, err.flush
    steps = job["steps"]
    g = {"__name__": "solution", "__builtins__": _BUILTINS_MODULE}
    t0 = _perf()
    try:
        code = compile(job["program"], "<solution>", "exec")
    except BaseException as e:
        chan.send('{"ev":"syntax_error",' + _err_fields(e) + "}")
        _finish(chan, out_flush, err_flush, 0)
    try:
        exec(code, g)
    except BaseException as e:
        chan.send('{"ev":"import_error","d":' + _float_repr(_perf() - t0) + "," + _err_fields(e) + "}")
        _finish(chan, out_flush, err_flush, 0)
    setup = job.get("setup") or ""
    if setup:
        try:
            exec(compile(setup, "<setup>", "exec"), g)
        except BaseException as e:
            chan.send('{"ev":"setup_error","d":' + _float_repr(_perf() - t0) + "," + _err_fields(e) + "}")
            _finish(chan, out_flush, err_flush, 0)
    chan.send('{"ev":"imported","d":' + _float_repr(_perf() - t0) + "}")
    start = int(job.get("start", 0))
    for i in range(start, len(steps)):
        kind, src = steps[i]
        t1 = _perf()
        try:
            if kind == "value":
                v = eval(compile(src, f"<test value {i}>", "eval"), g)
                d = _perf() - t1
                try:
                    enc = encode(v)
                except BaseException as e:
                    chan.send('{"i":' + _int_repr(i) + ',"ok":false,"d":' + _float_repr(d) + ","
                              + _err_fields(e) + ',"stage":"encode"}')
                    continue
                chan.send('{"i":' + _int_repr(i) + ',"ok":true,"d":' + _float_repr(d) + ',"v":' + enc + "}")
            else:
                exec(compile(src, f"<test {i}>", "exec"), g)
                chan.send('{"i":' + _int_repr(i) + ',"ok":true,"d":' + _float_repr(_perf() - t1) + "}")
        except BaseException as e:
            chan.send('{"i":' + _int_repr(i) + ',"ok":false,"d":' + _float_repr(_perf() - t1) + ","
                      + _err_fields(e) + "}")
    _finish(chan, out_flush, err_flush, _perf() - t0)


def _finish(chan: _Channel, out_flush, err_flush, total: float) -> None:
    for f in (out_flush, err_flush):
        try:
            f()
        except BaseException:
            pass
    chan.send('{"ev":"done","d":' + _float_repr(float(total)) + "}")
    for fd in (1, 2, chan.fd):  # EOF now lets the server answer without waiting for the exit
        try:
            _os_close(fd)
        except BaseException:
            pass
    _os_exit(0)
