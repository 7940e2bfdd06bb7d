"""``jaxsgd launch``: N processes of one command on this machine, joined over the loopback address.

For trying a multi-process run on one machine, and for the tests. Each process's standard error is
forwarded line by line with a ``[i]`` prefix; process 0's standard output passes through unchanged
(so ``--json`` stays one JSON object), the others' is prefixed. If a process fails, the others get
a bounded time to stop on their own (they see the failed collective), then are killed; the exit
code is the first failure's. Once a process has ended with its own error (an exit code above 0, after its
one line), what the runtime then logs in the others as it aborts them (a fatal log, a stack trace) is left
out: each says instead, in one line, that it stopped because that process failed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

from jaxsgd.cli import common as C

COMMANDS = ("train", "batch-size")
GRACE = 20.0  # seconds the others have to stop after one fails, before they are killed
STOP = 6.0  # seconds the workers have to end after an interrupt (process 0 waits for the others), then killed
HOLD = 2.0  # seconds a worker's runtime log line is held back, to learn whether another worker failed before it
# a line of the runtime's log, e.g. "F1202 14:57:25.556024   26951 client.h:80] Terminating process ..."
_RUNTIME_LOG = re.compile(r"[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [^ :\]]+:\d+\] ")


def add(sub):
    p = sub.add_parser("launch", help="run train or batch-size as N processes on this machine",
                       description="Starts N processes of `jaxsgd COMMAND ...` joined over 127.0.0.1 (each gets "
                                   "--coordinator, --num-processes and --process-id), forwards their output with a "
                                   "process prefix, and exits with the first non-zero exit code. Example: jaxsgd "
                                   "launch --processes 2 -- train --epochs 3")
    p.add_argument("--processes", type=C.int_between(1, 64), required=True, metavar="N",
                   help="how many processes, 1 to 64 (required)")
    p.add_argument("--port", type=C.int_between(1, 65535), default=None,
                   help="the coordinator's port on 127.0.0.1 (default: a free one)")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND ...",
                   help=f"the jaxsgd command and its options, after --: one of {', '.join(COMMANDS)} (required)")
    p.set_defaults(run=run)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_FAILED_WRITES: list = []  # the first error writing the workers' output here, other than a closed pipe


class _Out:
    """One of the launcher's streams; once writing fails (a reader that went away, ``| head``; a full disk),
    the rest is dropped, and a failure other than a closed pipe is kept to be said at the end."""

    def __init__(self, out):
        self.out = out

    def write(self, text: str) -> None:
        if self.out is None:
            return
        try:
            self.out.write(text)
            self.out.flush()
        except BrokenPipeError:
            self.out = None
        except (OSError, ValueError) as e:
            _FAILED_WRITES.append(e)
            self.out = None


def _forward(stream, out, prefix: str) -> None:
    """Copies ``stream`` line by line to ``out``; once ``out`` fails, the rest is read and dropped, so that the
    process writing it is never blocked."""
    out = _Out(out)
    for line in iter(stream.readline, b""):
        out.write(prefix + line.decode(errors="replace"))
    stream.close()


class _Ended:
    """The workers that have ended, as the launcher's loop sees them; those that ended with their own error
    (an exit code above 0: they said it in one line) in the order seen."""

    def __init__(self):
        self._changed = threading.Condition()
        self._failed: list[int] = []

    def failed(self, i: int) -> None:
        with self._changed:
            self._failed.append(i)
            self._changed.notify_all()

    def other_than(self, i: int, timeout: float = 0.0) -> int | None:
        """The first worker other than ``i`` that ended with its own error, waiting at most ``timeout`` s."""
        with self._changed:
            self._changed.wait_for(lambda: any(j != i for j in self._failed), timeout=max(timeout, 0.0))
            return next((j for j in self._failed if j != i), None)


def _forward_errors(stream, out, i: int, count: int, command: str, ended: _Ended) -> None:
    """Copies worker ``i``'s standard error to ``out`` line by line, with the prefix ``[i]``, as
    :func:`_forward` does, except the runtime's log once another worker has failed with its own error.

    A line of the runtime's log (``E1202 14:57:25.555187 26940 file.cc:80] ...``) and those after it are held
    back for :data:`HOLD` seconds: if another worker has failed with its own error by then, they are the
    runtime aborting this one because of it (a fatal log, a stack trace, ~20 lines); they and the rest of
    this worker's output are dropped, except its own ``error:`` lines, and if it gave none, one line says
    that it stopped because that worker failed. Otherwise they are written as they are, a moment late. The
    pipe is read all the while, so that the worker is never blocked writing to it."""
    out, prefix = _Out(out), f"[{i}] "
    held: list[str] = []
    until = None  # when the held lines are written, if no other worker has failed by then
    cause = None  # the worker whose failure this one's runtime log follows: the log is dropped
    own = False  # this worker said an error of its own

    def settle(wait: float = 0.0) -> None:
        nonlocal until, cause, own
        cause = ended.other_than(i, wait)
        for text in held:
            if cause is None:
                out.write(prefix + text)
            elif text.startswith("error: "):
                own = True
                out.write(prefix + text)
        held.clear()
        until = None

    def line(text: str) -> None:
        nonlocal until, cause, own
        if text.startswith("error: "):  # this worker's own error: it fails, whether or not it has ended yet
            ended.failed(i)
        if cause is not None:
            if text.startswith("error: "):
                own = True
                out.write(prefix + text)
            return
        if _RUNTIME_LOG.match(text):
            if ended.other_than(i) is not None:
                settle()
                return
            if until is None:
                until = time.monotonic() + HOLD
        if until is not None:
            held.append(text)
        else:
            out.write(prefix + text)

    fd, rest = stream.fileno(), b""
    try:
        while True:
            if until is not None and time.monotonic() >= until:
                settle()
            ready = select.select([fd], [], [], None if until is None else max(until - time.monotonic(), 0))[0]
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            *lines, rest = (rest + chunk).split(b"\n")
            for one in lines:
                line(one.decode(errors="replace") + "\n")
        if rest:
            line(rest.decode(errors="replace") + "\n")
        if until is not None:
            settle(until - time.monotonic())
    finally:
        stream.close()
    if cause is not None and not own:
        out.write(f"{prefix}jaxsgd {command}: process {i} of {count} stopped because process {cause} failed (its "
                  "error is above)\n")


def run(a) -> int:
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd or cmd[0] not in COMMANDS:
        raise C.UsageError(f"jaxsgd launch: give the command after --, one of {', '.join(COMMANDS)}, e.g. "
                           "jaxsgd launch --processes 2 -- train")
    taken = [o for o in ("--coordinator", "--num-processes", "--process-id", "--auto-cluster")
             if any(arg == o or arg.startswith(o + "=") for arg in cmd)]
    if taken:
        raise C.UsageError(f"jaxsgd launch: {', '.join(taken)} is set by launch for each process; leave it out")
    from jaxsgd.cli import build_parser  # every process would refuse a bad command: say it once, here

    parsed = build_parser().parse_args([*cmd, "--coordinator", "127.0.0.1:1", "--num-processes",
                                        str(a.processes), "--process-id", "0"])
    from jaxsgd.cli.cluster import precheck

    precheck(parsed, cmd[0])
    if a.port is not None and not _port_free(a.port):
        raise C.UsageError(f"jaxsgd launch: port {a.port} on 127.0.0.1 is in use; leave out --port to take a free "
                           "one")
    port = a.port or _free_port()
    from jaxsgd.cli import interrupts

    interrupts.install(grace=STOP + 3)  # the workers get STOP seconds to end after Ctrl-C or SIGTERM
    env = {**os.environ, interrupts.PARENT: str(os.getpid())}
    procs, threads = [], []
    code, failed_at = 0, None
    ended, seen = _Ended(), set()
    try:
        for i in range(a.processes):
            argv = [sys.executable, "-m", "jaxsgd", *cmd, "--coordinator", f"127.0.0.1:{port}",
                    "--num-processes", str(a.processes), "--process-id", str(i)]
            # started with Ctrl-C and SIGTERM blocked (the mask is inherited), so that one that comes while the
            # worker's Python starts up waits, not a traceback: interrupts.install unblocks them once its handler
            # is in. Here they wait too, until the worker and its readers are in the lists an interrupt goes through
            old = signal.pthread_sigmask(signal.SIG_BLOCK, set(interrupts.CODES))
            try:
                proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        start_new_session=True, env=env)
                procs.append(proc)
                for target, args in ((_forward, (proc.stdout, sys.stdout, "" if i == 0 else f"[{i}] ")),
                                     (_forward_errors, (proc.stderr, sys.stderr, i, a.processes, cmd[0], ended))):
                    t = threading.Thread(target=target, args=args, daemon=True)
                    t.start()
                    threads.append(t)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
        while True:  # poll every process, each round
            new = [i for i, p in enumerate(procs) if i not in seen and p.poll() is not None]
            new.sort(key=lambda i: procs[i].returncode <= 0)  # in one round, an error of its own first
            for i in new:
                seen.add(i)
                if procs[i].returncode > 0:
                    ended.failed(i)
                if procs[i].returncode != 0 and failed_at is None:
                    code, failed_at = procs[i].returncode, time.monotonic()
            if len(seen) == len(procs):
                break
            time.sleep(0.05)
            if failed_at is not None and time.monotonic() - failed_at > GRACE:
                for p in procs:
                    if p.poll() is None:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(p.pid, signal.SIGKILL)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: passed on to every worker, which ends within STOP seconds
        if not procs:  # none started: main says "interrupted" here
            raise
        code = interrupts.exit_code()
        _stop(procs, signal.SIGINT if code == 130 else signal.SIGTERM)
    for p in procs:
        p.wait()
    for t in threads:
        t.join(timeout=5)
    if code == 0:
        code = next((p.returncode for p in procs if p.returncode != 0), 0)
    if _FAILED_WRITES and code == 0:
        e = _FAILED_WRITES[0]
        raise OSError(e.errno, getattr(e, "strerror", None) or str(e))  # main says it in one line, exit 2
    return code if code >= 0 else 128 - code  # killed by a signal: 128 + its number, as a shell reports it


def _stop(procs, signum) -> None:
    """Sends ``signum`` to every worker still running, then SIGKILL to those left after :data:`STOP` seconds."""
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signum)
    end = time.monotonic() + STOP
    while time.monotonic() < end and any(p.poll() is None for p in procs):
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C does not leave them behind
            time.sleep(0.05)
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
