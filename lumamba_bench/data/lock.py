"""One writer per dataset folder: ``prepare`` holds an exclusive lock on ``.prepare.lock`` while it
writes; readers refuse to open a dataset while a writer holds it (its shards and manifest are
not complete). The lock is the operating system's (``flock``), released when its process ends,
so a lock left by a killed run is taken over by the next one; the file holds the writer's pid
only to name it in the error."""

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
        handle.close()
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
