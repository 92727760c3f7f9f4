"""The program's side: the process that runs untrusted code (forked from a zygote that never held a
job), and the containment steps shared with the grader process.

The program's process never sees a test. It receives the program and the task's setup code, runs
them, reports whether that worked, and then only answers requests from the grader
(:mod:`codeself.sandbox.grader`): *get* a module-level name, *call* a handle with arguments, read an
*attr*\\ ibute, an *item*, iterate (*iter*/*next*), take a *len*. Each answer is a value in the
type-preserving encoding of :mod:`codeself.sandbox.values`, or a handle for an object that is not a
value, or the exception the program raised. Whatever the program does to its own process — patch
this module, rebind builtins, write to any descriptor it can find — it can only change the answers
it gives, which are graded against expectations it never sees, or break its own channel, which
fails its own tests.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import random
import resource
import signal
import sys
import time
from builtins import (  # noqa: UP029 - bound here: a program that rebinds builtins cannot change the harness
    BaseException,
    InterruptedError,
    NameError,
    StopIteration,
    ValueError,
    bytes,
    compile,
    dict,
    exec,
    getattr,
    iter,
    len,
    memoryview,
    next,
    repr,
    str,
    type,
)

from codeself.sandbox import seccomp
from codeself.sandbox import values as V

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 2, 4, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)
_os_write = os.write
_os_read = os.read
_os_exit = os._exit
_perf = time.perf_counter
_scan_once = json.JSONDecoder().scan_once  # the C scanner: no Python-level builtin is looked up


def _json_loads(data):
    return _scan_once(data.decode("utf-8") if type(data) is bytes else data, 0)[0]



#: the environment every sandboxed process gets (HOME and TMPDIR are its scratch)
def scrubbed_env(scratch: str) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": scratch, "TMPDIR": scratch, "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}


def _setrlimit(which, soft, hard=None) -> None:
    hard = soft if hard is None else hard
    try:
        resource.setrlimit(which, (soft, hard))
    except (ValueError, OSError):
        cur = resource.getrlimit(which)
        resource.setrlimit(which, (min(soft, cur[1]) if cur[1] >= 0 else soft, cur[1]))


def apply_limits(limits: dict, *, cpu: bool = True) -> None:
    """The per-job rlimits (lowering works after the uid drop); address space last."""
    if cpu:
        c = max(1, int(float(limits["cpu_s"]) + 0.999))
        _setrlimit(resource.RLIMIT_CPU, c, c + 1)
    _setrlimit(resource.RLIMIT_FSIZE, int(limits["max_file_mb"]) << 20)
    _setrlimit(resource.RLIMIT_NOFILE, int(limits["max_open_files"]))
    _setrlimit(resource.RLIMIT_NPROC, int(limits["max_procs"]))
    _setrlimit(resource.RLIMIT_AS, int(limits["memory_mb"]) << 20)


def _mount_tmpfs(dst: str, opts: str) -> None:
    if _libc.mount(b"tmpfs", dst.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, opts.encode()) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount tmpfs on {dst}: {os.strerror(e)}")


def contain(*, scratch: str | None, scratch_mb: int, uid: int | None, gid: int | None, namespaces: bool,
            cgroup_fds: tuple[int, ...] = (), use_seccomp: bool = True) -> str:
    """Confine the calling (freshly forked, still privileged) process before untrusted bytes arrive.

    With ``namespaces`` (root): a private mount and IPC namespace, a fresh tmpfs of ``scratch_mb``
    MiB on ``/tmp`` owned by ``uid`` (the scratch dies with the mount namespace, i.e. with the
    program), then the uid drop, ``no_new_privs`` and the seccomp filter. Returns the scratch path
    (``scratch`` is used as given when namespaces are off). The caller applies job rlimits later.
    """
    for fd in cgroup_fds:  # join the program's cgroups (memory, pids) before anything else
        os.write(fd, b"0")
    if not namespaces:
        os.setpgid(0, 0)  # no PID namespace: the server kills the process group
    if namespaces:
        if _libc.unshare(CLONE_NEWNS | CLONE_NEWIPC) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS|CLONE_NEWIPC)")
        if _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            raise OSError(ctypes.get_errno(), "make / private")
        if scratch is not None:  # the program's own scratch
            owner = f",uid={uid},gid={gid}" if uid is not None else ""
            _mount_tmpfs(scratch, f"size={int(scratch_mb)}m,mode=0700,nr_inodes=65536{owner}")
    if scratch is not None:
        os.chdir(scratch)
    else:
        os.chdir("/")
    os.umask(0o077)
    _setrlimit(resource.RLIMIT_CORE, 0)
    env = scrubbed_env(scratch or "/")
    os.environ.clear()
    os.environ.update(env)
    if uid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        if os.geteuid() == 0 or os.getuid() == 0:
            raise OSError("could not drop root privileges")
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if use_seccomp:
        seccomp.install(_libc)
    else:
        _libc.prctl(seccomp.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    return scratch or "/"


def compact_fds(keep: list[int], base: int = 200) -> list[int]:
    """Move ``keep`` to descriptors ``base, base+1, ...`` and close every other one above 2."""
    moved = []
    for i, fd in enumerate(keep):
        os.dup2(fd, base + 100 + i, inheritable=False)
        moved.append(base + 100 + i)
    out = []
    for i, fd in enumerate(moved):
        os.dup2(fd, base + i, inheritable=False)
        out.append(base + i)
    os.closerange(3, base)
    os.closerange(base + len(keep), 1 << 16)
    return out


def read_all(fd: int, cap: int) -> bytes:
    parts, n = [], 0
    while True:
        chunk = _os_read(fd, 1 << 20)
        if not chunk:
            break
        n += len(chunk)
        if n > cap:
            raise ValueError("job too large")
        parts.append(chunk)
    return b"".join(parts)


def _err(e: BaseException) -> str:
    try:
        msg = str(e)
    except BaseException:  # noqa: BLE001
        msg = "<unprintable>"
    return '"et":' + V._enc_str(V.clean_text(type(e).__name__, 100)) + ',"em":' + V._enc_str(V.clean_text(msg, 500))


class _Replier:
    """Writes answers to the grader; registers handles for objects that are not values."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.handles: list = []

    def handle(self, obj) -> str:
        self.handles.append(obj)
        return ('{"$h":' + str(len(self.handles) - 1) + ',"t":' + V._enc_str(V.type_name(obj)) + ',"r":'
                + V._enc_str(V.safe_repr(obj)) + "}")

    def send(self, text: str) -> None:
        data = memoryview((text + "\n").encode("utf-8", "replace"))
        while len(data):
            try:
                data = data[_os_write(self.fd, data):]
            except InterruptedError:
                continue
            except BaseException:  # noqa: BLE001 - the grader is gone: nothing more to do
                _os_exit(0)

    def value(self, v, d: float) -> None:
        try:
            enc = V.encode(v, self.handle)
        except BaseException as e:  # noqa: BLE001
            self.send('{"ok":false,"stage":"encode","d":' + repr(d) + "," + _err(e) + "}")
            return
        self.send('{"ok":true,"d":' + repr(d) + ',"v":' + enc + "}")


def _lines(fd: int):
    buf = bytearray()
    while True:
        k = buf.find(b"\n")
        if k >= 0:
            line = bytes(buf[:k])
            del buf[: k + 1]
            yield line
            continue
        chunk = _os_read(fd, 1 << 16)
        if not chunk:
            return
        buf += chunk


def program_main(fds: dict, params: dict) -> None:
    """Body of the program's process. Never returns."""
    rep = _Replier(fds["rep"])
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fds["stdout"], 1)
        os.dup2(fds["stderr"], 2)
        rep.fd, req, job_fd, *cg = compact_fds([fds["rep"], fds["req"], fds["job"], *params.get("cgroup_fds", ())])
        fds = dict(fds, rep=rep.fd, req=req, job=job_fd)
        scratch = contain(scratch=params["scratch"], scratch_mb=params["scratch_mb"], uid=params["uid"],
                          gid=params["gid"], namespaces=params["namespaces"],
                          cgroup_fds=tuple(cg), use_seccomp=params.get("seccomp", True))
        for fd in cg:
            os.close(fd)
        job = _json_loads(read_all(fds["job"], 256 << 20))
        os.close(fds["job"])
        apply_limits(job["limits"])
        random.seed(0)
        sys.argv = ["solution"]
        gc.enable()
    except BaseException as e:  # noqa: BLE001 - containment failed: never run the program
        rep.send('{"ev":"setup_failed",' + _err(e) + "}")
        _os_exit(70)
    del scratch
    rep.send('{"ev":"contained"}')  # before any program code: a later "setup_failed" is forged
    _serve(job, rep, fds["req"], sys.stdout.flush, sys.stderr.flush)


def _serve(job: dict, rep: _Replier, req_fd: int, out_flush, err_flush) -> None:
    g = {"__name__": "solution", "__builtins__": __builtins__}
    t0 = _perf()
    try:
        code = compile(job["program"], "<solution>", "exec", dont_inherit=True)
    except BaseException as e:  # noqa: BLE001
        rep.send('{"ev":"syntax_error",' + _err(e) + "}")
        _finish(out_flush, err_flush)
    script = bool(job.get("script"))
    try:
        if not script:  # a stdin program runs once per test (op "stdio"), not at import
            exec(code, g)
    except BaseException as e:  # noqa: BLE001
        rep.send('{"ev":"import_error","d":' + repr(_perf() - t0) + "," + _err(e) + "}")
        _finish(out_flush, err_flush)
    setup = job.get("setup") or ""
    if setup:
        try:
            exec(compile(setup, "<setup>", "exec", dont_inherit=True), g)
        except BaseException as e:  # noqa: BLE001
            rep.send('{"ev":"setup_error","d":' + repr(_perf() - t0) + "," + _err(e) + "}")
            _finish(out_flush, err_flush)
    rep.send('{"ev":"imported","d":' + repr(_perf() - t0) + "}")
    handles = rep.handles

    def resolve(h, _t, _r):
        return handles[h]

    for line in _lines(req_fd):
        t1 = _perf()
        try:
            req = _json_loads(line)
            op = req["op"]
            if op == "stdio":
                v = _run_script(code, req["input"], int(job["limits"]["output_cap"]))
            elif op == "get":
                name = req["n"]
                if name not in g:
                    raise NameError(f"name {name!r} is not defined")
                v = g[name]
            else:
                obj = handles[req["h"]]
                if op == "call":
                    args = [V.decode(a, handle=resolve) for a in req.get("a", ())]
                    kwargs = {k: V.decode(x, handle=resolve) for k, x in req.get("k", ())}
                    v = obj(*args, **kwargs)
                elif op == "attr":
                    v = getattr(obj, req["n"])
                elif op == "item":
                    v = obj[V.decode(req["k"], handle=resolve)]
                elif op == "iter":
                    v = iter(obj)
                elif op == "next":
                    try:
                        v = next(obj)
                    except StopIteration:
                        rep.send('{"ok":true,"stop":true,"d":' + repr(_perf() - t1) + "}")
                        continue
                elif op == "len":
                    v = len(obj)
                else:
                    raise ValueError(f"unknown request {op!r}")
        except BaseException as e:  # noqa: BLE001 - the program raised: the grader re-raises it
            rep.send('{"ok":false,"d":' + repr(_perf() - t1) + "," + _err(e) + "}")
            continue
        rep.value(v, _perf() - t1)
    _finish(out_flush, err_flush)


class ScriptExit(Exception):
    """The script exited with a non-zero status (a runtime error for a stdin test)."""


def _run_script(code, text: str, cap: int) -> str:
    """Run a stdin program once: ``text`` on fd 0, fd 1 captured, both as memory files (any size, no
    pipe to fill); a fresh ``__main__`` namespace per test. Returns what it wrote to stdout."""
    import builtins
    import io

    fin = os.memfd_create("stdin")
    fout = os.memfd_create("stdout")
    saved_in, saved_out = os.dup(0), os.dup(1)
    old_in, old_out = sys.stdin, sys.stdout
    data = text.encode("utf-8")
    view = memoryview(data)
    while len(view):
        view = view[os.write(fin, view):]
    os.lseek(fin, 0, 0)
    os.dup2(fin, 0)
    os.dup2(fout, 1)
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8",
                                 errors="replace")
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8",
                                  errors="replace")
    status = 0
    try:
        exec(code, {"__name__": "__main__", "__builtins__": builtins})
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        try:
            sys.stdout.flush()
        except BaseException:  # noqa: BLE001
            pass
        sys.stdin, sys.stdout = old_in, old_out
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)
        os.close(fin)
    try:
        size = os.lseek(fout, 0, 2)
        os.lseek(fout, 0, 0)
        out = os.read(fout, min(size, cap + 1)) if size else b""
    finally:
        os.close(fout)
    if status:
        raise ScriptExit(f"exit status {status}")
    if size > cap:
        raise ScriptExit(f"output longer than {cap} bytes")
    return out.decode("utf-8", "replace")


def _finish(out_flush, err_flush) -> None:
    for f in (out_flush, err_flush):
        try:
            f()
        except BaseException:  # noqa: BLE001
            pass
    _os_exit(0)
