"""Data parallelism over devices and sharded runs, on 8 simulated CPU devices (in a subprocess)."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

SCRIPT = r"""
import json, jax, jax.numpy as jnp, numpy as np
from jaxsgd import runs, sgd
from jaxsgd.cli import main
out = {"devices": jax.device_count()}
rng = np.random.default_rng(0)
x = rng.normal(size=(1000, 2)).astype(np.float32)
y = rng.uniform(size=1000).astype(np.float32)
par, _ = sgd.train(x, y, batch_size=64, epochs=3, key=jax.random.key(0), learning_rate=0.5)
one, _ = sgd.train(x, y, batch_size=64, epochs=3, key=jax.random.key(0), learning_rate=0.5, parallel=False)
out["max_diff"] = float(np.abs(np.asarray(par.to_theta()) - np.asarray(one.to_theta())).max())
f = sgd.epoch_fn(None, 64, True, "auto", sgd.data_mesh())
st = sgd.init_state(2, key=jax.random.key(0), learning_rate=0.5)
hlo = f.lower(st, jnp.asarray(x.T), jnp.asarray(y)).compile().as_text()
out["all_reduce"] = "all-reduce" in hlo
try:
    sgd.train(x, y, batch_size=30, epochs=1)
    out["refused"] = None
except ValueError as e:
    out["refused"] = str(e)
keys = jax.random.split(jax.random.key(1), 8)
lrs = np.linspace(0.1, 0.8, 8).astype(np.float32)
m = runs.train_many(x, y, lrs, keys, batch_size=32, epochs=1)
out["runs_sharded"] = len(m.b.sharding.device_set)
single = runs.train_many(x, y, lrs, keys, batch_size=32, epochs=1, shard_runs=False)
out["runs_diff"] = float(np.abs(np.asarray(m.w) - np.asarray(single.w)).max())
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
    assert "batch size 30 is not divisible by the 8 devices" in out["refused"]
    assert out["cli_rc"] == 2 and "not divisible by the 8 devices" in err and "Traceback" not in err


def test_runs_axis_sharded_and_equal(result):
    assert result[0]["runs_sharded"] == 8
    assert result[0]["runs_diff"] < 1e-6
