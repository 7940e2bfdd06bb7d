"""The multi-process options of ``train`` and ``batch-size``, and joining the other processes before any work.

Every process is started with the same command and its own ``--process-id``; process 0 prints the
report and writes the files, the others print only their errors. ``jaxsgd launch`` starts them on
this machine.
"""

from __future__ import annotations

import contextlib

from jaxsgd.cli import common as C
from jaxsgd.defaults import BATCH_SIZE, JOIN_TIMEOUT, MAX_JOIN_TIMEOUT


def add_cluster_options(p):
    g = p.add_argument_group("several processes (see jaxsgd launch, and docs/scale.md)")
    g.add_argument("--coordinator", metavar="HOST:PORT",
                   help="address of process 0, where the processes meet (with --num-processes and --process-id; "
                        "default: one process)")
    g.add_argument("--num-processes", type=C.positive_int, metavar="N",
                   help="how many processes take part (default: one)")
    g.add_argument("--process-id", type=C.int_between(0), metavar="I",
                   help="this process's number, 0 to N − 1; process 0 prints and writes (default: 0 of one)")
    g.add_argument("--auto-cluster", action="store_true",
                   help="let jax.distributed find the processes in the environment (SLURM, Open MPI, Kubernetes) "
                        "instead of the three options above (default: off)")
    g.add_argument("--join-timeout", type=C.positive_float, default=JOIN_TIMEOUT, metavar="SECONDS",
                   help="how long processes wait for each other to join before giving up with one line, at most "
                        f"{MAX_JOIN_TIMEOUT:g} (default {JOIN_TIMEOUT:g})")


def precheck(a, command: str) -> None:
    """What the options alone show to be wrong for a run over several processes, said before any process
    joins (then each says it in one line, or ``jaxsgd launch`` says it once), never after: an error after
    joining ends the processes one by one, and a process whose coordinator is gone aborts."""
    count = a.num_processes or 1
    if command == "batch-size" and a.seeds % count:
        raise C.UsageError(f"jaxsgd batch-size: --seeds {a.seeds} does not split over {count} processes: use a "
                           f"multiple of {count} (e.g. --seeds {max(count, a.seeds - a.seeds % count)})")
    if command == "train" and a.shard_data:
        if not a.csv:
            raise C.UsageError("jaxsgd train: sharded data (--shard-data) is read from a file: give --data (or "
                               "leave out --shard-data: every process then makes the same built-in rows)")
        if a.keep_last_batch:
            raise C.UsageError("jaxsgd train: with data sharded over processes every batch is full: leave out "
                               "--keep-last-batch (or --shard-data)")
        b = a.batch_size if a.batch_size is not None else (None if a.resume else BATCH_SIZE)  # resumed: its own
        if b is not None and b % count:
            raise C.UsageError(f"jaxsgd train: with data sharded over {count} processes, --batch-size must be a "
                               f"multiple of {count}, got {b}")


def join(a, command: str) -> None:
    """Joins the other processes named by the options (nothing for a single process), after
    :func:`precheck`."""
    from jaxsgd import distributed

    precheck(a, command)
    cluster = C.guard(lambda: distributed.check_cluster(a.coordinator, a.num_processes, a.process_id), command)
    if cluster is not None and a.auto_cluster:
        raise C.UsageError(f"jaxsgd {command}: --auto-cluster finds the processes itself: leave out --coordinator, "
                           "--num-processes and --process-id, or --auto-cluster")
    C.guard(lambda: distributed.initialize(cluster, auto=a.auto_cluster, join_timeout=a.join_timeout,
                                           label=f"jaxsgd {command}"), command)
    if distributed.active():  # the runtime took SIGTERM for its preemption notice: an interrupt ends the run here
        from jaxsgd.cli import interrupts

        interrupts.reinstall(grace=interrupts.GRACE + distributed.LEAVE_WAIT)  # process 0 waits for the others


@contextlib.contextmanager
def lost_peers(command: str, kept: str | None = None):
    """A failed collective in a multi-process run (a peer died) ends this process with one line, at once."""
    from jaxsgd import distributed

    try:
        yield
    except distributed.runtime_errors() as e:
        if not distributed.active():
            raise
        from jaxsgd.cli import interrupts

        if interrupts.received():  # every worker was interrupted: a peer that ended first is no fault
            raise KeyboardInterrupt from None
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        saved = f"; the last complete checkpoint is {kept}" if kept else ""
        distributed.fail(f"jaxsgd {command}: process {distributed.process_index()} of "
                         f"{distributed.process_count()}: a collective failed, so another process has probably "
                         f"stopped ({first}){saved}")
