"""The native epoch (jaxsgd/train/_native_epoch.cc through XLA FFI) against the scan it replaces on a CPU."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsgd import model, train
from jaxsgd.errors import InputError
from jaxsgd.train import _native

needs_native = pytest.mark.skipif(not _native.available(), reason=f"the native epoch is not built here "
                                                                  f"({_native.status()})")


def _runs(dtype, d, seeds, lrs):
    keys = np.stack([np.arange(seeds, dtype=np.uint32), np.full(seeds, 11, np.uint32)], axis=1)
    return keys, train.TrainState.create_runs(d, keys, np.asarray(lrs, dtype), optimizer=train.make_optimizer("sgd"),
                                              dtype=dtype)


def _data(dtype, n, d, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = 1 / (1 + np.exp(-(0.3 + x @ np.linspace(1.0, -0.5, d)))) + 0.05 * rng.normal(size=n)
    return train.rows_of(jnp.asarray(x, dtype), jnp.asarray(y, dtype))


def _both(runs, perms, rows, **kw):
    opt = train.make_optimizer("sgd")
    return (train.epoch(runs, perms, rows, optimizer=opt, native=True, **kw),
            train.epoch(runs, perms, rows, optimizer=opt, native=False, **kw))


# (N, d, seeds, learning rates, B, drop_last): one run and sweeps, B = 1 and B = N, a partial last batch
CASES = [(203, 2, 1, [0.5], 16, True), (203, 2, 1, [0.5], 16, False), (97, 1, 2, [0.25, 4.0], 1, True),
         (64, 5, 3, [0.1, 1.0, 8.0], 64, False), (1003, 3, 4, [0.125, 0.5, 2.0, 8.0, 32.0], 7, False),
         (300, 9, 2, [0.5, 2.0], 32, False)]  # the last: more features than the one-pass steps take


@needs_native
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"N{c[0]}-d{c[1]}-S{c[2]}-L{len(c[3])}-B{c[4]}-{c[5]}")
def test_native_epoch_equals_the_scan_to_rounding(dtype, case):
    """Both paths sum the same terms in another order: after one epoch θ agrees within a few hundred units in
    the last place of the largest parameter (the steps of an epoch compound the rounding of each batch sum)."""
    n, d, seeds, lrs, b, drop_last = case
    keys, runs = _runs(dtype, d, seeds, lrs)
    rows, perms = _data(dtype, n, d), train.permutations(keys, 3, n)
    (got, got_steps), (ref, ref_steps) = _both(runs, perms, rows, batch_size=b, drop_last=drop_last, trace=True)
    scale = float(jnp.finfo(dtype).eps) * 256 * max(1.0, float(np.abs(np.asarray(ref.params.w)).max()))
    for a, r in [(got.params.b, ref.params.b), (got.params.w, ref.params.w), (got_steps.b, ref_steps.b),
                 (got_steps.w, ref_steps.w)]:
        assert a.shape == r.shape and a.dtype == r.dtype == dtype
        np.testing.assert_allclose(np.asarray(a), np.asarray(r), rtol=0, atol=scale)
    assert got_steps.w.shape == (n // b, seeds, len(lrs), d)
    assert int(got.epoch) == int(runs.epoch) + 1
    assert got.opt_state.hyperparams["learning_rate"].tolist() == runs.opt_state.hyperparams["learning_rate"].tolist()
    assert np.asarray(ref.params.w).std() > 0  # the runs moved


@needs_native
def test_native_epoch_matches_float64_numpy(x64):
    """Against a float64 loop written out in numpy, to 1e-12: the native arithmetic is the model's."""
    n, d, b, lr = 203, 2, 16, 0.7
    keys, runs = _runs(jnp.float64, d, 1, [lr])
    rows = _data(jnp.float64, n, d)
    perm = np.asarray(train.permutations(keys, 0, n))[0]
    got = train.epoch(runs, perm[None], rows, optimizer=train.make_optimizer("sgd"), batch_size=b, drop_last=False,
                      native=True)
    x, y, theta = np.asarray(rows)[:, :d], np.asarray(rows)[:, d], np.zeros(d + 1)
    for start in range(0, n, b):
        idx = perm[start:start + b]
        z = theta[0] + x[idx] @ theta[1:]
        h = 1 / (1 + np.exp(-z))
        dz = (h - y[idx]) * h * (1 - h)
        theta = theta - lr * np.concatenate([[dz.mean()], (dz[:, None] * x[idx]).mean(0)])
    ours = np.concatenate([np.asarray(got.params.b).ravel(), np.asarray(got.params.w).ravel()])
    np.testing.assert_allclose(ours, theta, rtol=1e-12, atol=1e-14)


@needs_native
def test_native_epoch_diverges_as_the_scan_does():
    """Learning rates far too large: the same runs end non-finite (or saturated) on both paths, none silently
    finite on one and NaN on the other."""
    keys, runs = _runs(jnp.float32, 2, 2, [1e3, 1e6, 3e38])
    rows = _data(jnp.float32, 128, 2) * 50.0
    got, ref = _both(runs, train.permutations(keys, 0, 128), rows, batch_size=4)
    np.testing.assert_array_equal(np.isfinite(np.asarray(got.params.w)), np.isfinite(np.asarray(ref.params.w)))
    np.testing.assert_array_equal(np.isnan(np.asarray(got.params.b)), np.isnan(np.asarray(ref.params.b)))


@needs_native
def test_fit_and_sweep_take_the_native_epoch():
    """The defaults go native, and a run taken out of a native sweep is fit's run to rounding."""
    n = 203
    rows = _data(jnp.float32, n, 2)
    x, y = rows[:, :2], rows[:, 2]
    keys = np.array([[0, 5], [0, 6]], np.uint32)
    lrs = [0.5, 2.0]
    swept = train.sweep(x, y, learning_rates=lrs, keys=keys, batch_size=8, epochs=2, threads=1)
    for s in range(2):
        for j, lr in enumerate(lrs):
            one = train.fit(x, y, batch_size=8, epochs=2, learning_rate=lr, key=jnp.asarray(keys[s])).state
            np.testing.assert_allclose(np.asarray(swept.run(s, j).params.to_theta()),
                                       np.asarray(one.params.to_theta()), rtol=1e-5, atol=1e-6)
    lowered = train.epoch.lower(swept, train.permutations(keys, 0, n), rows, optimizer=train.make_optimizer("sgd"),
                                batch_size=8).as_text()
    assert _native.TARGET in lowered and "while" not in lowered  # one custom call, no scan


def test_native_true_refuses_what_it_cannot_run():
    opt = train.make_optimizer("adam")
    keys = np.array([[0, 1]], np.uint32)
    runs = train.TrainState.create_runs(2, keys, [0.1], optimizer=opt)
    with pytest.raises(InputError, match=r"native=True, but the native epoch does not apply here .*leave native out"):
        train.epoch(runs, train.permutations(keys, 0, 16), _data(jnp.float32, 16, 2), optimizer=opt, batch_size=4,
                    native=True)
    m = model.mlp((3,))
    mruns = train.TrainState.create_runs(2, keys, [0.1], optimizer=train.make_optimizer("sgd"),
                                         params=m.init(jax.random.key(0), 2))
    with pytest.raises(InputError, match="does not apply"):
        train.epoch(mruns, train.permutations(keys, 0, 16), _data(jnp.float32, 16, 2),
                    optimizer=train.make_optimizer("sgd"), batch_size=4, loss=m.loss, native=True)


def test_the_scan_is_used_where_the_native_epoch_is_not():
    """Adam, the MLP: the epoch is the scan (a while loop), no custom call."""
    opt = train.make_optimizer("adam")
    keys = np.array([[0, 1]], np.uint32)
    runs = train.TrainState.create_runs(2, keys, [0.1], optimizer=opt)
    text = train.epoch.lower(runs, train.permutations(keys, 0, 16), _data(jnp.float32, 16, 2), optimizer=opt,
                             batch_size=4).as_text()
    assert _native.TARGET not in text and "while" in text


def _status_in(env, tmp_path):
    code = "from jaxsgd.train import _native; print(_native.status())"
    full = {**os.environ, "JAXSGD_CACHE": str(tmp_path), **env}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_switched_off_or_unbuildable_falls_back_to_the_scan(tmp_path):
    assert _status_in({"JAXSGD_NATIVE": "0"}, tmp_path) == "scan: JAXSGD_NATIVE=0 is set"
    broken = _status_in({"CXX": "false"}, tmp_path)
    assert broken.startswith("scan: ") and "could not build it" in broken
    assert not list(tmp_path.glob("*.so")) and not list(tmp_path.glob(".build-*"))  # nothing half-built left
    code = ("import numpy as np; from jaxsgd import train; x = np.random.default_rng(0).normal(size=(64, 2)); "
            "print(train.fit(x.astype(np.float32), (x[:, 0] > 0).astype(np.float32), batch_size=8, epochs=2)"
            ".state.epoch)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "JAXSGD_CACHE": str(tmp_path), "CXX": "false"})
    assert out.returncode == 0 and out.stdout.strip() == "2", out.stderr


@needs_native
def test_built_once_then_cached(tmp_path):
    first = _status_in({}, tmp_path)
    assert first.startswith("native: ") and first.endswith("(built)")
    assert _status_in({}, tmp_path).endswith("(cached)")
    assert len(list(tmp_path.glob("native_epoch-*.so"))) == 1


@needs_native
def test_an_index_out_of_range_is_refused_not_read():
    """A hand-made permutation with a row index past the data: an error from the call, never a read outside it."""
    _, runs = _runs(jnp.float32, 2, 1, [0.5])
    perms = np.arange(16, dtype=np.int32)[None].copy()
    perms[0, 3] = 1 << 30
    with pytest.raises(Exception, match="permutation index is out of range"):
        jax.block_until_ready(train.epoch(runs, perms, _data(jnp.float32, 16, 2), optimizer=train.make_optimizer("sgd"),
                                          batch_size=4, native=True))


@needs_native
def test_grad_and_vmap_through_the_native_epoch_are_the_scans():
    """An epoch differentiated with respect to the learning rate, and vmapped over learning rates: the native
    default gives the scan's derivative (its JVP is the scan's) and the scan's values."""
    opt, keys = train.make_optimizer("sgd"), np.array([[0, 1]], np.uint32)
    rows, perms = _data(jnp.float32, 32, 2), train.permutations(keys, 0, 32)
    runs = train.TrainState.create_runs(2, keys, [0.5], optimizer=opt)

    def final(lr, native):
        r = runs._replace(opt_state=train.set_learning_rate(runs.opt_state, jnp.full((1, 1), lr)))
        return jnp.sum(train.epoch(r, perms, rows, optimizer=opt, batch_size=4, native=native).params.w ** 2)

    g_native, g_scan = jax.grad(final)(0.5, None), jax.grad(final)(0.5, False)
    assert abs(float(g_native) - float(g_scan)) <= 1e-6 * abs(float(g_scan)) and float(g_scan) != 0
    lrs = jnp.array([0.25, 0.5, 2.0])
    np.testing.assert_allclose(jax.vmap(lambda a: final(a, None))(lrs), jax.vmap(lambda a: final(a, False))(lrs),
                               rtol=1e-5)


@needs_native
def test_the_neurons_own_loss_given_explicitly_takes_the_native_epoch():
    keys, runs = _runs(jnp.float32, 2, 1, [0.5])
    args = (runs, train.permutations(keys, 0, 64), _data(jnp.float32, 64, 2))
    kw = dict(optimizer=train.make_optimizer("sgd"), batch_size=8)
    text = train.epoch.lower(*args, loss=model.example_loss, **kw).as_text()
    assert _native.TARGET in text
    np.testing.assert_array_equal(np.asarray(train.epoch(*args, loss=model.example_loss, **kw).params.w),
                                  np.asarray(train.epoch(*args, **kw).params.w))


SHARDED = """
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import numpy as np
from jaxsgd import train
x = np.random.default_rng(0).normal(size=(203, 3)).astype(np.float32)
keys = np.stack([np.arange(4, dtype=np.uint32), np.full(4, 5, np.uint32)], 1)
r = train.sweep(x, (x[:, 0] > 0).astype(np.float32), learning_rates=[0.5, 2.0], keys=keys, batch_size=8, epochs=2,
                shard_runs=True)
print(tuple(r.params.w.sharding.spec))
"""


def test_seeds_split_over_devices_stay_split():
    """sweep(shard_runs=True) on two host devices keeps the seeds split (the scan, which XLA partitions), rather
    than running every seed's native loop whole on each device."""
    out = subprocess.run([sys.executable, "-c", SHARDED], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "('runs',)"


@needs_native
def test_a_damaged_cached_library_is_built_again(tmp_path):
    """A truncated library in the cache (its bytes no longer those hashed beside it) is rebuilt, not loaded."""
    assert _status_in({}, tmp_path).endswith("(built)")
    (lib,) = tmp_path.glob("native_epoch-*.so")
    lib.write_bytes(lib.read_bytes()[:4000])
    assert _status_in({}, tmp_path).endswith("(built)")
    assert _status_in({}, tmp_path).endswith("(cached)")


def test_switch_words_and_compiler_arguments(tmp_path):
    assert _status_in({"JAXSGD_NATIVE": "Off"}, tmp_path) == "scan: JAXSGD_NATIVE=Off is set"
    with_args = _status_in({"CXX": "false --with-an-argument"}, tmp_path)
    assert with_args.startswith("scan: ") and "false --with-an-argument could not build it" in with_args


def _numpy_shuffle(seed, n):
    want = np.arange(n, dtype=np.int64)
    np.random.default_rng(seed).shuffle(want)
    return want


@needs_native
@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 9, 255, 256, 257, 4097, 65_536, 65_537, 200_003])
def test_native_shuffle_draws_exactly_numpys(n):
    """The native shuffle is numpy's Fisher–Yates from the same PCG64 outputs: equal orders, for sizes at and
    beside the mask's powers of two and over several blocks of the generator's outputs."""
    for seed in ([0, 0, 0], [3, 11, 7], [2**32 - 1, 5, 99]):
        got = _native.shuffle(np.arange(n, dtype=np.int32), seed)
        np.testing.assert_array_equal(got, _numpy_shuffle(seed, n))


@needs_native
def test_native_shuffle_resumes_between_blocks_of_draws(monkeypatch):
    """With one to three 64-bit outputs per call, the blocks end inside rejection runs and between the two
    32-bit halves' uses: the orders are still numpy's."""
    for raw in (1, 2, 3):
        monkeypatch.setattr(_native, "_RAW", raw)
        for n in (2, 6, 33, 1000):
            np.testing.assert_array_equal(_native.shuffle(np.arange(n, dtype=np.int32), [n, raw, 1]),
                                          _numpy_shuffle([n, raw, 1], n))


@needs_native
def test_host_permutations_are_the_same_with_and_without_the_native_shuffle(monkeypatch):
    keys = np.array([[1, 2], [3, 4]], np.uint32)
    native = train.permutations(keys, 5, 70_001, "host")
    monkeypatch.setattr(_native, "shuffles", lambda: False)
    np.testing.assert_array_equal(native, train.permutations(keys, 5, 70_001, "host"))


def test_native_shuffle_refuses_what_it_cannot_shuffle_in_place():
    if not _native.available():
        with pytest.raises(RuntimeError, match="not available"):
            _native.shuffle(np.arange(3, dtype=np.int32), [0])
        return
    for bad in (np.arange(4, dtype=np.int64), np.arange(8, dtype=np.int32)[::2], np.zeros((2, 2), np.int32)):
        with pytest.raises(ValueError, match="int32"):
            _native.shuffle(bad, [0])
    one = np.zeros(1, np.int32)
    assert _native.shuffle(one, [0]).tolist() == [0] and _native.shuffle(np.zeros(0, np.int32), [0]).size == 0
