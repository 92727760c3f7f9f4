"""The grader: a sandboxed process that runs every test body and never runs program code.

One grader per fork server, forked from the zygote (a state that never held a job), as a uid of its
own, under the seccomp filter, with nothing writable. Per job it receives the task's tests (already
rewritten by :mod:`codeself.sandbox.grading` so that ``==``, ``!=``, ``in`` and ``not in`` use the
exact-type rule) and two pipes to the program's process. Each test runs in a fresh namespace in
which every name resolves on the grader's side first:

1. names the test binds itself (``def check(candidate)``, loop variables, its imports);
2. the task's ``setup_code`` and the helpers the task's prompt defines (e.g. HumanEval/32's
   ``poly``, HumanEval/38's ``encode_cyclic``) — executed here, from the task, never the program's;
3. real builtins (a program that defines ``abs`` or ``sorted`` changes nothing here) and
   standard-library modules;
4. everything else — the entry point, ``Solution``, any other program name — is a :class:`Remote`:
   calling it, reading its attributes or items, iterating it, are requests to the program's
   process, whose answers come back as plain decoded values (bounded by
   :func:`codeself.sandbox.values.decode`) or as further handles.

So the expected value never enters the program's process, the comparison always runs here on plain
values with the real ``==``-replacement, and a program can influence a test only through the
values it returns. A program that dies, hangs, floods or answers garbage fails the test that was
waiting (and every later one) — it never fails the grader's other jobs, never the batch.

Arguments travel by value: a test's list passed to the program is a copy, so a program that
mutates its argument in place is not seen doing so by the test. A callable (lambda, helper) cannot
be passed to the program; a test that does so errors with ``TypeError``.
"""

from __future__ import annotations

import builtins
import json
import os
import random
import select
import socket
import sys
import time

from codeself import judges
from codeself.sandbox import values as V

_BUILTIN_NAMES = frozenset(dir(builtins))
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ()))
_NO_RERAISE = {"SystemExit", "KeyboardInterrupt", "GeneratorExit"}


class ProgramGone(BaseException):
    """The program's process died or its channel broke (not catchable by a test's ``except Exception``)."""


class ProgramTimeout(ProgramGone):
    """The program did not answer within the test's own time limit."""


class ProgramRaised(Exception):
    """An exception raised by the program whose type is not a builtin exception."""


class Channel:
    """Requests to the program's process; answers decoded within budget."""

    def __init__(self, req_fd: int, rep_fd: int, cap: int) -> None:
        self.req_fd = req_fd
        self.rep_fd = rep_fd
        self.left = cap
        self.buf = bytearray()
        self.broken: str | None = None
        self.ended = False  # the channel broke because the process ended (else: it sent garbage)
        self.seen: list[str] = []
        self.raised: str | None = None
        self.names: dict[str, object] = {}

    def readline(self, timeout: float | None = None) -> bytes:
        start = 0
        deadline = None if timeout is None else time.perf_counter() + timeout
        while True:
            k = self.buf.find(b"\n", start)
            if k >= 0:
                line = bytes(self.buf[:k])
                del self.buf[: k + 1]
                return line
            start = len(self.buf)
            if deadline is not None:
                left = deadline - time.perf_counter()
                if left <= 0 or not select.select([self.rep_fd], [], [], left)[0]:
                    if self.broken is None:
                        self.broken = f"per-test time limit of {timeout:g} s exceeded"
                        self.ended = False
                    raise ProgramTimeout(self.broken)
            try:
                chunk = os.read(self.rep_fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                self.fail("the program's process ended", ended=True)
            self.left -= len(chunk)
            if self.left < 0:
                self.fail("result channel overflow (the program's answers exceed result_cap_bytes)")
            self.buf += chunk

    def fail(self, why: str, ended: bool = False):
        if self.broken is None:
            self.broken = why
            self.ended = ended
        raise ProgramGone(self.broken)

    def first_event(self) -> dict:
        """The program's side reports ``contained`` (before any program code) then how it started."""
        events = []
        for _ in range(2):
            try:
                rec = json.loads(self.readline())
            except ProgramGone:
                break
            except (ValueError, RecursionError):
                self.broken = "malformed record from the program's process"
                break
            if not isinstance(rec, dict) or rec.get("ev") not in ("contained", "setup_failed", "imported",
                                                                   "import_error", "syntax_error", "setup_error"):
                self.broken = "malformed record from the program's process"
                break
            events.append(rec)
            if rec["ev"] != "contained":
                break
        if events and events[0]["ev"] == "setup_failed":
            return events[0]
        if len(events) == 2 and events[0]["ev"] == "contained" and events[1]["ev"] != "setup_failed":
            return events[1]
        return {"ev": "no_start", "em": self.broken or "the program's process ended before it started"}

    def request(self, msg: dict, timeout: float | None = None):
        if self.broken is not None:
            raise ProgramGone(self.broken)
        data = (json.dumps(msg, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        try:
            while len(view):
                view = view[os.write(self.req_fd, view):]
        except OSError:
            self.fail("the program's process ended", ended=True)
        line = self.readline(timeout)
        try:
            rep = json.loads(line)
        except RecursionError:
            self.fail("malformed answer (nested too deeply)")
        except ValueError:
            self.fail("malformed answer from the program's process")
        if not isinstance(rep, dict):
            self.fail("malformed answer from the program's process")
        if rep.get("ok") is True:
            if rep.get("stop") is True:
                raise StopIteration
            try:
                v = V.decode(rep.get("v"), handle=self._remote)
            except V.BadValue as e:
                self.fail(f"bad value: {e}")
            if len(self.seen) < 8 and not isinstance(v, Remote):
                self.seen.append(V.short_repr(v, 120))
            return v
        if rep.get("ok") is False:
            et = V.clean_text(rep.get("et"), 100) or "Exception"
            em = V.clean_text(rep.get("em"), 500)
            self.raised = et
            cls = getattr(builtins, et, None)
            if isinstance(cls, type) and issubclass(cls, BaseException) and et not in _NO_RERAISE \
                    and cls.__module__ == "builtins" and not issubclass(cls, ProgramGone):
                try:
                    exc = cls(em)
                except Exception:  # noqa: BLE001 - exotic constructors (e.g. UnicodeError subclasses)
                    exc = ProgramRaised(f"{et}: {em}")
            else:
                exc = ProgramRaised(f"{et}: {em}")
            exc._cs_program = et  # type: ignore[attr-defined]
            exc._cs_message = em  # type: ignore[attr-defined]
            raise exc
        self.fail("malformed answer from the program's process")

    def _remote(self, h: int, t: str, r: str) -> Remote:
        return Remote(self, h, t, r)

    def get(self, name: str):
        if name in self.names:
            return self.names[name]
        v = self.request({"op": "get", "n": name})
        if isinstance(v, Remote):  # functions and classes do not change between tests
            self.names[name] = v
        return v


def _arg(x) -> object:
    if isinstance(x, Remote):
        return {"$h": x._h}
    try:
        text = V.encode(x, _no_handle)
    except V.ValueTooLarge as e:
        raise TypeError(f"argument too large to pass to the program: {e}") from None
    return json.loads(text)


def _no_handle(obj) -> str:
    raise TypeError(f"cannot pass a {type(obj).__name__} to the program (arguments travel by value)")


def _opaque_remote(obj) -> str:
    if isinstance(obj, Remote):
        return '{"$o":' + V._enc_str(obj._t) + ',"r":' + V._enc_str(obj._r) + "}"
    return V._opaque(obj)


class Remote(V.Ungradable):
    """An object that lives in the program's process: usable, never equal, never true or false."""

    __slots__ = ("_ch", "_h", "_t", "_r")

    def __init__(self, ch: Channel, h: int, t: str, r: str) -> None:
        self._ch, self._h, self._t, self._r = ch, h, t, r

    def __call__(self, *args, **kwargs):
        return self._ch.request({"op": "call", "h": self._h, "a": [_arg(a) for a in args],
                                 "k": [[k, _arg(v)] for k, v in kwargs.items()]})

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._ch.request({"op": "attr", "h": self._h, "n": name})

    def __getitem__(self, key):
        return self._ch.request({"op": "item", "h": self._h, "k": _arg(key)})

    def __iter__(self):
        it = self._ch.request({"op": "iter", "h": self._h})
        if not isinstance(it, Remote):
            return iter(it)
        return it

    def __next__(self):
        return self._ch.request({"op": "next", "h": self._h})

    def __len__(self) -> int:
        n = self._ch.request({"op": "len", "h": self._h})
        if type(n) is not int or n < 0:
            raise TypeError("len() of a program object did not return a non-negative int")
        return n

    def _label(self) -> tuple[str, str]:
        return self._t, self._r


_HELPERS = {"__cs_eq": V.strict_eq, "__cs_ne": V.strict_ne, "__cs_in": V.strict_in, "__cs_not_in": V.strict_not_in}


_CODE: dict[tuple[str, str, str], object] = {}


def _compile(src: str, label: str, mode: str):
    """Compiled task code, cached for the grader's life (the same tasks come back sample after sample)."""
    key = (src, label, mode)
    code = _CODE.get(key)
    if code is None:
        code = compile(src, label, mode, dont_inherit=True)
        if len(_CODE) > 20000:
            _CODE.clear()
        _CODE[key] = code
    return code


def _base_namespace(setup: str, helpers: str) -> tuple[dict, str | None]:
    ns: dict = {"__builtins__": builtins, "__name__": "__codeself_tests__"}
    for label, src in (("setup_code", setup), ("the prompt's helpers", helpers)):
        if src:
            try:
                exec(_compile(src, f"<{label}>", "exec"), ns)
            except Exception as e:  # noqa: BLE001 - a task problem: reported, tests still run
                return ns, f"{label} raised {type(e).__name__}: {V.clean_text(str(e), 300)}"
    return ns, None


def _status_of(exc: BaseException, ch: Channel) -> tuple[str, str, str]:
    program_et = getattr(exc, "_cs_program", None)
    if program_et is not None:
        st = {"MemoryError": "memory", "AssertionError": "failed"}.get(program_et, "error")
        return st, program_et, V.clean_text(getattr(exc, "_cs_message", str(exc)), 500)
    if isinstance(exc, AssertionError):
        msg = V.clean_text(str(exc), 300)
        shown = ", ".join(ch.seen) if ch.seen else "(no program values)"
        return "failed", "Mismatch", (f"assertion failed: {msg}; " if msg else "assertion failed; ") + \
            f"program value(s): {shown}"
    if isinstance(exc, MemoryError):
        return "crashed", "GraderMemoryError", "grading ran out of memory on the program's values"
    if isinstance(exc, TypeError) and "cannot be graded" in str(exc):
        return "failed", "Mismatch", V.clean_text(str(exc), 500)
    return "error", type(exc).__name__, V.clean_text(str(exc), 500)


def _run_checker(src: str, inp: str, out: str, expected: str) -> tuple[bool, str | None]:
    """The task's checker, in the grader (a sandboxed process that never runs program code):
    ``check(input, output, expected)`` must return True; anything else, or an exception, fails."""
    ns = {"__builtins__": builtins, "__name__": "__codeself_checker__"}
    try:
        exec(_compile(src, "<checker>", "exec"), ns)
        return ns["check"](inp, out, expected) is True, None
    except Exception as e:  # noqa: BLE001 - a checker that raises rejects the output
        return False, V.clean_text(f"{type(e).__name__}: {e}", 200)


def _run_data_test(t: dict, entry: str | None, ch: Channel, rec: dict) -> None:
    """A stdin test (the program runs as a script on the input; the judge compares its output) or a
    call test (the entry point — or ``Solution().<entry>`` — on JSON arguments)."""
    tl = t.get("tl")
    timeout = None if tl is None else float(tl) + 0.25
    try:
        if t["k"] == "stdin":
            out = ch.request({"op": "stdio", "input": t["input"]}, timeout)
            if type(out) is not str:
                rec.update(s="failed", et="Mismatch", em="the program's output is not text")
                return
            # every judge's verdict, for `codeself sandbox judges` (cheap: the output is already here)
            rec["j"] = {name: bool(judges.get(name)(out, t["output"])) for name in judges.JUDGES}
            if t.get("checker"):
                ok, why = _run_checker(t["checker"], t["input"], out, t["output"])
                rec["j"]["checker"] = ok
                what = "checker" if why is None else f"checker error: {why}"
            else:
                ok, what = rec["j"][t["judge"]], f"{t['judge']} judge"
            if ok:
                rec["s"] = "passed"
            else:
                rec.update(s="failed", et="WrongAnswer", em=f"wrong answer ({what}); output: {V.clean_text(out, 200)!r}")
            return
        target = None
        try:
            sol = ch.get("Solution")
        except NameError:
            sol = None
        if isinstance(sol, Remote):
            target = getattr(sol(), entry)
        else:
            target = ch.get(entry)
        if not isinstance(target, Remote):
            rec.update(s="error", et="TypeError", em=f"{entry} is not callable")
            return
        got = target(*[json.loads(json.dumps(a)) for a in t["args"]])
        if isinstance(got, Remote):
            rec.update(s="failed", et="Mismatch", em=f"returned a {got._t}, not a value")
        elif V.strict_eq(V.listify(got), t["expected"]):
            rec["s"] = "passed"
        else:
            rec.update(s="failed", et="Mismatch", em=f"returned {V.short_repr(got)}")
    except ProgramTimeout:
        rec.update(s="timeout", em=f"per-test time limit of {float(tl):g} s exceeded", ended=False)
    except ProgramGone as e:
        rec.update(s="gone", em=V.clean_text(str(e), 300), ended=ch.ended)
    except NameError as e:
        rec.update(s="error", et="NameError", em=V.clean_text(str(e), 300))
    except BaseException as e:  # noqa: BLE001 - the program raised (or exited non-zero)
        st, et, em = _status_of(e, ch)
        rec.update(s=st, et=et, em=em)


def _run_stdout(t: dict, ch: Channel, rec: dict) -> None:
    """A raw stdin run (``mode: calls``, for the audit): the script on ``t["input"]``; its captured
    stdout comes back as a string value. Nothing is compared here."""
    tl = t.get("tl")
    try:
        out = ch.request({"op": "stdio", "input": t["input"]}, None if tl is None else float(tl) + 0.25)
        if type(out) is not str:
            rec.update(s="error", et="TypeError", em="the program's output is not text")
        else:
            rec.update(s="value", v=json.loads(V.encode(out)))
    except ProgramGone as e:
        rec.update(s="gone", em=V.clean_text(str(e), 300), ended=ch.ended)
    except BaseException as e:  # noqa: BLE001 - the script raised or exited non-zero
        st, et, em = _status_of(e, ch)
        rec.update(s=st, et=et, em=em)


def run_job(job: dict, ch: Channel, emit) -> None:
    """Run one job's tests (or calls) against the program behind ``ch``; ``emit(record)`` each result."""
    tests = job["tests"]
    start = int(job.get("start", 0))
    random.seed(0)  # a test that draws from `random` unseeded gets the same draws for every sample
    first = ch.first_event()
    emit(first)
    if first["ev"] != "imported":
        return
    base, problem = _base_namespace(job.get("setup", ""), job.get("helpers", ""))
    if problem:
        emit({"ev": "task_setup_error", "em": problem})
    entry = job.get("entry_point")
    calls = job.get("mode") == "calls"
    for k in range(start, len(tests)):
        t = tests[k]
        t0 = time.perf_counter()
        ch.seen = []
        ch.raised = None
        rec: dict = {"t": k}
        if ch.broken is not None:
            rec.update(s="gone", em=ch.broken, d=0.0, ended=ch.ended)
            emit(rec)
            continue
        if t.get("k") in ("stdin", "call"):
            _run_data_test(t, entry, ch, rec)
            rec["d"] = time.perf_counter() - t0
            emit(rec)
            continue
        if calls and t.get("k") == "stdout":
            _run_stdout(t, ch, rec)
            rec["d"] = time.perf_counter() - t0
            emit(rec)
            continue
        ns = dict(base)
        ns.update(_HELPERS)
        try:
            for name in t.get("names", ()):
                if name in base and name != entry:
                    continue
                if name != entry and (name in _BUILTIN_NAMES or name in _STDLIB):
                    if name in _STDLIB and name not in _BUILTIN_NAMES:
                        ns[name] = __import__(name)
                    continue
                try:
                    ns[name] = ch.get(name)
                except NameError:
                    pass  # the test fails with NameError where it uses the name
            if calls:
                v = eval(_compile(t["src"], "<call>", "eval"), ns)
                rec.update(s="value", v=json.loads(V.encode(v, _opaque_remote)))
            else:
                exec(_compile(t["src"], "<test>", "exec"), ns)
                rec["s"] = "passed"
        except ProgramGone as e:
            rec.update(s="gone", em=V.clean_text(str(e), 300), ended=ch.ended)
        except BaseException as e:  # noqa: BLE001 - the test (or the program through it) raised
            st, et, em = _status_of(e, ch)
            rec.update(s=st, et=et, em=em)
            if isinstance(e, MemoryError) and getattr(e, "_cs_program", None) is None:
                rec["d"] = time.perf_counter() - t0
                emit(rec)
                raise
        if ch.broken is not None and rec.get("s") in ("passed", "value"):
            rec.update(s="gone", em=ch.broken, ended=ch.ended)  # it died under a test that swallowed that
            rec.pop("v", None)
        rec["d"] = time.perf_counter() - t0
        emit(rec)


def grader_main(sock_fd: int, params: dict) -> None:
    """Body of the grader process (never returns): contain, then serve jobs from the server."""
    from codeself.sandbox import child

    sock = socket.socket(fileno=sock_fd)
    try:
        fd_null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(fd_null, fd)
        [sock_fd] = child.compact_fds([sock.detach()])
        sock = socket.socket(fileno=sock_fd)
        child.contain(scratch=None, scratch_mb=1, uid=params["uid"], gid=params["gid"],
                      namespaces=params["namespaces"], use_seccomp=params.get("seccomp", True))
        child.apply_limits({"max_file_mb": 1, "max_open_files": 64, "max_procs": 4,
                            "memory_mb": int(params["memory_mb"])}, cpu=False)
    except BaseException as e:  # noqa: BLE001
        try:
            sock.sendall((json.dumps({"ev": "grader_failed", "em": f"{type(e).__name__}: {e}"}) + "\n").encode())
        finally:
            os._exit(70)
    sys.setrecursionlimit(2000)
    buf = bytearray()
    while True:
        fds: list[int] = []
        while b"\n" not in buf:
            try:
                data, got, _flags, _addr = socket.recv_fds(sock, 1 << 20, 4)
            except OSError:
                os._exit(0)
            fds.extend(got)
            if not data:
                os._exit(0)
            buf += data
        k = buf.index(b"\n")
        line = bytes(buf[:k])
        del buf[: k + 1]
        job = json.loads(line)
        req_fd, rep_fd = fds[0], fds[1]

        def emit(rec: dict) -> None:
            sock.sendall((json.dumps(rec, separators=(",", ":"), ensure_ascii=True) + "\n").encode())

        fatal = False
        try:
            run_job(job, Channel(req_fd, rep_fd, int(job["limits"]["result_cap"])), emit)
        except MemoryError:
            fatal = True
        except BaseException as e:  # noqa: BLE001 - a grader bug must cost only this program
            emit({"ev": "grader_error", "em": V.clean_text(f"{type(e).__name__}: {e}", 300)})
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        emit({"ev": "done"})
        if fatal:
            os._exit(0)
