"""The one way cnnzoo opens a file it reads, and walks a folder of them.

Images, weights, checkpoints, recipes and the Hub's files all come through :func:`read_bytes`:
the path is opened once (a symbolic link is resolved by that one ``open``; a loop of links is
``ELOOP``), and everything after is asked of the open file, so nothing can be swapped in
between. Only a regular file is read, and only when its size, known from ``fstat`` before a byte
is read, is within the caller's bound; a recipe may also come from a pipe (``--config <(...)``),
read up to its bound. A FIFO is opened without blocking and refused, so a FIFO in an image
folder cannot hang a run; a device (``/dev/zero``, endless) is refused unread.

:func:`walk_files` scans a folder tree once per real directory (a loop of symbolic links is
entered once, not exponentially often) and yields only regular files.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from .errors import CnnzooError, shown

__all__ = ["open_file", "read_bytes", "walk_files", "env_limit", "MAX_WEIGHTS_BYTES", "MAX_TEXT_BYTES"]

#: the largest weights file or checkpoint read (``CNNZOO_MAX_WEIGHTS_BYTES``): VGG-19 with Adam's
#: two moments is about 1.7 GB
MAX_WEIGHTS_BYTES = 4 << 30
#: the largest recipe, ``config.json`` or hash record: each is a few hundred bytes
MAX_TEXT_BYTES = 1 << 20
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def env_limit(variable: str, default: int, error: type[CnnzooError]) -> int:
    """A limit: the environment ``variable`` (``_`` and ``,`` allowed: ``8_000_000_000``), else ``default``."""
    text = os.environ.get(variable, "").strip().replace("_", "").replace(",", "")
    if not text:
        return default
    if not text.isdecimal() or len(text) > 30 or int(text) < 1:  # isdigit() passes "²", which int() refuses
        raise error(f"{variable} must be a positive whole number, got {shown(os.environ[variable])}")
    return int(text)


def _kind(mode: int) -> str:
    return next((k for test, k in _KINDS if test(mode)), "not a regular file")


def open_file(
    path: str | os.PathLike[str], what: str, *, limit: int, error: type[CnnzooError], pipe: bool = False, hint: str = ""
) -> int:
    """A descriptor of the regular file ``path``, opened once and checked (see :func:`read_bytes`);
    the caller closes it. Its size, known before a byte is read, is within ``limit``."""
    name = repr(os.fspath(path))[1:-1]  # one line, whatever the name holds
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{what} {name} does not exist") from None
    except OSError as e:  # ELOOP, EACCES, ENOTDIR, ENAMETOOLONG
        raise error(f"cannot read {what} {name}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) and not (pipe and stat.S_ISFIFO(st.st_mode)):
            raise error(f"{what} {name} is {_kind(st.st_mode)}, not a file; give a regular file")
        if stat.S_ISREG(st.st_mode) and st.st_size > limit:
            raise error(f"{what} {name} is {st.st_size:,} bytes, over the limit of {limit:,}{hint}")
        os.set_blocking(fd, True)  # a pipe: wait for its writer (``<(...)``), as a shell would
    except BaseException:  # fstat and set_blocking of an open descriptor fail only as the refusals above
        os.close(fd)
        raise
    return fd


def read_bytes(
    path: str | os.PathLike[str], what: str, *, limit: int, error: type[CnnzooError], pipe: bool = False, hint: str = ""
) -> bytes:
    """The bytes of the regular file ``path`` (``what`` names it in messages: "image", "recipe").

    Refused with ``error`` (one line): a path that does not exist or cannot be opened, a loop of
    symbolic links, a directory, FIFO, device or socket (a pipe too, unless ``pipe``), and a file
    over ``limit`` bytes (``hint`` says how to raise it). Never blocks on a FIFO without a writer.
    """
    name = repr(os.fspath(path))[1:-1]
    fd = open_file(path, what, limit=limit, error=error, pipe=pipe, hint=hint)
    try:
        chunks, total = [], 0
        while chunk := os.read(fd, min(1 << 24, limit + 1 - total)):  # a file that grows is not read past its bound
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise error(f"{what} {name} holds more than {limit:,} bytes{hint}")
        if not chunks and stat.S_ISFIFO(os.fstat(fd).st_mode):  # a named FIFO nobody writes reads as empty
            raise error(f"{what} {name} is a FIFO that nobody writes, not a regular file; give a file")
        return b"".join(chunks)
    except OSError as e:  # EIO, EISDIR on a file system that lets a directory be opened
        raise error(f"cannot read {what} {name}: {e.strerror}") from None
    finally:
        os.close(fd)


def walk_files(folder: str | os.PathLike[str], *, max_depth: int = 32) -> Iterator[Path]:
    """The regular files under ``folder`` (following symbolic links), sorted by name at each level,
    each real directory entered once and at most ``max_depth`` levels down: a loop of links, which
    ``os.walk(followlinks=True)`` enters again at each level, is entered once. FIFOs, devices and
    sockets are left out (reading one would block or never end); so are unreadable folders."""
    seen: set[tuple[int, int]] = set()

    def walk(directory: Path, depth: int) -> Iterator[Path]:
        try:
            st = os.stat(directory)
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        for entry in entries:
            try:
                is_dir, is_file = entry.is_dir(), entry.is_file()  # both follow links; a broken link is neither
            except OSError:  # ELOOP
                continue
            if is_file:
                yield Path(entry.path)
            elif is_dir and depth < max_depth:
                yield from walk(Path(entry.path), depth + 1)

    yield from walk(Path(folder), 0)
