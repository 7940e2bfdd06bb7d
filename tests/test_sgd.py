"""The trainer: numpy reference, optax equivalence, no recompiles, determinism, partial batches."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxsgd import sgd as T
from jaxsgd.model import Params

N, D, B = 203, 2, 16  # N mod B = 11: a partial last batch


def _data(dtype, n=N, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D))
    y = 1 / (1 + np.exp(-(0.3 + x @ np.array([1.0, -0.5])))) + 0.05 * rng.normal(size=n)
    return jnp.asarray(x, dtype), jnp.asarray(y, dtype)


def _numpy_epoch(theta, x, y, perm, lr, bsz, drop_last):
    """float64 reference: θ ← θ − α·(1/|β|) Σ (h − y)·σ′(z)·(1, x) over the batches of perm."""
    theta = np.array(theta, np.float64)
    n = len(perm)
    stops = list(range(bsz, n + 1, bsz))
    if not drop_last and n % bsz:
        stops.append(n)
    start = 0
    for stop in stops:
        idx = perm[start:stop]
        xb, yb = x[idx], y[idx]
        z = theta[0] + xb @ theta[1:]
        h = 1 / (1 + np.exp(-z))
        dz = (h - yb) * h * (1 - h)
        theta = theta - lr * np.concatenate([[dz.mean()], (dz[:, None] * xb).mean(0)])
        start = stop
    return theta


@pytest.mark.parametrize("drop_last", [True, False])
def test_epoch_matches_numpy_float64(x64, drop_last):
    x, y = _data(jnp.float64)
    state = T.init_state(D, key=jax.random.key(3), learning_rate=0.7, dtype=jnp.float64,
                         params=Params(jnp.float64(0.1), jnp.array([0.2, -0.1])))
    key = jax.random.wrap_key_data(state.key)
    _, sub = jax.random.split(key)
    perm = np.asarray(T.permutation(sub, N, "host"))
    new, _ = T.epoch_fn(None, B, drop_last, "host")(state, x.T, y)
    ref = _numpy_epoch([0.1, 0.2, -0.1], np.asarray(x), np.asarray(y), perm, 0.7, B, drop_last)
    np.testing.assert_allclose(np.asarray(new.params.to_theta()), ref, rtol=1e-12, atol=1e-14)
    assert int(new.epoch) == 1


def test_default_is_optax_sgd_bit_for_bit(dtype):
    x, y = _data(dtype)
    ours, _ = T.train(x, y, batch_size=B, epochs=3, learning_rate=0.5, key=jax.random.key(1))
    theirs, _ = T.train(x, y, batch_size=B, epochs=3, optimizer=optax.sgd(0.5), key=jax.random.key(1))
    np.testing.assert_array_equal(np.asarray(ours.to_theta()), np.asarray(theirs.to_theta()))
    assert ours.b.dtype == dtype


def test_same_seed_same_params_and_different_seed_differs():
    x, y = _data(jnp.float32)
    a, _ = T.train(x, y, batch_size=B, epochs=2, key=jax.random.key(5))
    b, _ = T.train(x, y, batch_size=B, epochs=2, key=jax.random.key(5))
    c, _ = T.train(x, y, batch_size=B, epochs=2, key=jax.random.key(6))
    np.testing.assert_array_equal(np.asarray(a.to_theta()), np.asarray(b.to_theta()))
    assert not np.array_equal(np.asarray(a.to_theta()), np.asarray(c.to_theta()))


def test_no_recompile_across_lr_epochs_and_seed():
    x, y = _data(jnp.float32)
    fn = T.epoch_fn(None, B, True, "auto")
    T.train(x, y, batch_size=B, epochs=1, learning_rate=0.1, key=jax.random.key(0))
    size = fn._cache_size()
    T.train(x, y, batch_size=B, epochs=3, learning_rate=0.3, key=jax.random.key(9))
    T.train(x, y, batch_size=B, epochs=2, learning_rate=1.7, key=jax.random.key(2))
    assert fn._cache_size() == size
    run = T._run_epochs_fn(T.make_optimizer("sgd"), B, True, "auto")
    st = T.init_state(D, key=jax.random.key(0), learning_rate=0.2)
    T.run_epochs(st, x.T, y, 1, batch_size=B)
    size = run._cache_size()
    st2 = T.init_state(D, key=jax.random.key(4), learning_rate=0.9)
    T.run_epochs(st2, x.T, y, 3, batch_size=B)
    assert run._cache_size() == size


def test_run_epochs_one_call_equals_epoch_by_epoch():
    x, y = _data(jnp.float32)
    st = T.init_state(D, key=jax.random.key(8), learning_rate=0.4)
    fn = T.epoch_fn(None, B, True, "auto")
    s = st
    for _ in range(3):
        s, _ = fn(s, x.T, y)
    one = T.run_epochs(st, x.T, y, 3, batch_size=B)
    np.testing.assert_array_equal(np.asarray(one.params.to_theta()), np.asarray(s.params.to_theta()))
    assert int(one.epoch) == 3


@pytest.mark.parametrize("method", ["host", "sort"])
def test_shuffle_is_a_permutation_that_changes_per_epoch(method):
    k1, k2 = jax.random.split(jax.random.key(0))
    p1 = np.asarray(T.permutation(k1, 1000, method))
    p2 = np.asarray(T.permutation(k2, 1000, method))
    assert sorted(p1) == list(range(1000)) and sorted(p2) == list(range(1000))
    assert not np.array_equal(p1, p2)
    np.testing.assert_array_equal(p1, np.asarray(T.permutation(k1, 1000, method)))  # reproducible


def test_shuffle_is_uniform_on_small_n():
    """All 3! = 6 orders appear about equally often (chi-square, 5 dof, p ≈ 1e-4 bound)."""
    keys = jax.random.split(jax.random.key(1), 3000)
    perms = jax.vmap(lambda k: T.permutation(k, 3, "host"))(keys)
    codes = np.asarray(perms[:, 0] * 3 + perms[:, 1])
    counts = np.bincount(codes, minlength=9)[[1, 2, 3, 5, 6, 7]]
    chi2 = ((counts - 500) ** 2 / 500).sum()
    assert counts.sum() == 3000 and chi2 < 25.7


def test_drop_last_vs_keep_partial_batch_differ():
    x, y = _data(jnp.float32)
    a, _ = T.train(x, y, batch_size=B, epochs=1, key=jax.random.key(0), drop_last=True)
    b, _ = T.train(x, y, batch_size=B, epochs=1, key=jax.random.key(0), drop_last=False)
    assert not np.array_equal(np.asarray(a.to_theta()), np.asarray(b.to_theta()))


def test_training_recovers_a_known_truth():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    y = 1 / (1 + np.exp(-(0.5 + x @ np.array([1.5, -1.0]))))
    p, hist = T.train(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), batch_size=8, epochs=20,
                      learning_rate=2.0, key=jax.random.key(0))
    np.testing.assert_allclose(np.asarray(p.to_theta()), [0.5, 1.5, -1.0], atol=2e-2)
    assert hist.train_loss[-1] < hist.train_loss[0]


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"batch_size": 0}, "batch size must be"),
        ({"batch_size": N + 1}, "larger than the 203 training rows"),
        ({"epochs": 0}, "epochs must be"),
        ({"learning_rate": -1.0}, "learning rate must be"),
        ({"learning_rate": float("nan")}, "learning rate must be"),
    ],
)
def test_bad_arguments(kwargs, needle):
    x, y = _data(jnp.float32)
    args = {"batch_size": B, "epochs": 1, **kwargs}
    with pytest.raises(ValueError, match=needle):
        T.train(x, y, **args)


def test_unknown_optimizer_and_shuffle():
    with pytest.raises(ValueError, match="unknown optimizer"):
        T.make_optimizer("rmsprop")
    with pytest.raises(ValueError, match="unknown shuffle"):
        T.permutation(jax.random.key(0), 4, "bogus")


def test_seed_key_uses_all_64_bits():
    data = lambda s: jax.random.key_data(T.seed_key(s)).tolist()  # noqa: E731
    assert data(5) == jax.random.key_data(jax.random.key(5)).tolist()  # unchanged below 2³²
    assert data(2**32) != data(0) and data(2**64 - 1) == [2**32 - 1, 2**32 - 1]
    for bad in (-1, 2**64, 1.0, True):
        with pytest.raises(ValueError, match="seed must be"):
            T.seed_key(bad)
