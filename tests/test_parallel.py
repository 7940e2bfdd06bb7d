"""Data parallelism over devices and sharded runs, on 8 simulated CPU devices (in a subprocess)."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

SCRIPT = r"""
import json, traceback, jax, jax.numpy as jnp, numpy as np
from jaxsgd import train
from jaxsgd.cli import main
out = {"devices": jax.device_count()}
rng = np.random.default_rng(0)
x = rng.normal(size=(1000, 2)).astype(np.float32)
y = rng.uniform(size=1000).astype(np.float32)

def check(name, fn):  # one failure does not hide the others
    try:
        out[name] = fn()
    except Exception:
        out[name] = "FAILED: " + traceback.format_exc()[-600:]

def data_parallel():
    par = train.fit(x, y, batch_size=64, epochs=3, key=jax.random.key(0), learning_rate=0.5).state.params
    one = train.fit(x, y, batch_size=64, epochs=3, key=jax.random.key(0), learning_rate=0.5,
                    parallel=False).state.params
    return float(np.abs(np.asarray(par.to_theta()) - np.asarray(one.to_theta())).max())

def all_reduce():
    opt = train.make_optimizer()
    runs = train.TrainState.create_runs(2, np.zeros((1, 2), np.uint32), [0.5], optimizer=opt)
    perms = jnp.asarray(train.permutations(np.zeros((1, 2), np.uint32), 0, 1000))
    lowered = train.epoch.lower(runs, perms, train.rows_of(x, y), optimizer=opt, batch_size=64,
                                 mesh=train.data_mesh())
    return "all-reduce" in lowered.compile().as_text()

def refused():
    try:
        train.fit(x, y, batch_size=30, epochs=1)
    except ValueError as e:
        return str(e)

keys = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(1), 8)))
lrs = np.linspace(0.1, 0.8, 4).astype(np.float32)

def runs_sharded():
    m = train.sweep(x, y, learning_rates=lrs, keys=keys, batch_size=32, epochs=1)
    single = train.sweep(x, y, learning_rates=lrs, keys=keys, batch_size=32, epochs=1, shard_runs=False)
    diff = np.abs(np.asarray(m.params.w) - np.asarray(single.params.w)).max()
    return [len(m.params.b.sharding.device_set), float(diff)]

check("max_diff", data_parallel)
check("all_reduce", all_reduce)
check("refused", refused)
check("runs", runs_sharded)
out["cli_rc"] = main(["train", "--rows", "500", "--batch-size", "30", "--epochs", "1"])
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def result():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def test_eight_devices_visible(result):
    assert result[0]["devices"] == 8


def test_data_parallel_equals_single_device(result):
    assert result[0]["max_diff"] < 1e-6  # float32, summation order differs across devices
    assert result[0]["all_reduce"]


def test_indivisible_batch_is_refused_clearly(result):
    out, err = result
    assert "batch_size 30 does not split over the 8 devices: use a multiple of 8 (8, 16, 24" in out["refused"]
    assert out["cli_rc"] == 2 and "--batch-size 30 does not split over the 8 devices" in err
    assert "Traceback" not in err


def test_runs_axis_sharded_and_equal(result):
    assert result[0]["runs"][0] == 8
    assert result[0]["runs"][1] < 1e-6
