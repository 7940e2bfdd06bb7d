"""Several processes on this CPU (Gloo over loopback): results equal one process's; faults end in one line.

Each test starts real processes (``jaxsgd launch`` or ``python -c``), so each takes a few seconds.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT

from jaxsgd import train
from jaxsgd.cli import main

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
BOUND = 10.0  # seconds a surviving process may take to stop after a peer dies


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(*argv, timeout=240):
    r = subprocess.run([sys.executable, "-m", "jaxsgd", "launch", "--processes", "2", "--", *argv],
                       capture_output=True, text=True, env=ENV, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def _one(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_two_processes_train_as_one(capsys):
    argv = ["train", "--rows", "2000", "--epochs", "2", "--batch-size", "32", "--json"]
    rc, out, err = _launch(*argv)
    assert rc == 0, err[-2000:]
    two = json.loads(out)  # process 0's report only, unprefixed; the collectives' chatter went to stderr
    one = _one(capsys, argv)
    np.testing.assert_allclose(two["params"], one["params"], rtol=1e-6, atol=1e-7)  # float32 sums, other order
    assert two["history"]["train_loss"] == pytest.approx(one["history"]["train_loss"], rel=1e-5)
    assert (two["n_train"], two["n_val"]) == (one["n_train"], one["n_val"])  # replicated rows counted once
    assert two["train_r2"] == pytest.approx(one["train_r2"], rel=1e-5)
    assert "[0]" in err and "Gloo" not in err  # process 0's progress, prefixed; the runtime's chatter dropped


STUDY = r"""
import json, sys, numpy as np
from jaxsgd import distributed, study
distributed.initialize(distributed.Cluster(sys.argv[1], 2, int(sys.argv[2])))
rng = np.random.default_rng(1)
x = rng.normal(size=(600, 2)).astype(np.float32)
y = (1 / (1 + np.exp(-(x[:, 0] - x[:, 1])))).astype(np.float32) * 0.8 + 0.1
r = study.run_study(x, y, study.StudyConfig(batch_sizes=(4, 16), seeds=4, fractions=(0.1, 0.01),
                                            learning_rates=(0.5, 2.0, 8.0), max_steps=400))
if distributed.is_writer():
    print(json.dumps({"hits": [b.arrivals.tolist() for b in r.runs], "b_crit": [lv.b_crit for lv in r.levels]}))
"""


def _two(script):
    port = _port()
    procs = [subprocess.Popen([sys.executable, "-c", script, f"127.0.0.1:{port}", str(i)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=ENV) for i in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-1500:] + outs[1][1][-1500:]
    return json.loads(outs[0][0].strip().splitlines()[-1])


def test_the_study_split_over_two_processes_is_the_one_process_study():
    from jaxsgd import study

    two = _two(STUDY)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(600, 2)).astype(np.float32)
    y = (1 / (1 + np.exp(-(x[:, 0] - x[:, 1])))).astype(np.float32) * 0.8 + 0.1
    one = study.run_study(x, y, study.StudyConfig(batch_sizes=(4, 16), seeds=4, fractions=(0.1, 0.01),
                                                  learning_rates=(0.5, 2.0, 8.0), max_steps=400))
    assert two["hits"] == [b.arrivals.tolist() for b in one.runs]  # every seed's arrivals, in seed order
    assert two["b_crit"] == [lv.b_crit for lv in one.levels]


SHARDED = r"""
import json, sys, jax, numpy as np
from jaxsgd import distributed, train
distributed.initialize(distributed.Cluster(sys.argv[1], 2, int(sys.argv[2])))
rng = np.random.default_rng(0)
x = rng.normal(size=(203, 2)).astype(np.float32)
y = rng.uniform(size=203).astype(np.float32)
me = jax.process_index()
part = slice(0, 101) if me == 0 else slice(101, 203)  # 101 and 102 rows: both use 101
state, hist = train.fit(x[part], y[part], batch_size=8, epochs=2, key=jax.random.key(3), shard_data=True)
if me == 0:
    print(json.dumps({"theta": np.asarray(state.params.to_theta()).tolist(), "loss": hist.train_loss}))
"""


def _simulate_sharded(x, y, parts, batch_size, epochs, key):
    """The sharded shuffle in one process: part p shuffled by part_keys(key, p), batches of B/P side by side."""
    opt = train.make_optimizer("sgd")
    runs = train.TrainState.create_runs(2, np.asarray(jax.random.key_data(key))[None], [0.5], optimizer=opt)
    n = min(len(range(*p.indices(len(y)))) for p in parts)
    rows = [train.rows_of(jnp.asarray(x[p][:n]), jnp.asarray(y[p][:n])) for p in parts]
    keys = [train.part_keys(np.asarray(jax.random.key_data(key))[None], i) for i in range(len(parts))]
    b = batch_size // len(parts)
    for e in range(epochs):
        cut = [train.shuffled_batches(jnp.asarray(train.permutations(k, e, n)), r, b) for k, r in zip(keys, rows,
                                                                                                         strict=True)]
        xs = jnp.concatenate([c[0] for c in cut], axis=-1)
        ys = jnp.concatenate([c[1] for c in cut], axis=-1)
        runs = train.epoch_of_batches(runs, xs, ys, optimizer=opt)
    return np.asarray(jnp.concatenate([runs.params.b[0, 0][None], runs.params.w[0, 0]]))


def test_sharded_data_equals_the_sharded_shuffle_simulated_in_one_process():
    got = _two(SHARDED)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(203, 2)).astype(np.float32)
    y = rng.uniform(size=203).astype(np.float32)
    want = _simulate_sharded(x, y, [slice(0, 101), slice(101, 203)], 8, 2, jax.random.key(3))
    np.testing.assert_allclose(got["theta"], want, rtol=1e-6, atol=1e-7)


@pytest.mark.serial  # a latency bound: measured with no other test running
def test_a_killed_process_stops_the_other_within_the_bound_and_the_checkpoint_survives(tmp_path):
    from jaxsgd import train

    ck = tmp_path / "run.npz"
    port = _port()
    procs = [subprocess.Popen([sys.executable, "-m", "jaxsgd", "train", "--rows", "20000", "--epochs", "500",
                               "--save", str(ck), "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                               "--process-id", str(i), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=ENV) for i in range(2)]
    deadline = time.monotonic() + 120
    while not ck.exists() and time.monotonic() < deadline and all(p.poll() is None for p in procs):
        time.sleep(0.1)
    if not ck.exists():
        for p in procs:
            p.kill()
        pytest.fail("no checkpoint: " + procs[0].communicate(timeout=30)[1][-1500:] + procs[1].communicate()[1][-500:])
    procs[1].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    _, err = procs[0].communicate(timeout=60)
    took = time.monotonic() - killed
    procs[1].communicate(timeout=30)
    assert procs[0].returncode == 1 and took < BOUND
    lines = [ln for ln in err.splitlines() if not ln.startswith("[Gloo]")]
    assert len(lines) == 1 and "another process has probably stopped" in lines[0] and str(ck) in lines[0]
    state, _, meta = train.load_checkpoint(ck)
    assert int(state.epoch) >= 1 and len(meta["history"]["train_loss"]) == int(state.epoch)


def test_a_process_whose_peers_never_join_gives_up_with_one_line():
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "jaxsgd", "train", "--rows", "300", "--coordinator",
                        f"127.0.0.1:{_port()}", "--num-processes", "2", "--process-id", "0", "--join-timeout", "2"],
                       capture_output=True, text=True, env=ENV, timeout=60)
    assert r.returncode == 1 and time.monotonic() - t0 < 20
    assert r.stderr.count("\n") == 1 and "not every process joined within 2 s" in r.stderr


@pytest.mark.parametrize(("argv", "needle"), [
    (["launch", "--processes", "2"], "give the command after --"),
    (["launch", "--processes", "2", "--", "step"], "one of train, batch-size"),
    (["launch", "--processes", "2", "--", "train", "--process-id", "1"], "set by launch"),
    (["train", "--coordinator", "h:1", "--num-processes", "2"], "go together"),
    (["train", "--coordinator", "nope", "--num-processes", "2", "--process-id", "0"], "HOST:PORT"),
    (["train", "--coordinator", "h:1", "--num-processes", "2", "--process-id", "2"], "from 0 to 1"),
    (["train", "--shard-data"], "is read from a file"),
])
def test_bad_cluster_settings_are_one_line(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err


def test_launch_exits_with_the_first_failures_code_when_every_process_refuses(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "one_group.parquet"
    pq.write_table(pa.table({"a": np.arange(50.0), "y": np.arange(50.0)}), p)
    rc, _, err = _launch("train", "--data", str(p), "--features", "a", "--target", "y", "--shard-data", timeout=120)
    assert rc == 2 and "1 row group(s) cannot be shared by 2 processes" in err


def test_an_occupied_port_a_missing_cluster_and_a_huge_join_timeout_are_one_line(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        assert main(["launch", "--processes", "2", "--port", str(busy), "--", "train"]) == 2
        assert "is in use" in capsys.readouterr().err
        assert main(["train", "--coordinator", f"127.0.0.1:{busy}", "--num-processes", "2", "--process-id", "0"]) == 2
        assert "is in use on this machine" in capsys.readouterr().err
    assert main(["train", "--coordinator", "127.0.0.1:9", "--num-processes", "2", "--process-id", "1",
                 "--join-timeout", "1e9"]) == 2
    assert "--join-timeout must be a number of seconds from 0 to 86400" in capsys.readouterr().err
    r = subprocess.run([sys.executable, "-m", "jaxsgd", "train", "--rows", "300", "--auto-cluster"],
                       capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no cluster found in the environment" in r.stderr


def test_a_closed_pipe_ends_output_quietly():
    r = subprocess.run(f"{sys.executable} -m jaxsgd derivative 1000 | head -c 10", shell=True, capture_output=True,
                       text=True, env=ENV, timeout=60)
    assert r.stderr == "" and r.stdout.startswith("σ")


# ------------------------------------------------------------ several devices per process
def _env(devices: int) -> dict:
    return {**ENV, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}


def _rows_csv(tmp_path, n=400):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2))
    y = 1 / (1 + np.exp(-(0.3 + x @ [1.0, -2.0]))) * 0.8 + 0.1
    p = tmp_path / "rows.csv"
    p.write_text("a,b,y\n" + "".join(f"{float(a)!r},{float(b)!r},{float(t)!r}\n"
                                     for (a, b), t in zip(x, y, strict=True)))
    return p


def _jaxsgd(argv, devices, processes=1, timeout=240):
    head = ["launch", "--processes", str(processes), "--"] if processes > 1 else []
    r = subprocess.run([sys.executable, "-m", "jaxsgd", *head, *argv], capture_output=True, text=True,
                       env=_env(devices), timeout=timeout)
    return r.returncode, r.stdout, [ln for ln in r.stderr.splitlines() if "[Gloo]" not in ln]


def test_a_batch_that_does_not_split_over_processes_times_devices_is_refused_in_one_line_each(tmp_path):
    # 2 processes × 2 devices: B = 6 is a multiple of the processes but not of the 4 devices
    argv = ["train", "--data", str(_rows_csv(tmp_path)), "--features", "a,b", "--target", "y", "--shard-data",
            "--batch-size", "6", "--quiet"]
    rc, _, err = _jaxsgd(argv, devices=2, processes=2)
    assert rc == 2 and len(err) == 2, err  # one line from each process, no traceback, no runtime fatal log
    assert all("does not split over the 4 devices (2 processes × 2 devices each): use a multiple of 4 (4, 8, 12"
               in line for line in err)


def test_several_devices_per_process_train_as_one_device(tmp_path):
    csv = str(_rows_csv(tmp_path))
    argv = ["train", "--data", csv, "--features", "a,b", "--target", "y", "--batch-size", "8", "--epochs", "2",
            "--json", "--quiet"]
    rc1, one, err1 = _jaxsgd(argv, devices=1)
    rc2, many, err2 = _jaxsgd([*argv, "--shard-data"], devices=2, processes=2)
    rc3, sharded_one, err3 = _jaxsgd([*argv, "--shard-data"], devices=1, processes=2)
    assert (rc1, rc2, rc3) == (0, 0, 0), err1 + err2 + err3
    np.testing.assert_allclose(json.loads(many)["params"], json.loads(sharded_one)["params"], rtol=2e-6, atol=1e-7)
    rc4, four, err4 = _jaxsgd(argv, devices=4)  # one process, the batch over 4 devices
    assert rc4 == 0, err4
    np.testing.assert_allclose(json.loads(four)["params"], json.loads(one)["params"], rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize(("argv", "needle"), [
    (["batch-size", "--rows", "200", "--seeds", "3"], "--seeds 3 does not split over 2 processes"),
    (["train", "--shard-data", "--rows", "200"], "is read from a file: give --data"),
    (["train", "--shard-data", "--data", "x.csv", "--features", "a", "--target", "y", "--keep-last-batch"],
     "leave out --keep-last-batch"),
    (["train", "--shard-data", "--data", "x.csv", "--features", "a", "--target", "y", "--batch-size", "5"],
     "must be a multiple of 2, got 5"),
])
def test_what_the_options_show_is_said_once_before_any_process_starts(capsys, argv, needle):
    assert main(["launch", "--processes", "2", "--", *argv]) == 2  # in this process: none was started
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err


# ------------------------------------------------------------ signals, pipes and terminals
def _started(argv, env=ENV, **kw):
    return subprocess.Popen([sys.executable, "-m", "jaxsgd", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, **kw)


@pytest.mark.serial  # a latency bound: measured with no other test running
@pytest.mark.parametrize(("signum", "code", "after"), [
    (signal.SIGINT, 130, 0.3),   # while JAX is being imported
    (signal.SIGINT, 130, None),  # once training runs: after the first checkpoint
    (signal.SIGTERM, 143, None),
])
def test_an_interrupt_ends_train_in_a_second_or_two_with_one_line(tmp_path, signum, code, after):
    from jaxsgd import train

    ck = tmp_path / "run.npz"
    p = _started(["train", "--rows", "20000", "--epochs", "500", "--save", str(ck), "--quiet"], cwd=tmp_path)
    if after is None:
        deadline = time.monotonic() + 120
        while not ck.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        time.sleep(after)
    p.send_signal(signum)
    sent = time.monotonic()
    _, err = p.communicate(timeout=60)
    assert p.returncode == code and time.monotonic() - sent < 2.5
    assert err.splitlines() == ["interrupted"], err[-2000:]
    assert not list(tmp_path.glob(".jaxsgd-*"))  # no temporary file left behind
    if after is None:
        state, _, meta = train.load_checkpoint(ck)  # the last complete checkpoint
        assert len(meta["history"]["train_loss"]) == int(state.epoch) >= 1


@pytest.mark.serial  # a latency bound: measured with no other test running
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_to_launch_ends_every_worker(tmp_path, signum):
    marker = str(tmp_path / "marker.npz")  # names the workers in the process list
    p = _started(["launch", "--processes", "2", "--", "train", "--rows", "20000", "--epochs", "500", "--quiet",
                  "--save", marker])
    deadline = time.monotonic() + 120
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    p.send_signal(signum)
    _, err = p.communicate(timeout=60)
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
    assert left == [] and p.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[signum]
    assert sorted(ln for ln in err.splitlines() if "[Gloo]" not in ln) == ["[0] interrupted", "[1] interrupted"]


def test_launch_into_a_closed_pipe_ends_quietly():
    r = subprocess.run(f"{sys.executable} -m jaxsgd launch --processes 2 -- train --rows 400 --epochs 1 2>&1 "
                       "| head -1", shell=True, capture_output=True, text=True, env=ENV, timeout=240)
    assert "Traceback" not in r.stdout + r.stderr and "BrokenPipe" not in r.stdout + r.stderr


@pytest.mark.parametrize("argv", [["derivative", "3"], ["check-derivative", "--order", "1", "σ(1-σ)"],
                                  ["check-derivative", "--order", "1", "σ"]])
def test_a_full_disk_on_stdout_is_one_line_and_exit_2(argv):
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "jaxsgd", *argv], stdout=full, stderr=subprocess.PIPE, text=True,
                           env=ENV, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "cannot write to standard output: No space left on device" in r.stderr


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_terminal_without_the_notation_gets_an_ascii_rendering(encoding):
    env = {**ENV, "PYTHONIOENCODING": encoding}
    r = subprocess.run([sys.executable, "-m", "jaxsgd", "check-derivative", "--order", "2", "σ(1-σ)(1-2σ)"],
                       capture_output=True, env=env, timeout=60)
    assert r.returncode == 0 and r.stdout.decode("ascii").startswith("CORRECT: s^(2) = 2s^3 - 3s^2 + s")
    r = subprocess.run([sys.executable, "-m", "jaxsgd", "train", "--rows", "400", "--epochs", "1", "--quiet"],
                       capture_output=True, env=env, timeout=120)
    assert r.returncode == 0 and "theta" in r.stdout.decode("ascii")  # the finished report, in ASCII


def test_launch_onto_a_full_disk_is_one_line_and_exit_2():
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "jaxsgd", "launch", "--processes", "2", "--", "train", "--rows",
                            "400", "--epochs", "1", "--quiet"], stdout=full, stderr=subprocess.PIPE, text=True,
                           env=ENV, timeout=240)
    assert r.returncode == 2 and "cannot write to standard output: No space left on device" in r.stderr
    assert "Traceback" not in r.stderr
