"""The zygote: forked by the fork server before any job existed, it forks every sandboxed process
(program processes in a fresh PID namespace, and the grader) and reports each one's exit status.
Nothing it forks can find a job, an earlier program's source or output in memory: it never held any.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import socket

from codeself.sandbox import child as _child
from codeself.sandbox import grader as _grader
from codeself.sandbox.rootfs import _check

CLONE_NEWPID = 0x20000000
PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def zygote_main(sock: socket.socket, pid_ns_fd: int | None, namespaces: bool) -> None:
    """Fork sandboxed processes on request; report each one's exit status. Never returns."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    kids: dict[int, int] = {}  # pidfd -> pid
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    while True:
        for fd, _ev in poller.poll():
            if fd in kids:
                pid = kids.pop(fd)
                poller.unregister(fd)
                os.close(fd)
                try:
                    _, status = os.waitpid(pid, 0)
                except ChildProcessError:
                    status = -1
                sock.sendall(json.dumps({"exit": pid, "status": status}).encode())
                continue
            try:
                data, fds, _f, _a = socket.recv_fds(sock, 1 << 16, 16)
            except OSError:
                data = b""
            if not data:  # the supervisor is done: kill and reap every child, so none outlives us
                for kfd, pid in kids.items():
                    try:
                        signal.pidfd_send_signal(kfd, signal.SIGKILL)
                        os.waitpid(pid, 0)
                    except (OSError, ChildProcessError):
                        pass
                os._exit(0)
            req = json.loads(data)
            role = req["role"]
            in_ns = False
            if role == "program" and namespaces and pid_ns_fd is not None:
                in_ns = _libc.unshare(CLONE_NEWPID) == 0
            pid = os.fork()
            if pid == 0:
                try:
                    sock.close()
                    if role == "program":
                        names = req["fd_names"]
                        _child.program_main(dict(zip(names, fds, strict=True)), req["params"])
                    else:
                        _grader.grader_main(fds[0], req["params"])
                finally:
                    os._exit(71)
            if in_ns:
                _check(_libc.setns(pid_ns_fd, CLONE_NEWPID), "setns back")
            for fd in fds:
                os.close(fd)
            pidfd = os.pidfd_open(pid)
            watch = os.dup(pidfd)
            kids[watch] = pid
            poller.register(watch, select.POLLIN)
            socket.send_fds(sock, [json.dumps({"pid": pid, "in_ns": in_ns}).encode()], [pidfd])
            os.close(pidfd)


# ---- the supervisor ----------------------------------------------------------------------------------
