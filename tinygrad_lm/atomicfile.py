"""Files that cannot be half-written: ``atomic_write(path)`` (a temporary file next to ``path``, fsynced, then
renamed over it), used by checkpoints, ``tg.save`` and every file a run writes. Below every other module
of the library (it knows only the operating system), so tensor-level code can use it."""
from __future__ import annotations

import contextlib
import glob
import os
import signal
import tempfile
import threading

TEMP_SUFFIX = ".tmp"  # temporaries are named <file>.<pid>.<random>.tmp


@contextlib.contextmanager
def atomic_write(path):
    """``with atomic_write(path) as f: f.write(...)``: ``path`` holds the old bytes or all the new ones.

    The bytes go to a temporary file next to ``path`` (same file system, so the rename is atomic),
    fsynced, given the permissions a plain ``open`` would (``0666 & ~umask``; mkstemp's are 0600)
    and renamed over ``path``. On any exception, KeyboardInterrupt or SIGTERM the temporary file is
    removed; one left by a ``kill -9`` (whose process is gone) is removed by the next write.
    """
    path = os.path.abspath(os.fspath(path))
    folder, base = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    _remove_stale_temporaries(folder, base)
    previous, tmp = _sigterm_raises(), None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{base}.{os.getpid()}.", suffix=TEMP_SUFFIX)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
        if isinstance(e, _Terminated):  # now die of the signal as if we had not intervened
            signal.signal(signal.SIGTERM, previous)
            signal.raise_signal(signal.SIGTERM)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class _Terminated(BaseException):
    """SIGTERM arrived while a file was being written: unwind, removing the temporary, then die of it."""


def _sigterm_raises():
    """Make SIGTERM raise _Terminated (main thread only, unless it is ignored); the previous handler or None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    current = signal.getsignal(signal.SIGTERM)
    if current is signal.SIG_IGN:
        return None

    def handler(signum, frame):
        raise _Terminated

    signal.signal(signal.SIGTERM, handler)
    return signal.SIG_DFL if current is None else current


def _remove_stale_temporaries(folder: str, base: str) -> None:
    """Temporaries of ``base`` whose writer process is gone (killed with -9, or a crashed machine)."""
    for tmp in glob.glob(os.path.join(glob.escape(folder), f"{glob.escape(base)}.*{TEMP_SUFFIX}")):
        pid = tmp[len(os.path.join(folder, f"{base}.")):].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                os.remove(tmp)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own temporaries are never in use between two writes
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
