"""One writer or many readers per dataset folder: ``prepare`` holds an exclusive lock on
``.prepare.lock`` while it writes; a reader (``run``, ``pretrain``, ``analyze``: every open
``ShardDataset``) holds a shared one for its whole life. So a reader refuses a dataset being
written (its shards and manifest are not complete), and ``prepare`` refuses to rewrite one that
is being read (a ``--force`` under a running ``run`` would change its data under it). The lock is
the operating system's (``flock``), released when its process ends, so a lock left by a killed
run is taken over by the next one; the file holds the writer's pid only to name it in the error."""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lumamba_bench.errors import LumambaError

LOCK_FILE = ".prepare.lock"

try:
    import fcntl
except ImportError:  # not POSIX: no advisory locks
    fcntl = None


def _open_lock(path: Path, flags: int):
    """The lock file, never through a link: a link at its place would have ``prepare`` truncate
    and write whatever file it points at. Refused, naming it, when it is not a regular file."""
    try:
        fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as error:
        if path.is_symlink():
            raise LumambaError(f"{path} is a symbolic link; remove it (prepare writes its lock there)") from None
        raise LumambaError(f"{path}: cannot open the dataset's lock file ({error.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise LumambaError(f"{path} is not a regular file; remove it (prepare writes its lock there)")
    return os.fdopen(fd, "r+" if flags & os.O_RDWR else "r")


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


@contextmanager
def writer_lock(dataset_dir: Path) -> Iterator[None]:
    """Hold the dataset's exclusive lock, or fail at once naming the process that holds it."""
    dataset_dir.mkdir(parents=True, exist_ok=True)
    path = dataset_dir / LOCK_FILE
    if fcntl is None:
        warnings.warn(
            f"no file locks on this platform: nothing stops a second prepare into {dataset_dir}", stacklevel=3
        )
        yield
        return
    handle = _open_lock(path, os.O_RDWR | os.O_CREAT)  # held open for the whole run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        readers_only = _can_share(handle)
        handle.close()
        if readers_only:
            raise LumambaError(
                f"{dataset_dir} is being read (a run, pretrain or analyze has it open); preparing it now would "
                "change its data under that reader: wait for it to finish (or stop it) and run again"
            ) from None
        raise LumambaError(
            f"{dataset_dir} is being prepared by another process (pid {_holder(path)}); "
            "wait for it to finish (or stop it) and run again"
        ) from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _can_share(handle) -> bool:
    """Whether only readers hold the lock (a shared hold is granted), released at once."""
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(handle, fcntl.LOCK_UN)
    return True


def hold_for_reading(dataset_dir: Path):
    """A shared hold on the dataset until the returned handle is closed (or its process ends);
    refused at once while ``prepare`` writes it. None where there is nothing to hold: no file
    locks on this platform, or a read-only folder with no lock file (nothing can prepare there)."""
    path = Path(dataset_dir) / LOCK_FILE
    if fcntl is None:
        return None
    if not (path.exists() or path.is_symlink()) and not os.access(dataset_dir, os.W_OK):
        return None
    handle = _open_lock(path, os.O_RDONLY | os.O_CREAT)
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise LumambaError(
            f"{dataset_dir} is being prepared right now (pid {_holder(path)}); its shards are not complete: "
            "wait for prepare to finish"
        ) from None
    return handle


@contextmanager
def reading(dataset_dir: Path) -> Iterator[None]:
    """``hold_for_reading`` for the duration of a ``with`` block."""
    handle = hold_for_reading(dataset_dir)
    try:
        yield
    finally:
        if handle is not None:
            handle.close()


def check_no_writer(dataset_dir: Path) -> None:
    """Refuse to read a dataset that a ``prepare`` is writing right now."""
    path = Path(dataset_dir) / LOCK_FILE
    if fcntl is None or not (path.exists() or path.is_symlink()):
        return
    with _open_lock(path, os.O_RDONLY) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LumambaError(
                f"{dataset_dir} is being prepared right now (pid {_holder(path)}); its shards are not complete: "
                "wait for prepare to finish"
            ) from None
        fcntl.flock(handle, fcntl.LOCK_UN)
