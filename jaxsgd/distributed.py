"""Several processes as one run: ``jax.distributed`` over a coordinator, Gloo collectives on CPUs.

After :func:`initialize`, ``jax.devices()`` lists every process's devices: a
mesh over them (:func:`jaxsgd.train.data_mesh`) splits each mini-batch over all
processes, and the runtime sums the gradients (an all-reduce). Every process
runs the same program on the same arguments (JAX's multi-controller model), so
each must see the same data (replicated) or its own share laid out alike
(``shard=(process_index, process_count)``, see :func:`jaxsgd.data.read_table`).

Faults are bounded here rather than left to the runtime: a process that has not
joined within ``join_timeout`` seconds, or a collective that fails because a
peer died (Gloo: "connection reset by peer", seen within a second of the death),
ends this process with one line and exit code 1 (:func:`fail`) instead of the
runtime's shutdown barrier, which waits for a heartbeat timeout and then aborts.

>>> is_writer()   # one process: it writes checkpoints and prints the report
True
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import NamedTuple

import jax
import numpy as np

from jaxsgd.defaults import JOIN_TIMEOUT, MAX_JOIN_TIMEOUT
from jaxsgd.errors import InputError

__all__ = [
    "Cluster",
    "active",
    "check_cluster",
    "every_process",
    "fail",
    "initialize",
    "is_writer",
    "mean_over_processes",
    "min_over_processes",
    "process_count",
    "process_index",
    "runtime_errors",
]

HEARTBEAT_TIMEOUT = 10  # seconds of silence before the coordinator counts a process lost


class Cluster(NamedTuple):
    """Where the processes meet: ``coordinator`` is ``HOST:PORT`` of process 0."""

    coordinator: str
    num_processes: int
    process_id: int


def check_cluster(coordinator, num_processes, process_id) -> Cluster | None:
    """A :class:`Cluster` from the three settings (all three or none: ``None``), checked."""
    given = [v is not None for v in (coordinator, num_processes, process_id)]
    if not any(given):
        return None
    if not all(given):
        raise InputError(lambda n: f"{n('coordinator')}, {n('num_processes')} and {n('process_id')} go together: "
                                   "give all three or none")
    host, _, port = str(coordinator).rpartition(":")
    if not host or not port.isdecimal() or not 0 < int(port) < 65536:
        raise InputError(lambda n: f"{n('coordinator')} must be HOST:PORT with a port from 1 to 65535, "
                                   f"got {coordinator!r}")
    if not isinstance(num_processes, int) or num_processes < 1:
        raise InputError(lambda n: f"{n('num_processes')} must be a whole number ≥ 1, got {num_processes!r}")
    if not isinstance(process_id, int) or not 0 <= process_id < num_processes:
        raise InputError(lambda n: f"{n('process_id')} must be from 0 to {num_processes - 1}, got {process_id!r}")
    if process_id == 0 and num_processes > 1 and not _can_listen(int(port)):  # the runtime would crash on it
        raise InputError(lambda n: f"{n('coordinator')} {coordinator}: port {port} is in use on this machine, "
                                   "where process 0 listens; choose another port")
    return Cluster(str(coordinator), num_processes, process_id)


def _can_listen(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


def initialize(cluster: Cluster | None = None, *, auto: bool = False, join_timeout: float = JOIN_TIMEOUT,
               label: str = "") -> None:
    """Joins this process to the others: ``cluster`` names them, or ``auto=True`` lets
    ``jax.distributed.initialize()`` find them in the environment (SLURM, Open MPI, Kubernetes, …).
    Neither: a single process, nothing to do.

    Must come before any JAX computation. On CPUs the collectives go through Gloo.
    If not every process has joined within ``join_timeout`` seconds, this process
    prints one line (starting with ``label``) and exits with code 1.
    """
    if cluster is None and not auto:
        return
    if not 0 < join_timeout <= MAX_JOIN_TIMEOUT:
        raise InputError(lambda n: f"{n('join_timeout')} must be a number of seconds from 0 to {MAX_JOIN_TIMEOUT:g}, "
                                   f"got {join_timeout!r}")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    me = "this process" if cluster is None else f"process {cluster.process_id} of {cluster.num_processes}"
    me = f"{label}: {me}" if label else me
    joined = threading.Event()

    def watchdog():
        if not joined.wait(join_timeout):
            fail(f"{me}: not every process joined within {join_timeout:g} s (is each one started, with the same "
                 "coordinator address, and can it reach it?)")

    threading.Thread(target=watchdog, name="jaxsgd-join-watchdog", daemon=True).start()
    kwargs = {} if cluster is None else {"coordinator_address": cluster.coordinator,
                                         "num_processes": cluster.num_processes, "process_id": cluster.process_id}
    # the runtime's own timeouts sit behind ours: it aborts the process where we exit with one line
    try:
        jax.distributed.initialize(**kwargs, initialization_timeout=int(join_timeout) + 30,
                                   heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT,
                                   shutdown_timeout_seconds=HEARTBEAT_TIMEOUT)
    except (ValueError, RuntimeError) as e:  # e.g. auto: no cluster in the environment
        joined.set()
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(lambda n: f"cannot join the other processes: {first}" + (
            f" (no cluster found in the environment: give {n('coordinator')}, {n('num_processes')} and "
            f"{n('process_id')} instead)" if cluster is None else "")) from None
    joined.set()
    _runtime_output_to_stderr()
    _state["active"] = True


_state = {"active": False}


def active() -> bool:
    """Whether this process has joined others with :func:`initialize`."""
    return _state["active"]


def runtime_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a failed collective raises (a lost peer), to catch around a multi-process run."""
    return (jax.errors.JaxRuntimeError,)


def _runtime_output_to_stderr() -> None:
    """The collectives' C++ code prints progress on file descriptor 1 ("[Gloo] Rank 0 is connected …", a
    line per process and collective, before any error too): point that descriptor at /dev/null and give
    Python's ``sys.stdout`` the real standard output, so that what jaxsgd prints there (a report, one JSON
    object) stays clean and errors are not buried. The runtime's errors go to standard error, untouched."""
    sys.stdout.flush()
    real = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = os.fdopen(real, "w", buffering=1, encoding=sys.stdout.encoding or "utf-8",
                           errors=sys.stdout.errors or "strict")


def every_process(values) -> np.ndarray:
    """Every process's ``values`` (a float64 vector of the same length everywhere), stacked: ``(P, k)``."""
    values = np.asarray(values, np.float64)[None]
    if jax.process_count() == 1:
        return values
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(values[0]), np.float64).reshape(-1, values.shape[1])


def mean_over_processes(value: float, weight: float = 1.0) -> float:
    """The ``weight``-weighted mean of every process's ``value`` (the value itself for one process)."""
    if jax.process_count() == 1:
        return float(value)
    got = every_process([value * weight, weight])
    return float(got[:, 0].sum() / got[:, 1].sum()) if got[:, 1].sum() > 0 else float("nan")


def min_over_processes(value: int) -> int:
    """The smallest of every process's ``value``."""
    if jax.process_count() == 1:
        return int(value)
    from jax.experimental import multihost_utils

    return int(np.min(np.asarray(multihost_utils.process_allgather(np.array([value], np.int64)))))


def process_index() -> int:
    return jax.process_index()


def process_count() -> int:
    return jax.process_count()


def is_writer() -> bool:
    """Whether this process writes files and prints results: process 0 (the only one, usually)."""
    return jax.process_index() == 0


def fail(line: str, code: int = 1) -> None:
    """Prints ``error: <line>`` on stderr and ends the process at once, skipping the runtime's shutdown
    barrier (which would wait for lost peers and then abort). Output already printed is flushed first."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os.write(2, f"error: {line}\n".encode())
    if active():
        _leave_after_the_others()
    os._exit(code)


LEAVE_WAIT = 3.0  # seconds process 0 waits, on failing, for the others that fail too


def leave() -> None:
    """Before this process ends on its own (an error every process meets, an interrupt every worker gets):
    the others are told, and process 0, which hosts the coordinator, waits for them (at most
    :data:`LEAVE_WAIT` seconds), so that no process outlives the coordinator it talks to."""
    if active():
        _leave_after_the_others()


def _leave_after_the_others() -> None:
    """Process 0 hosts the coordination service: a process that still talks to it when it ends aborts with
    the runtime's fatal log. So each failing process says so in the service's key-value store, and process 0
    leaves last, once every other process has said it (the same bad input fails everywhere alike), or after
    :data:`LEAVE_WAIT` seconds."""
    import time

    from jax._src import distributed as runtime

    client = runtime.global_state.client
    with contextlib.suppress(Exception):
        me, count = jax.process_index(), jax.process_count()
        client.key_value_set(f"jaxsgd/leaving/{me}", "1")
        if me != 0:
            return
        end = time.monotonic() + LEAVE_WAIT
        waiting = set(range(1, count))
        while waiting and time.monotonic() < end:
            waiting = {i for i in waiting if not _said(client, f"jaxsgd/leaving/{i}")}
            time.sleep(0.02)


def _said(client, key: str) -> bool:
    try:
        client.key_value_try_get(key)
    except Exception:  # not there yet (the runtime raises NotFound)
        return False
    return True
