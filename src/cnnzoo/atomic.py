"""The one way cnnzoo writes a file: a temporary file beside it, flushed to disk, renamed over it.

A reader (or a crash, a full disk, ``kill -9``) then sees the old file or the new one, never a
part of one: checkpoints, downloaded weights, hash records, recipes, metrics, charts and
exported models all go through :func:`atomic_path` or :func:`atomic_write`. The temporary
file lives in the target's directory (so the rename stays on one file system and is atomic,
POSIX ``rename(2)``) and is named ``.<name>.<pid>-<random>.cnnzoo.tmp``: only names of that
form are ever cleaned up as left-overs (:func:`is_temp_file`), and only once the process that
wrote them is gone (:func:`remove_stale_temp_files`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from .errors import WriteError

__all__ = [
    "TEMP_SUFFIX",
    "atomic_path",
    "atomic_write",
    "is_temp_file",
    "temp_files_of",
    "remove_stale_temp_files",
    "pid_alive",
    "output_file",
]

#: what every temporary file of ours ends with (it also ends with ".tmp", as users expect)
TEMP_SUFFIX = ".cnnzoo.tmp"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    # make the rename itself durable (POSIX; a no-op where directories cannot be opened)
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _line(path: str | Path) -> str:
    return repr(str(path))[1:-1]  # a name with a newline must not make a second line on stderr


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _check_target(path: Path) -> bool:
    """Whether ``path`` exists; refuses anything but a regular file. A rename over a device node
    would replace the device itself (as root, ``/dev/null``), over a link the link, not its target."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    except OSError as e:  # a parent that is a file (ENOTDIR), a name too long, no permission
        raise WriteError(f"cannot write {_line(path)}: {e.strerror}; nothing was written") from None
    if stat.S_ISREG(mode):
        return True
    kind = next((k for test, k in _KINDS if test(mode)), "not a regular file")
    raise WriteError(f"{_line(path)} is {kind}; cnnzoo writes only regular files: give another name")


class _Recorded:
    """A file proxy that keeps the ``OSError`` of a failed write. ``torch.save``'s zip writer swallows
    it and raises its own ``RuntimeError`` ("unexpected pos ..."); the kept error says what happened."""

    def __init__(self, f: BinaryIO) -> None:
        self._f, self.error = f, None  # type: tuple[BinaryIO, OSError | None]

    def write(self, data: Any) -> int:
        try:
            return self._f.write(data)
        except OSError as e:
            self.error = e
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, before_rename: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path``; on success it replaces ``path``.

    Write the new content to the yielded path (by name: ``torch.jit.save``, ``savefig`` and
    the ONNX exporter want one). When the block ends without an exception the file is
    flushed to disk (``fsync``), given the usual permissions (``0666 & ~umask``) and renamed
    over ``path``; if the block raises, the temporary file is removed and ``path`` is left
    as it was. ``before_rename`` is called with the finished temporary file just before the
    rename (a last check of its content).

    Only a regular file (or a new name) is written: a device, FIFO, directory or symbolic link
    at ``path`` is a :class:`~cnnzoo.errors.WriteError` before anything is done, and so is any
    ``OSError`` of the write (a full disk, no inodes, a read-only file system), whose message
    says whether the previous file was kept or nothing was written.
    """
    path = Path(path)
    _check_target(path)
    tmp: Path | None = None
    body = False
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=TEMP_SUFFIX, dir=path.parent)
        tmp = Path(name)
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600
        os.close(fd)
        body = True
        yield tmp
        body = False
        with open(tmp, "rb+") as f:  # the writer may have replaced the file: fsync what is there now
            os.fsync(f.fileno())  # a delayed-allocation file system reports a full disk here
        if before_rename is not None:
            before_rename(tmp)
        _check_target(path)  # again: it may have been swapped for a device while we wrote
        os.replace(tmp, path)
    except BaseException as e:  # whatever stopped it, no temporary file is left behind
        _remove(tmp)
        if isinstance(e, OSError) and not isinstance(e, WriteError) and not (body and e.errno not in _WRITE_ERRNOS):
            raise _failed(path, e) from None  # a failed write, said in one line
        raise  # ours already, or the caller's own error (a download's network error), or not an OSError
    _fsync_dir(path.parent)


#: what a failed write of a file reports, where the block that writes may raise other OSErrors too
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO, errno.EACCES, errno.EPERM}


def _failed(path: Path, error: OSError) -> WriteError:
    kept = f"the previous {_line(path.name)} is kept" if path.is_file() else "nothing was written"
    return WriteError(f"cannot write {_line(path)}: {error.strerror or error}; {kept}")


def _remove(tmp: Path | None) -> None:
    if tmp is not None:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def atomic_write(path: str | os.PathLike[str], data: bytes | str | Callable[[BinaryIO], object]) -> Path:
    """Write ``data`` (bytes, UTF-8 text, or a function writing to a binary file) atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        if callable(data):
            recorded = _Recorded(f)
            try:
                data(recorded)  # type: ignore[arg-type]
            except Exception as e:  # the write that failed, not the writer's account of it (torch.save's)
                if recorded.error is not None or isinstance(e, OSError):
                    raise _failed(Path(path), recorded.error or e) from None  # type: ignore[arg-type]
                raise
        else:
            # surrogateescape: a path of undecodable bytes in a text (a header) is written as those bytes
            f.write(data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data)
    return Path(path)


def is_temp_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is named as :func:`atomic_path` names its temporary files."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def temp_files_of(directory: str | os.PathLike[str], name: str | None = None) -> list[Path]:
    """Our temporary files in ``directory`` (of the target ``name`` only, if given)."""
    pattern = f".{name}.*{TEMP_SUFFIX}" if name is not None else f".*{TEMP_SUFFIX}"
    return sorted(p for p in Path(directory).glob(pattern) if p.is_file())


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one of another user's counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _writer_pid(path: Path) -> int | None:
    # ".<name>.<pid>-<random>.cnnzoo.tmp": the pid is what follows the last "." before "-"
    stem = path.name[: -len(TEMP_SUFFIX)]
    head, _, _ = stem.rpartition("-")
    digits = head.rpartition(".")[2]
    return int(digits) if digits.isdigit() else None


def remove_stale_temp_files(directory: str | os.PathLike[str], name: str | None = None) -> list[Path]:
    """Delete our temporary files in ``directory`` (of ``name`` only, if given) whose writing
    process is gone: what a killed download or save left. Files of live writers, and files of
    any other naming (the user's own), stay. Returns what was removed."""
    removed = []
    for tmp in temp_files_of(directory, name):
        pid = _writer_pid(tmp)
        if pid is not None and pid_alive(pid):
            continue
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def output_file(path: str | os.PathLike[str]) -> Path:
    """A file path a user gave for output, checked before any work is done as :func:`atomic_path`
    checks it when writing: a regular file or a new name, in a directory that exists."""
    path = Path(path)
    _check_target(path)
    if not path.parent.is_dir():
        raise WriteError(f"directory {_line(path.parent)} does not exist; nothing was written")
    return path
