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
import secrets

from jaxsgd.errors import OutputError

__all__ = ["IMAGE_FORMATS", "check_output", "check_plot_path", "file_id", "is_image", "write_atomically"]

#: The image extensions a figure may have (matplotlib's file formats that need no extra TeX), each with
#: how files of that format begin: ``{extension: (first bytes, …)}``. :func:`is_image` reads it.
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
    """Checks that ``path`` can be written now without losing anything, before a run starts.

    ``path`` must not be empty, a directory, a symbolic link, one of the run's
    ``others``, or a file that may not be replaced (read-only, or not ``replaceable``);
    its folder must exist and take a new file (a probe file is created and removed)
    with a name of that length.

    Args:
      path: the output file, a ``str`` or path-like.
      argument: the argument that gave it, named in messages, e.g. ``"save"``.
      others: ``{argument: path}`` of the run's other files, which ``path`` must not be
        (``None`` entries are skipped), e.g. ``{"csv": "data.csv"}``; default none.
      replaceable: ``replaceable(path) -> bool``, whether an existing file there may be replaced.
        Without it (the default) no existing file is replaced.
      what: what a replaceable file is, named in the message when an existing file is not one
        (default ``"a file of ours"``), e.g. ``"a jaxsgd checkpoint"``.

    Returns:
      ``path`` unchanged, as a ``str``.

    Raises:
      OutputError: one line naming the problem and what to do instead.

    Example:
      >>> import os, tempfile
      >>> tmp = tempfile.TemporaryDirectory()
      >>> out = os.path.join(tmp.name, "notes.txt")
      >>> check_output(out, argument="save") == out   # nothing there yet
      True
      >>> check_output(out, argument="save", others={"csv": out})
      Traceback (most recent call last):
      ...
      jaxsgd.errors.OutputError: save .../notes.txt: is the file given as csv; choose another path
      >>> with open(out, "w") as f:
      ...     _ = f.write("the user's notes")
      >>> check_output(out, argument="save", what="a jaxsgd checkpoint")
      Traceback (most recent call last):
      ...
      jaxsgd.errors.OutputError: save .../notes.txt: exists and is not a jaxsgd checkpoint, so it is left alone; ...
      >>> check_output(out, argument="save", replaceable=lambda p: True) == out
      True
      >>> tmp.cleanup()
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
        fd, probe = _temporary_beside(path)
    except OSError as e:
        why = e.strerror
        raise OutputError(lambda n: f"{n(argument)} {shown}: cannot write in {folder}: {why}") from None
    os.close(fd)
    os.unlink(probe)
    _TEMPORARY.discard(probe)
    return path


def is_image(path) -> bool:
    r"""Whether the file at ``path`` begins like an image of the format its extension names.

    Only the first bytes are read (:data:`IMAGE_FORMATS`), so a file this program
    would not have written is not taken for a figure to replace.

    Args:
      path: the file, a ``str`` or path-like.

    Returns:
      ``True`` if the extension is an image format's and the file begins as that format does;
      ``False`` otherwise, also where nothing can be read there.

    Example:
      >>> import os, tempfile
      >>> tmp = tempfile.TemporaryDirectory()
      >>> png = os.path.join(tmp.name, "loss.png")
      >>> with open(png, "wb") as f:
      ...     _ = f.write(b"\x89PNG\r\n\x1a\n")
      >>> is_image(png), is_image(os.path.join(tmp.name, "missing.png"))
      (True, False)
      >>> os.replace(png, os.path.join(tmp.name, "loss.pdf"))
      >>> is_image(os.path.join(tmp.name, "loss.pdf"))   # a PNG named .pdf
      False
      >>> tmp.cleanup()
    """
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
    """:func:`check_output` for a figure: an image extension, and only an image of that format replaced.

    The extension sets matplotlib's format, so it must be one of :data:`IMAGE_FORMATS`;
    a file already there is replaced only if :func:`is_image` says it is an image of
    that format. Messages name the argument ``plot``.

    Args:
      path: the figure's file, a ``str`` or path-like.
      others: ``{argument: path}`` of the run's other files, which ``path`` must not be (default none).

    Returns:
      ``path`` as a ``str``.

    Raises:
      OutputError: the extension is not an image format's, or :func:`check_output` refuses ``path``.

    Example:
      >>> import os, tempfile
      >>> tmp = tempfile.TemporaryDirectory()
      >>> check_plot_path(os.path.join(tmp.name, "loss.png")).endswith("loss.png")
      True
      >>> check_plot_path("curves.txt")
      Traceback (most recent call last):
      ...
      jaxsgd.errors.OutputError: plot curves.txt: the name must end in an image extension (.png, .pdf, .svg, ...), ...
      >>> tmp.cleanup()
    """
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
    """Which file ``path`` names now: its ``(device, inode)``, not following a final symbolic link.

    A later write can then tell whether the file there is still the one checked
    before (see :func:`write_atomically`).

    Args:
      path: a ``str`` or path-like.

    Returns:
      ``(st_dev, st_ino)``, a tuple of two ints, or ``None`` if nothing is there.

    Example:
      >>> file_id("/no/such/file") is None
      True
      >>> import os, tempfile
      >>> tmp = tempfile.TemporaryDirectory()
      >>> file_id(tmp.name) == (os.stat(tmp.name).st_dev, os.stat(tmp.name).st_ino)
      True
      >>> tmp.cleanup()
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
    """Writes a file atomically: ``write(f)`` on a temporary binary file beside ``path``, then moved to ``path``.

    A reader never sees a half-written file, and on any failure the file that was
    at ``path`` stays as it was. The new file gets the usual permissions (``0o666 & ~umask``).

    The move checks ``path`` again at that moment, as the checks before a run
    (:func:`check_output`) may be minutes old: where nothing is there, the file is
    linked into place, which fails if a file appeared meanwhile (then it is judged
    as below); a file that is there is replaced only if ``replaceable`` allows it.

    Args:
      path: the file to write, a ``str`` or path-like; its folder must exist.
      write: ``write(f)``, which writes the contents to ``f``, a file open for writing bytes.
      replaceable: which file already at ``path`` may be replaced: a ``(device, inode)`` pair
        (:func:`file_id` of the file checked at start-up, or of the one this run wrote last) or a
        predicate ``replaceable(path) -> bool``. Without it (the default) nothing is replaced.
      argument: the argument that gave ``path``, named in messages, e.g. ``"save"`` (default none).

    Returns:
      The new file's :func:`file_id`, ``(device, inode)``: pass it as ``replaceable`` to write there again.

    Raises:
      OutputError: a file is there that may not be replaced, or the write failed
        (a full disk, no permission), naming ``path`` (and ``argument``) and what to do.

    Example:
      >>> import os, tempfile
      >>> tmp = tempfile.TemporaryDirectory()
      >>> out = os.path.join(tmp.name, "report.json")
      >>> first = write_atomically(out, lambda f: f.write(b'{"loss": 0.1}'))
      >>> with open(out) as f:
      ...     first == file_id(out), f.read()
      (True, '{"loss": 0.1}')
      >>> write_atomically(out, lambda f: f.write(b"{}"), argument="save")   # nothing may be replaced
      Traceback (most recent call last):
      ...
      jaxsgd.errors.OutputError: save .../report.json: a file appeared there while this run was working and is ...
      >>> second = write_atomically(out, lambda f: f.write(b"{}"), replaceable=first)
      >>> with open(out) as f:
      ...     f.read()
      '{}'
      >>> tmp.cleanup()
    """
    path = os.fspath(path)
    try:
        fd, tmp = _temporary_beside(path)
    except OSError as e:
        raise _cannot_write(path, argument, e) from None
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


def _temporary_beside(path: str) -> tuple[int, str]:
    """A new temporary file beside ``path``, opened exclusively: ``(fd, name)``; ``OSError`` if the folder
    takes none. The name is known to :func:`remove_temporary` before the file exists, so an interrupt that
    ends the process at any moment leaves no temporary file behind (``tempfile.mkstemp`` creates the file
    before its name could be recorded)."""
    folder = os.path.dirname(os.path.abspath(path))
    for _ in range(100):
        tmp = os.path.join(folder, f".jaxsgd-{secrets.token_hex(8)}.tmp")
        _TEMPORARY.add(tmp)
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), tmp
        except FileExistsError:
            _TEMPORARY.discard(tmp)  # someone else's: try another name
        except OSError:
            _TEMPORARY.discard(tmp)
            raise
    raise FileExistsError(errno.EEXIST, "no free temporary name")


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
