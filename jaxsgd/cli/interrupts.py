"""Ctrl-C and SIGTERM end a command within a second or two, with one line and exit code 130 (143).

Python runs a signal handler only between bytecodes of the main thread, so an
interrupt that arrives while the main thread is inside a long native call
(compiling, a collective, a compiled epoch) waits for it, and one raised inside
a garbage-collection callback is printed as "Exception ignored" and lost. Two
layers make every interrupt count:

- the handler raises :class:`KeyboardInterrupt` as usual (the normal path:
  ``finally`` blocks run, the command prints ``interrupted`` and returns 130);
- the C-level handler also writes the signal's number to a wake-up socket
  (``signal.set_wakeup_fd``) at once, whatever the main thread is doing; a
  watchdog thread reading it gives the normal path :data:`GRACE` seconds, then
  removes the temporary files of unfinished writes, prints the line and ends
  the process (``os._exit``). Files are written to a temporary name and moved
  into place in one step (:func:`jaxsgd.paths.write_atomic`), so the last
  complete checkpoint is never half-written.

In a multi-process run, the runtime installs its own SIGTERM handler (a
preemption notice that lets the run go on); :func:`install` is called again
after joining, so that SIGTERM ends the process here too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading

GRACE = 1.5  # seconds the normal path has before the watchdog ends the process
CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}

PARENT = "JAXSGD_LAUNCHER_PID"  # set by jaxsgd launch for its workers

_state: dict = {"socket": None, "signal": None, "grace": GRACE, "deferred": 0, "pending": False}


def _handler(signum, frame):
    _state["signal"] = signum
    if _state["deferred"]:
        _state["pending"] = True
        return
    if _in_gc_callback(frame):  # raised there, it would be printed as "Exception ignored" and lost
        threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()  # delivered again, a moment later
        return
    raise KeyboardInterrupt


def _in_gc_callback(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_name.endswith("gc_callback"):  # jaxlib's _xla_gc_callback runs inside gc.collect
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def deferred():
    """An interrupt inside waits for the block's end: for importing JAX, whose native start-up code aborts
    the process (C++ ``terminate``) when Python raises inside it. The watchdog still ends the process
    :data:`GRACE` seconds after the signal."""
    _state["deferred"] += 1
    try:
        yield
    finally:
        _state["deferred"] -= 1
        if not _state["deferred"] and _state["pending"]:
            _state["pending"] = False
            raise KeyboardInterrupt


def received() -> int | None:
    """The signal that interrupted this process, if one did."""
    return _state["signal"]


def exit_code() -> int:
    """130 for Ctrl-C (SIGINT), 143 for SIGTERM, as a shell reports a process ended by them."""
    return CODES.get(_state["signal"], 130)


def _watchdog(reader: socket.socket) -> None:
    while True:
        try:
            data = reader.recv(16)
        except OSError:
            return
        signums = [b for b in data if b in CODES]
        if not signums:
            continue
        _state["signal"] = _state["signal"] or signums[0]
        threading.Event().wait(_state["grace"])  # the normal path usually ends the process in this time
        _force_exit()


def exit_now() -> None:
    """Ends the process now with :func:`exit_code`, after flushing the output and removing the temporary files
    of unfinished writes: the normal path of an interrupted command (an interpreter shutdown while JAX's
    compiler threads run can crash)."""
    _force_exit(say=False)


def _force_exit(say: bool = True) -> None:
    with contextlib.suppress(Exception):
        from jaxsgd import paths

        paths.remove_temporary()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    if say:
        with contextlib.suppress(OSError):
            os.write(2, b"interrupted\n")
    os._exit(exit_code())


def install(grace: float = GRACE) -> None:
    """Installs the handlers for SIGINT and SIGTERM, and the watchdog (once), which ends the process
    ``grace`` seconds after a signal; main thread only.

    A worker of ``jaxsgd launch`` also asks the kernel for SIGTERM when the launcher dies (Linux), so a
    killed launcher leaves no orphans, and unblocks SIGINT and SIGTERM, which the launcher starts it with
    blocked.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    _state["grace"] = grace
    _follow_launcher()
    for signum in CODES:
        if signum == signal.SIGINT and signal.getsignal(signum) is signal.SIG_IGN:
            continue  # a background job of a script: the shell asked for Ctrl-C to pass it by
        signal.signal(signum, _handler)
    if _state["socket"] is None:
        reader, writer = socket.socketpair()
        writer.setblocking(False)
        signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        _state["socket"] = (reader, writer)
        threading.Thread(target=_watchdog, args=(reader,), name="jaxsgd-interrupt-watchdog", daemon=True).start()
    if os.environ.get(PARENT):
        # a worker of jaxsgd launch starts with SIGINT and SIGTERM blocked, so that one sent while Python started
        # up waited for the handlers above: it comes now, if it came
        signal.pthread_sigmask(signal.SIG_UNBLOCK, set(CODES))


def reinstall(grace: float | None = None) -> None:
    """Takes SIGINT and SIGTERM back after the runtime installed its own (joining other processes), if
    :func:`install` ran in this process; ``grace`` replaces the watchdog's."""
    if grace is not None:
        _state["grace"] = grace
    if _state["socket"] is not None and threading.current_thread() is threading.main_thread():
        for signum in CODES:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                signal.signal(signum, _handler)


def _follow_launcher() -> None:
    parent = os.environ.get(PARENT, "")
    if not parent.isdecimal() or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != int(parent):  # the launcher died before the request: end now
        os._exit(143)
