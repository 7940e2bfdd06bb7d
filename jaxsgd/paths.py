"""Output paths, checked before a run starts: a bad path costs seconds, and nothing of the user's is replaced.

A path may be written when its folder exists and takes new files, it is not a
directory, it is not one of the run's other files (the input data, the
checkpoint resumed from), and, if a file is there already, that file is one this
program could have written (``replaceable``): a jaxsgd checkpoint for ``save``,
an image of the format its extension names for ``plot``.

>>> check_plot_path("curves.txt")
Traceback (most recent call last):
...
jaxsgd.errors.OutputError: plot curves.txt: the name must end in an image extension ...
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile

from jaxsgd.errors import OutputError

__all__ = ["IMAGE_FORMATS", "check_output", "check_plot_path", "file_id", "is_image", "write_atomically"]

# extension → how files of that format begin (matplotlib's file formats that need no extra TeX)
IMAGE_FORMATS = {
    ".png": (b"\x89PNG",),
    ".pdf": (b"%PDF",),
    ".svg": (b"<?xml", b"<svg"),
    ".svgz": (b"\x1f\x8b",),
    ".eps": (b"%!PS",),
    ".ps": (b"%!PS",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".tif": (b"II*\x00", b"MM\x00*"),
    ".tiff": (b"II*\x00", b"MM\x00*"),
    ".webp": (b"RIFF",),
}


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path, *, argument: str, others=None, replaceable=None, what: str = "a file of ours") -> str:
    """Checks that ``path`` can be written now without losing anything; returns it unchanged.

    Args:
      path: the output file.
      argument: the argument that gave it, named in messages, e.g. ``"save"``.
      others: ``{argument: path}`` of the run's other files, which ``path`` must not be
        (``None`` entries are skipped), e.g. ``{"csv": "data.csv"}``.
      replaceable: ``replaceable(path) -> bool``, whether an existing file there may be replaced;
        ``what`` names such a file in the message. Without it no existing file is replaced.

    Raises:
      OutputError: one line naming the problem and what to do instead.
    """
    path = os.fspath(path)
    if not path:
        raise OutputError(lambda n: f"{n(argument)}: an empty path; name a file")
    shown = path
    if os.path.isdir(path):
        raise OutputError(lambda n: f"{n(argument)} {shown}: is a directory; name a file in it")
    for arg, other in (others or {}).items():
        if other is not None and _same_file(path, other):
            raise OutputError(lambda n, arg=arg: f"{n(argument)} {shown}: is the file given as {n(arg)}; "
                                                    "choose another path")
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.islink(path):
        raise OutputError(lambda n: f"{n(argument)} {shown}: is a symbolic link, which writing would replace; name "
                                    "the file itself")
    if not os.path.isdir(folder):
        raise OutputError(lambda n: f"{n(argument)} {shown}: the folder {folder} does not exist; create it first")
    if os.path.lexists(path):
        if not os.path.isfile(path):
            raise OutputError(lambda n: f"{n(argument)} {shown}: exists and is not a regular file; choose another path")
        if not os.stat(path).st_mode & 0o222:  # marked read-only (root may write it, but should not replace it)
            raise OutputError(lambda n: f"{n(argument)} {shown}: exists and is read-only, so it is left alone; "
                                        "choose another path or make it writable")
        if replaceable is None or not replaceable(path):
            raise OutputError(lambda n: f"{n(argument)} {shown}: exists and is not {what}, so it is left alone; "
                                        "choose another path or move that file away")
    try:
        longest = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        longest = 255
    if len(os.fsencode(os.path.basename(path))) > longest:
        raise OutputError(lambda n: f"{n(argument)}: the file name is longer than the {longest} bytes this folder "
                                    "takes; choose a shorter name")
    try:
        fd, probe = tempfile.mkstemp(prefix=".jaxsgd-", suffix=".tmp", dir=folder)
    except OSError as e:
        why = e.strerror
        raise OutputError(lambda n: f"{n(argument)} {shown}: cannot write in {folder}: {why}") from None
    os.close(fd)
    os.unlink(probe)
    return path


def is_image(path) -> bool:
    """Whether the file at ``path`` begins like an image of the format its extension names."""
    starts = IMAGE_FORMATS.get(os.path.splitext(os.fspath(path))[1].lower())
    if not starts:
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return False
    return head.lstrip().startswith(starts)


def check_plot_path(path, *, others=None) -> str:
    """:func:`check_output` for a figure: an image extension, and only an image of that format replaced."""
    path = os.fspath(path)
    if os.path.splitext(path)[1].lower() not in IMAGE_FORMATS:
        raise OutputError(lambda n: f"{n('plot')} {path}: the name must end in an image extension (.png, .pdf, "
                                    ".svg, ...), which sets the format")
    return check_output(path, argument="plot", others=others, replaceable=is_image,
                        what="an image of that format")


def _umask() -> int:
    """The process's umask, read without changing it where the system says (Linux); else set and restored
    at once, as ``os.umask`` only reads by setting (a moment in which another thread's new file would get
    mode 0o666)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def file_id(path) -> tuple[int, int] | None:
    """``(device, inode)`` of the file at ``path`` (not following a final symbolic link), or ``None`` if
    nothing is there: which file a path names, so that a later write can tell whether it is still the one
    checked before (see :func:`write_atomically`).

    >>> file_id("/no/such/file") is None
    True
    """
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _cannot_write(path, argument, e: OSError) -> OutputError:
    """One line naming the path, why it failed and the fix (a full disk: free space or another path)."""
    why = e.strerror or str(e)

    def say(n):
        where = f"{n(argument)} {path}" if argument else path
        other = f"another {n(argument)}" if argument else "another path"
        fix = f"free space there or choose {other}" if e.errno in _FULL else f"choose {other}"
        return f"{where}: cannot write: {why}; {fix}"

    return OutputError(say)


def write_atomically(path, write, *, replaceable=None, argument: str | None = None) -> tuple[int, int]:
    """Calls ``write(f)`` on a temporary binary file beside ``path``, then moves it to ``path``; returns the
    new file's :func:`file_id`.

    A reader never sees a half-written file, and on any failure the file that was
    at ``path`` stays as it was. The new file gets the usual permissions (``0o666 & ~umask``).

    The move checks ``path`` again at that moment, as the checks before a run
    (:func:`check_output`) may be minutes old: where nothing is there, the file is
    linked into place, which fails if a file appeared meanwhile (then it is judged
    as below); a file that is there is replaced only if ``replaceable`` allows it:
    a ``(device, inode)`` pair (the file checked at start-up, or the one this run
    wrote last) or a predicate ``replaceable(path) -> bool``. Without
    ``replaceable`` nothing is replaced.

    Raises:
      OutputError: a file is there that may not be replaced, or the write failed
        (a full disk, no permission), naming ``path`` (and ``argument``, the
        argument that gave it, e.g. ``"save"``) and what to do.
    """
    path = os.fspath(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".jaxsgd-", suffix=".tmp", dir=os.path.dirname(os.path.abspath(path)))
    except OSError as e:
        raise _cannot_write(path, argument, e) from None
    _TEMPORARY.add(tmp)
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())
        except OSError as e:
            raise _cannot_write(path, argument, e) from None
        _move_into_place(tmp, path, replaceable, argument)
        return file_id(path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        _TEMPORARY.discard(tmp)


_TEMPORARY: set[str] = set()  # the temporary files of writes under way in this process


def remove_temporary() -> None:
    """Removes the temporary files of unfinished writes: for a process that must end at once (an interrupt
    that the normal path did not end in time, see :mod:`jaxsgd.cli.interrupts`)."""
    for tmp in list(_TEMPORARY):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        _TEMPORARY.discard(tmp)


def _move_into_place(tmp, path, replaceable, argument) -> None:
    try:
        os.link(tmp, path)  # atomic, and only where nothing is: a file that appeared since is not replaced
        return
    except FileExistsError:
        pass
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise _cannot_write(path, argument, e) from None
        # no hard links on this file system: claim the name exclusively, then rename over that claim
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError as e2:
            raise _cannot_write(path, argument, e2) from None
        else:
            os.replace(tmp, path)
            return
    if callable(replaceable):
        ok = not os.path.islink(path) and os.path.isfile(path) and replaceable(path)
    else:
        ok = replaceable is not None and file_id(path) == tuple(replaceable)
    if not ok:
        arg = argument
        raise OutputError(lambda n: f"{n(arg) + ' ' if arg else ''}{path}: a file appeared there while this run "
                                    "was working and is left alone; move it away or choose another path")
    try:
        os.replace(tmp, path)
    except OSError as e:
        raise _cannot_write(path, argument, e) from None
