"""``jaxsgd launch``: an error that only one worker meets is that worker's one line, not the others' fatal log.

When one worker ends with its own error (bad data in its share), the runtime aborts the others (a fatal
log: "Terminating process ...", "*** Check failure stack trace: ***", stack addresses); the launcher leaves
that out and says in one line that the worker stopped because the other failed.
"""

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import ROOT

from jaxsgd.cli import launch

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
FATAL = ["Check failure", "Terminating process", "client.h", "Traceback"]
ADDRESS = re.compile(r"@\s+0x[0-9a-f]+")

RUNTIME_LOG = """\
E1202 14:57:25.555187   26940 coordination_service.cc:1549] Use error polling to propagate the following error:
1
The tasks have crashed. Check the task logs for an earlier error.
F1202 14:57:25.556024   26951 client.h:80] Terminating process because the JAX distributed service detected fatal
*** Check failure stack trace: ***
    @     0x7fb9cd440634  absl::lts_20260107::log_internal::LogMessage::SendToLog()
    @     0x7fb9dc8a71f5  (unknown)
"""


def _csv(tmp_path, bad_line):
    """3000 rows of two numeric columns, with text in one cell on file line ``bad_line`` (the header is line 1)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(1, 10, 3000)
    rows = [f"{a:.4f},{0.3 * a + 0.1:.4f}" for a in x]
    rows[bad_line - 2] = "abc," + rows[bad_line - 2].split(",")[1]
    p = tmp_path / "bad.csv"
    p.write_text("median_income,median_house_value\n" + "\n".join(rows) + "\n")
    return p


@pytest.mark.parametrize(("bad_line", "failing"), [(2500, 1), (11, 0)])  # in process 1's share, in process 0's
def test_bad_data_in_one_workers_share_is_its_one_line_and_at_most_one_from_the_other(tmp_path, bad_line, failing):
    data = _csv(tmp_path, bad_line)
    r = subprocess.run([sys.executable, "-m", "jaxsgd", "launch", "--processes", "2", "--", "train", "--shard-data",
                        "--data", str(data), "--features", "median_income", "--target", "median_house_value"],
                       capture_output=True, text=True, env=ENV, timeout=120)
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith(("[0] [Gloo]", "[1] [Gloo]"))]
    assert r.returncode == 2, r.stderr[-3000:]
    assert not any(w in r.stderr for w in FATAL) and not ADDRESS.search(r.stderr), r.stderr[-3000:]
    own = [ln for ln in lines if ln.startswith(f"[{failing}] error: ") and "not a number: 'abc'" in ln]
    assert len(own) == 1 and f"line {bad_line}" in own[0], r.stderr[-3000:]
    other = [ln for ln in lines if ln not in own]
    assert len(other) <= 1 and all(ln.startswith(f"[{1 - failing}] ") for ln in other), r.stderr[-3000:]


def _forwarded(text, failed=(), later=None):
    """What the launcher writes for worker 0's standard error ``text``, with ``failed`` workers already ended
    with their own error, and ``later`` one ending 0.1 s after the text is written."""
    ended = launch._Ended()
    for i in failed:
        ended.failed(i)
    r, w = os.pipe()
    out = io.StringIO()
    t = threading.Thread(target=launch._forward_errors, args=(os.fdopen(r, "rb"), out, 0, 2, "train", ended))
    t.start()
    os.write(w, text.encode())
    if later is not None:
        threading.Timer(0.1, ended.failed, (later,)).start()
    os.close(w)
    t.join(timeout=10)
    assert not t.is_alive()
    return out.getvalue()


STOPPED = "[0] jaxsgd train: process 0 of 2 stopped because process 1 failed (its error is above)\n"


def test_the_runtime_log_after_another_workers_error_is_one_line():
    assert _forwarded("epoch 1\n" + RUNTIME_LOG, failed=[1]) == "[0] epoch 1\n" + STOPPED
    assert _forwarded(RUNTIME_LOG, later=1) == STOPPED  # the other's end seen a moment after the log: held back
    own = "error: jaxsgd train: process 0 of 2: a collective failed\n"
    assert _forwarded(RUNTIME_LOG + own, failed=[1]) == "[0] " + own  # its own line instead


def test_the_runtime_log_with_no_other_failure_is_written_as_it_is():
    text = "epoch 1\n" + RUNTIME_LOG + "no newline at the end"
    want = "".join(f"[0] {ln}\n" for ln in text.splitlines())
    assert _forwarded(text) == want
    assert _forwarded(text, failed=[0]) == want  # its own failure is no other's


@pytest.mark.serial  # a latency bound: measured with no other test running
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_while_a_worker_starts_up_waits_for_its_handler(signum, code):
    """The launcher starts each worker with SIGINT and SIGTERM blocked (the mask is inherited): one sent at
    once, while the worker's Python is still starting up, is delivered once its handler is in, so it ends
    with one line, not a traceback ("Could not import runpy module", KeyboardInterrupt), and is not lost."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        p = subprocess.Popen([sys.executable, "-m", "jaxsgd", "train", "--rows", "2000", "--epochs", "500", "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                             env={**ENV, "JAXSGD_LAUNCHER_PID": str(os.getpid())})
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    os.killpg(p.pid, signum)
    sent = time.monotonic()
    try:
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == code and time.monotonic() - sent < 5
    assert err.splitlines() == ["interrupted"], err[-2000:]
