"""A seccomp syscall filter for sandboxed processes (classic BPF, installed with ``prctl``; no library).

Denied with ``EPERM`` (the program sees an ordinary ``PermissionError``):

* every ``socket()`` — no AF_UNIX socket can reach a host socket by path or abstract name, no
  netlink, no packet sockets (``socketpair()`` stays: it connects a process only to itself);
* the kernel keyring (``add_key``, ``request_key``, ``keyctl``): per-uid kernel state that would
  otherwise outlive the program and cross to the next one;
* new namespaces and namespace changes (``unshare``, ``setns``, ``clone`` with any ``CLONE_NEW*``
  flag; ``clone3`` gets ``ENOSYS`` so the C library falls back to ``clone``, whose flags are
  checked): no user namespace, so no capabilities inside one;
* cross-process memory and tracing (``ptrace``, ``process_vm_readv/writev``), ``bpf``,
  ``perf_event_open``, ``userfaultfd``, ``io_uring_*`` (whose operations bypass this filter),
  mounting, ``chroot``, ``pivot_root``, module loading, ``kexec``, ``reboot``, swap, accounting,
  ``open_by_handle_at``.

System calls of another ABI than the native one (x32, or i386 via ``int 0x80``) kill the process.
Only x86_64 has a table here; elsewhere :func:`install` returns False and ``Result.containment``
says that no filter is active.
"""

from __future__ import annotations

import ctypes
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
EPERM, ENOSYS = 1, 38
CLONE_NEW_FLAGS = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET (and NEWTIME 0x80)

#: x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl)
X86_64_DENY = {
    "socket": 41, "ptrace": 101, "syslog": 103, "vhangup": 153, "pivot_root": 155, "chroot": 161,
    "acct": 163, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "iopl": 172,
    "ioperm": 173, "init_module": 175, "delete_module": 176, "quotactl": 179, "kexec_load": 246,
    "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310,
    "process_vm_writev": 311, "finit_module": 313, "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
}
X86_64_CLONE, X86_64_CLONE3 = 56, 435

# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06


def _ins(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def build_x86_64() -> bytes:
    """The filter program for x86_64 (see the module docstring)."""
    deny = sorted(set(X86_64_DENY.values()))
    prog = [
        _ins(_LD_W_ABS, 0, 0, 4),                                   # A = arch
        _ins(_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        _ins(_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
        _ins(_LD_W_ABS, 0, 0, 0),                                   # A = nr
        _ins(_JGE_K, 0, 1, X32_SYSCALL_BIT),
        _ins(_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
        _ins(_JEQ_K, 0, 1, X86_64_CLONE3),
        _ins(_RET_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS),
        _ins(_JEQ_K, 0, 3, X86_64_CLONE),
        _ins(_LD_W_ABS, 0, 0, 16),                                  # A = low 32 bits of clone's flags
        _ins(_JSET_K, 0, 1, CLONE_NEW_FLAGS | 0x80),
        _ins(_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM),
    ]
    # after the clone check A may hold the flags; reload nr before the deny list
    prog.append(_ins(_LD_W_ABS, 0, 0, 0))
    for nr in deny:
        prog.append(_ins(_JEQ_K, 0, 1, nr))
        prog.append(_ins(_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM))
    prog.append(_ins(_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    return b"".join(prog)


def supported() -> bool:
    return platform.machine() in ("x86_64", "AMD64") and struct.calcsize("P") == 8


_PROGRAM = build_x86_64() if supported() else b""


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


# built once, when the fork server imports this module: a forked process only makes two prctl calls
_BUF = ctypes.create_string_buffer(_PROGRAM, len(_PROGRAM)) if _PROGRAM else None
_FPROG = _SockFprog(len(_PROGRAM) // 8, ctypes.cast(_BUF, ctypes.c_void_p)) if _PROGRAM else None
_FPROG_REF = ctypes.byref(_FPROG) if _PROGRAM else None


def install(libc=None) -> bool:
    """Install the filter on the calling thread (and everything it forks afterwards).

    Sets ``no_new_privs`` first. Returns False when this architecture has no table; raises OSError
    when the kernel refuses the filter.
    """
    if not _PROGRAM:
        return False
    libc = libc or ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, _FPROG_REF, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
    return True
