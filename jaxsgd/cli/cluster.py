"""The multi-process options of ``train`` and ``batch-size``, and joining the other processes before any work.

Every process is started with the same command and its own ``--process-id``; process 0 prints the
report and writes the files, the others print only their errors. ``jaxsgd launch`` starts them on
this machine.
"""

from __future__ import annotations

import contextlib

from jaxsgd.cli import common as C
from jaxsgd.defaults import JOIN_TIMEOUT, MAX_JOIN_TIMEOUT


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


def join(a, command: str) -> None:
    """Joins the other processes named by the options (nothing for a single process)."""
    from jaxsgd import distributed

    cluster = C.guard(lambda: distributed.check_cluster(a.coordinator, a.num_processes, a.process_id), command)
    if cluster is not None and a.auto_cluster:
        raise C.UsageError(f"jaxsgd {command}: --auto-cluster finds the processes itself: leave out --coordinator, "
                           "--num-processes and --process-id, or --auto-cluster")
    C.guard(lambda: distributed.initialize(cluster, auto=a.auto_cluster, join_timeout=a.join_timeout,
                                           label=f"jaxsgd {command}"), command)


@contextlib.contextmanager
def lost_peers(command: str, kept: str | None = None):
    """A failed collective in a multi-process run (a peer died) ends this process with one line, at once."""
    from jaxsgd import distributed

    try:
        yield
    except distributed.runtime_errors() as e:
        if not distributed.active():
            raise
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        saved = f"; the last complete checkpoint is {kept}" if kept else ""
        distributed.fail(f"jaxsgd {command}: process {distributed.process_index()} of "
                         f"{distributed.process_count()}: a collective failed, so another process has probably "
                         f"stopped ({first}){saved}")
