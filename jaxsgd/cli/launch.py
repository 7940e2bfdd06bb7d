"""``jaxsgd launch``: N processes of one command on this machine, joined over the loopback address.

For trying a multi-process run on one machine, and for the tests. Each process's standard error is
forwarded line by line with a ``[i]`` prefix; process 0's standard output passes through unchanged
(so ``--json`` stays one JSON object), the others' is prefixed. If a process fails, the others get
a bounded time to stop on their own (they see the failed collective), then are killed; the exit
code is the first failure's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
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


def _forward(stream, out, prefix: str) -> None:
    """Copies ``stream`` line by line to ``out``; once ``out`` fails (a reader that went away, ``| head``; a
    full disk), the rest is read and dropped, so that the process writing it is never blocked, and a failure
    other than a closed pipe is kept to be said at the end."""
    for line in iter(stream.readline, b""):
        if out is None:
            continue
        try:
            out.write(prefix + line.decode(errors="replace"))
            out.flush()
        except BrokenPipeError:
            out = None
        except (OSError, ValueError) as e:
            _FAILED_WRITES.append(e)
            out = None
    stream.close()


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
    try:
        for i in range(a.processes):
            argv = [sys.executable, "-m", "jaxsgd", *cmd, "--coordinator", f"127.0.0.1:{port}",
                    "--num-processes", str(a.processes), "--process-id", str(i)]
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                    env=env)
            procs.append(proc)
            for stream, out, prefix in ((proc.stdout, sys.stdout, "" if i == 0 else f"[{i}] "),
                                        (proc.stderr, sys.stderr, f"[{i}] ")):
                t = threading.Thread(target=_forward, args=(stream, out, prefix), daemon=True)
                t.start()
                threads.append(t)
        while [p.poll() for p in procs].count(None):  # poll every process, each round
            time.sleep(0.05)
            bad = [p.returncode for p in procs if p.returncode not in (None, 0)]
            if bad and failed_at is None:
                code, failed_at = bad[0], time.monotonic()
            if failed_at is not None and time.monotonic() - failed_at > GRACE:
                for p in procs:
                    if p.poll() is None:
                        os.killpg(p.pid, signal.SIGKILL)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: passed on to every worker, which ends within STOP seconds
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
