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

from jaxsgd import checks
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
    """Where the processes of one run meet, and which of them this one is; :func:`check_cluster` builds it.

    Attributes:
      coordinator: ``HOST:PORT`` where process 0 listens, the same for every process.
      num_processes: how many processes the run has, ``≥ 1``.
      process_id: this process's index, from 0 to ``num_processes − 1``.

    Example:
      >>> Cluster("10.0.0.1:8476", 4, 2).process_id
      2
    """

    coordinator: str
    num_processes: int
    process_id: int


def check_cluster(coordinator, num_processes, process_id) -> Cluster | None:
    """Checks the three settings that join processes into one run, and builds their :class:`Cluster`.

    They go together: all three, or none (a single process). For process 0 of several,
    the port must be free on this machine, as process 0 listens there.

    Args:
      coordinator: ``HOST:PORT`` of process 0, the port from 1 to 65535; or ``None``.
      num_processes: how many processes, a whole number ``≥ 1``; or ``None``.
      process_id: this process's index, from 0 to ``num_processes − 1``; or ``None``.

    Returns:
      The :class:`Cluster`, or ``None`` when all three are ``None``.

    Raises:
      InputError: only some are given, one is out of range, or process 0's port is in use.

    Example:
      >>> check_cluster(None, None, None) is None
      True
      >>> check_cluster("10.0.0.1:8476", 4, 2)
      Cluster(coordinator='10.0.0.1:8476', num_processes=4, process_id=2)
      >>> check_cluster("10.0.0.1", 4, 2)
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: coordinator must be HOST:PORT with a port from 1 to 65535, got '10.0.0.1'
    """
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
    if not checks.whole(num_processes) or num_processes < 1:
        raise InputError(lambda n: f"{n('num_processes')} must be a whole number ≥ 1, got {num_processes!r}")
    if not checks.whole(process_id) or not 0 <= process_id < num_processes:
        raise InputError(lambda n: f"{n('process_id')} must be from 0 to {num_processes - 1}, got {process_id!r}")
    if process_id == 0 and num_processes > 1 and not _can_listen(int(port)):  # the runtime would crash on it
        raise InputError(lambda n: f"{n('coordinator')} {coordinator}: port {port} is in use on this machine, "
                                   "where process 0 listens; choose another port")
    return Cluster(str(coordinator), int(num_processes), int(process_id))


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
    """Joins this process to the others of the run, through :func:`jax.distributed.initialize`.

    Must come before any JAX computation. On CPUs the collectives go through Gloo.
    If not every process has joined within ``join_timeout`` seconds, this process
    prints one line (starting with ``label``) and exits with code 1 (:func:`fail`).
    Afterwards :func:`active` is ``True`` and ``jax.devices()`` lists every process's devices.

    Args:
      cluster: the :class:`Cluster` that names the processes (:func:`check_cluster`), or ``None``.
      auto: with no ``cluster``, let :func:`jax.distributed.initialize` find the processes in the
        environment (SLURM, Open MPI, Kubernetes, …). Default ``False``: with neither, this is a
        single process and nothing is done.
      join_timeout: seconds every process has to join, more than 0 and at most
        :data:`~jaxsgd.defaults.MAX_JOIN_TIMEOUT` (default :data:`~jaxsgd.defaults.JOIN_TIMEOUT`, 60).
      label: the start of the line printed when the others do not join, e.g. the command's name.

    Returns:
      ``None``.

    Raises:
      InputError: ``join_timeout`` is out of range, or the runtime cannot join the others (with
        ``auto``: no cluster found in the environment).

    Example:
      >>> initialize()   # one process: nothing to join
      >>> active(), process_count()
      (False, 1)
      >>> initialize(Cluster("localhost:8476", 2, 1), join_timeout=0)
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: join_timeout must be a number of seconds from 0 to 86400, got 0
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
    """Whether this process has joined others with :func:`initialize`.

    Returns:
      ``True`` after a successful :func:`initialize` with a cluster, ``False`` for a single process.

    Example:
      >>> active()
      False
    """
    return _state["active"]


def runtime_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a failed collective raises (a lost peer), to catch around a multi-process run.

    Returns:
      A tuple of exception classes, for an ``except`` clause: ``(jax.errors.JaxRuntimeError,)``.

    Example:
      >>> try:
      ...     raise jax.errors.JaxRuntimeError("Gloo: connection reset by peer")
      ... except runtime_errors() as e:
      ...     print("a peer is lost:", e)
      a peer is lost: Gloo: connection reset by peer
    """
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
    """Every process's ``values``, stacked in process order: an all-gather.

    Every process must call it, with a vector of the same length ``k``.

    Args:
      values: this process's numbers, a vector of length ``k`` (converted to float64).

    Returns:
      A float64 array of shape ``(P, k)`` for ``P`` processes, row ``i`` from process ``i``.

    Example:
      >>> every_process([0.5, 2.0])   # one process: one row
      array([[0.5, 2. ]])
    """
    values = np.asarray(values, np.float64)[None]
    if jax.process_count() == 1:
        return values
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(values[0]), np.float64).reshape(-1, values.shape[1])


def mean_over_processes(value: float, weight: float = 1.0) -> float:
    """The ``weight``-weighted mean of every process's ``value``: ``Σ wᵢ vᵢ / Σ wᵢ`` over processes ``i``.

    Every process must call it (see :func:`every_process`).

    Args:
      value: this process's number, e.g. its mean loss.
      weight: this process's weight, e.g. its number of rows (default 1: a plain mean).

    Returns:
      The mean, a Python float: ``value`` itself for one process, NaN where every weight is 0.

    Example:
      >>> mean_over_processes(0.25, weight=100)
      0.25
    """
    if jax.process_count() == 1:
        return float(value)
    got = every_process([value * weight, weight])
    return float(got[:, 0].sum() / got[:, 1].sum()) if got[:, 1].sum() > 0 else float("nan")


def min_over_processes(value: int) -> int:
    """The smallest of every process's ``value``, e.g. the fewest batches any process has.

    Every process must call it (see :func:`every_process`).

    Args:
      value: this process's whole number.

    Returns:
      The minimum over processes, a Python int (``value`` itself for one process).

    Example:
      >>> min_over_processes(7)
      7
    """
    if jax.process_count() == 1:
        return int(value)
    from jax.experimental import multihost_utils

    return int(np.min(np.asarray(multihost_utils.process_allgather(np.array([value], np.int64)))))


def process_index() -> int:
    """This process's index in the run, as :func:`jax.process_index` gives it.

    Returns:
      An int from 0 to ``process_count() − 1``; 0 for a single process.

    Example:
      >>> process_index()
      0
    """
    return jax.process_index()


def process_count() -> int:
    """How many processes the run has, as :func:`jax.process_count` gives it.

    Returns:
      An int ``≥ 1``; 1 for a single process (no :func:`initialize` with a cluster).

    Example:
      >>> process_count()
      1
    """
    return jax.process_count()


def is_writer() -> bool:
    """Whether this process writes files and prints results: process 0 (the only one, usually).

    Returns:
      ``True`` for process 0, ``False`` for every other.

    Example:
      >>> is_writer()
      True
    """
    return jax.process_index() == 0


def fail(line: str, code: int = 1) -> None:
    r"""Prints ``error: <line>`` on stderr and ends the process at once, with exit code ``code``.

    It skips the runtime's shutdown barrier (which would wait for lost peers and then
    abort). Output already printed is flushed first; a process that has joined others
    tells them it leaves, and process 0, which hosts the coordinator, leaves last.

    Args:
      line: the message, one line without ``error:``.
      code: the exit code (default 1).

    Returns:
      Never: the process ends (``os._exit``).

    Example:
      Here ``os._exit`` and ``os.write`` are replaced, so that the example does not end this process:

      >>> from unittest import mock
      >>> with mock.patch("os._exit", side_effect=sys.exit), mock.patch("os.write") as write:
      ...     fail("process 1 of 2: the data differ between processes", code=3)
      Traceback (most recent call last):
      ...
      SystemExit: 3
      >>> write.call_args.args
      (2, b'error: process 1 of 2: the data differ between processes\n')
    """
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
