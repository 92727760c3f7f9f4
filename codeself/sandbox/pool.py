"""Pools of warm fork servers (the process side of the sandbox; see :mod:`codeself.sandbox.server`).

A :class:`LocalPool` starts ``n`` servers lazily and feeds each up to ``depth`` jobs at a time from
the calling threads. A server that dies is replaced; its cgroups are removed. The only thing read
from a server is its reply line, whose size the server bounds.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time

from codeself.sandbox.config import SandboxConfig


class ServerDied(RuntimeError):
    pass


class _ServerProc:
    """The main-process handle of one fork server (``python -m codeself.sandbox.server``)."""

    def __init__(self, index: int, config: SandboxConfig) -> None:
        self.index = index
        settings = {"index": index, "uid_base": config.uid_base, "namespaces": config.namespaces,
                    "hide_paths": list(config.hide_paths), "preimport": list(config.preimport),
                    "scratch_mb": config.scratch_mb}
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
        pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = pkg_root
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codeself.sandbox.server", json.dumps(settings)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd="/", close_fds=True,
            start_new_session=True,  # no controlling terminal for the server or its children
        )
        self._buf = bytearray()
        self._wlock = threading.Lock()
        self._cond = threading.Condition()
        self._sent = self._received = 0
        self._replies: dict[int, dict] = {}
        self._reading = False
        self.dead: str | None = None
        hello = self._readline(60.0)
        if hello is None:
            self.close()
            raise ServerDied("sandbox server did not start (no ready line)")
        info = json.loads(hello)
        if not info.get("ready"):
            self.close()
            raise ServerDied(f"sandbox server failed to start: {info.get('error')}")
        self.info = info
        self.cgroups = [p for p in info.get("cgroups", []) if isinstance(p, str) and "/codeself-sbx-" in p]
        for note in info.get("notes", []):
            print(f"codeself sandbox: {note}", file=sys.stderr)

    def _readline(self, timeout: float) -> bytes | None:
        """One line from the server; the buffer is scanned once (a long reply costs linear time)."""
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        buf = self._buf
        start = 0
        while True:
            k = buf.find(b"\n", start)
            if k >= 0:
                line = bytes(buf[:k])
                del buf[: k + 1]
                return line
            start = len(buf)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            buf += chunk

    def call(self, job: dict, timeout: float) -> dict:
        """Send one job and wait for its reply. Several threads may call at once (pipelining): the
        server answers in order, and whichever waiting caller is free reads the next reply.

        On the wire: a header line ``{"limits", "clen", "glen"}``, then the program's part and the
        grader's part (see :func:`codeself.sandbox.api.wire_job`), which the server forwards as bytes."""
        head = json.dumps({"limits": job["limits"], "clen": len(job["program"]), "glen": len(job["grader"])})
        data = head.encode() + b"\n" + job["program"] + job["grader"]
        with self._wlock:
            if self.dead:
                raise ServerDied(self.dead)
            seq = self._sent
            self._sent += 1
            try:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError) as e:
                self._fail(f"sandbox server {self.index} is gone: {e}")
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                while True:
                    if seq in self._replies:
                        return self._replies.pop(seq)
                    if self.dead:
                        raise ServerDied(self.dead)
                    if not self._reading:
                        self._reading = True
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise ServerDied(f"sandbox server {self.index} did not answer within {timeout:.0f} s")
                    self._cond.wait(left)
            line = self._readline(max(0.0, deadline - time.monotonic()))
            with self._cond:
                self._reading = False
                if line is None:
                    self.dead = f"sandbox server {self.index} died or did not answer within {timeout:.0f} s"
                    self._cond.notify_all()
                    self._fail(self.dead)
                self._replies[self._received] = json.loads(line)
                self._received += 1
                self._cond.notify_all()

    def _fail(self, why: str) -> None:
        self.dead = why
        try:
            self.proc.kill()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self._remove_cgroups()
        raise ServerDied(why)

    def alive(self) -> bool:
        return not self.dead and self.proc.poll() is None

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._remove_cgroups()

    def _remove_cgroups(self, wait_s: float = 10.0) -> None:
        """Remove the server's cgroups once its last program process is gone (the server cannot: its
        filesystem view has no /sys). Programs killed with the server may take a moment to leave."""
        paths = list(getattr(self, "cgroups", []))
        if not paths:
            return

        def remove() -> None:
            deadline = time.monotonic() + wait_s
            left = list(paths)
            while left and time.monotonic() < deadline:
                for path in list(left):
                    try:
                        os.rmdir(path)
                        left.remove(path)
                    except FileNotFoundError:
                        left.remove(path)
                    except OSError:
                        pass
                if left:
                    time.sleep(0.05)
            if left and os.environ.get("CODESELF_CGROUP_DEBUG"):
                with open(os.environ["CODESELF_CGROUP_DEBUG"], "a") as f:
                    for p in left:
                        f.write(f"left {p} {open(p + '/tasks').read().split()}\n")

        remove_fast = threading.Thread(target=remove, name="codeself-cgroup-cleanup", daemon=True)
        remove_fast.start()
        remove_fast.join(None if _EXITING else 0.5)  # usually done at once; else it finishes in the background


class LocalPool:
    """``n`` warm fork servers, each fed up to ``depth`` jobs at a time by the calling threads.

    With ``depth`` 2 a server always has its next job queued while the caller grades the previous
    result, so it never idles waiting for the caller (this matters most on a loaded machine).
    """

    def __init__(self, n: int, config: SandboxConfig, depth: int = 2) -> None:
        self.n = n
        self.depth = depth
        self.config = config
        self._lock = threading.Lock()
        self._servers: list[_ServerProc] = []
        self._load: dict[int, int] = {}
        self._closed = False
        self._starting = 0
        self.started = 0  # servers started over the pool's life (a test checks --workers 1 starts one)
        self._cond = threading.Condition(self._lock)
        self.mode: str | None = None

    @property
    def _idle(self) -> list[_ServerProc]:  # the live servers (name kept for the bench's CPU accounting)
        return list(self._servers)

    def _drop_dead(self) -> None:
        """Forget servers that died (closing them removes their cgroups). Called with the lock held."""
        dead = [s for s in self._servers if not s.alive()]
        if dead:
            self._servers = [s for s in self._servers if s.alive()]
            for s in dead:
                if self._load.get(id(s), 0) <= 0:
                    self._load.pop(id(s), None)
                    threading.Thread(target=s.close, name="codeself-server-close", daemon=True).start()

    def _acquire(self) -> _ServerProc:
        with self._lock:
            self._drop_dead()
            live = sorted(self._servers, key=lambda s: self._load.get(id(s), 0))
            # a server being started counts against n: two threads never both start the last one
            if live and (len(live) + self._starting >= self.n or self._load.get(id(live[0]), 0) == 0):
                srv = live[0]
                self._load[id(srv)] = self._load.get(id(srv), 0) + 1
                return srv
            while not live and self._starting >= self.n:
                self._cond.wait(1.0)
                self._drop_dead()
                live = list(self._servers)
                if live:
                    srv = live[0]
                    self._load[id(srv)] = self._load.get(id(srv), 0) + 1
                    return srv
            self._starting += 1
            self.started += 1
            used = {s.index for s in self._servers}
            index = next(i for i in range(self.n + 1) if i not in used) % max(1, self.n)
        try:
            srv = _ServerProc(index, self.config)  # may raise ServerDied
        finally:
            with self._lock:
                self._starting -= 1
                self._cond.notify_all()
        with self._lock:
            self._servers.append(srv)
            self._load[id(srv)] = 1
            self._cond.notify_all()
        self.mode = srv.info.get("mode")
        return srv

    def _release(self, srv: _ServerProc) -> None:
        with self._lock:
            self._load[id(srv)] = self._load.get(id(srv), 1) - 1
            if not srv.alive() or self._closed:
                if srv in self._servers:
                    self._servers.remove(srv)
                if self._load.get(id(srv), 0) <= 0:
                    self._load.pop(id(srv), None)
                    closing = True
                else:
                    closing = False
            else:
                closing = False
        if closing:
            srv.close()

    def execute(self, job: dict) -> dict:
        """Run one job; returns the server's reply or ``{"infra_error": …}``."""
        timeout = (float(job["limits"]["timeout_s"]) + 30.0) * self.depth
        last = None
        for _attempt in range(2):
            try:
                srv = self._acquire()
            except ServerDied as e:
                last = str(e)
                continue
            try:
                return srv.call(job, timeout)
            except ServerDied as e:
                last = str(e)
                continue
            finally:
                self._release(srv)
        return {"infra_error": last or "sandbox server failure"}

    def close(self) -> None:
        with self._lock:
            self._closed = True
            servers, self._servers = self._servers, []
        for s in servers:
            s.close()


_POOLS: dict[tuple, LocalPool] = {}
_POOLS_LOCK = threading.Lock()


_POOLS_PID = os.getpid()


def get_pool(config: SandboxConfig, workers: int | None = None) -> LocalPool:
    global _POOLS_PID
    n = workers or config.n_workers()
    key = (n, config.server_key())
    with _POOLS_LOCK:
        if _POOLS_PID != os.getpid():  # a forked copy of a process with pools: never share its servers
            _POOLS.clear()
            _POOLS_PID = os.getpid()
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = LocalPool(n, config)
        return pool


_EXITING = False


def _at_exit() -> None:
    global _EXITING
    _EXITING = True  # daemon threads die with the interpreter: wait for the cgroup cleanup instead
    close_pools()


atexit.register(_at_exit)


def close_pools() -> None:
    """Stop every warm server (also registered at exit)."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values()) if _POOLS_PID == os.getpid() else []
        _POOLS.clear()
    for p in pools:
        p.close()


