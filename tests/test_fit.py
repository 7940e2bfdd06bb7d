"""The trainer: numpy reference, optax equivalence, no recompiles, determinism, partial batches."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxsgd import train
from jaxsgd.model import Params, init_params

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
    state = train.TrainState.create(Params(jnp.float64(0.1), jnp.array([0.2, -0.1])), key=jax.random.key(3),
                                    optimizer=train.make_optimizer("sgd"), learning_rate=0.7)
    new = train.fit(x, y, epochs=1, state=state, batch_size=B, drop_last=drop_last).state
    perm = train.permutations(np.asarray(state.key)[None], 0, N)[0]
    ref = _numpy_epoch([0.1, 0.2, -0.1], np.asarray(x), np.asarray(y), perm, 0.7, B, drop_last)
    np.testing.assert_allclose(np.asarray(new.params.to_theta()), ref, rtol=1e-12, atol=1e-14)
    assert int(new.epoch) == 1


def test_default_is_optax_sgd_bit_for_bit(dtype):
    """runtime_sgd's arithmetic is optax.sgd's, bit for bit, in the same compiled scan."""
    x, y = _data(dtype)
    keys, rows = np.array([[0, 1]], np.uint32), train.rows_of(x, y)
    out = []
    for opt in (train.runtime_sgd(0.5), optax.sgd(0.5)):
        runs = train.TrainState.create(init_params(D, dtype), optimizer=opt, key=jnp.asarray(keys[0])).as_runs()
        for e in range(3):
            runs = train.epoch(runs, train.permutations(keys, e, N), rows, optimizer=opt, batch_size=B,
                               native=False)
        out.append(runs.run().params)
    np.testing.assert_array_equal(np.asarray(out[0].to_theta()), np.asarray(out[1].to_theta()))
    assert out[0].b.dtype == dtype


def test_default_fit_is_optax_sgd_to_rounding(dtype):
    """fit's default (the native epoch on a CPU) against optax.sgd (the scan): the same runs up to the rounding
    of a reordered batch sum, a few units in the last place of θ after 3 epochs."""
    x, y = _data(dtype)
    ours = train.fit(x, y, batch_size=B, epochs=3, learning_rate=0.5, key=jax.random.key(1)).state.params
    theirs = train.fit(x, y, batch_size=B, epochs=3, optimizer=optax.sgd(0.5), key=jax.random.key(1)).state.params
    eps = float(jnp.finfo(dtype).eps)
    np.testing.assert_allclose(np.asarray(ours.to_theta()), np.asarray(theirs.to_theta()), rtol=64 * eps,
                               atol=64 * eps)
    assert ours.b.dtype == dtype


def test_same_seed_same_params_and_different_seed_differs():
    x, y = _data(jnp.float32)
    a = train.fit(x, y, batch_size=B, epochs=2, key=jax.random.key(5)).state.params
    b = train.fit(x, y, batch_size=B, epochs=2, key=jax.random.key(5)).state.params
    c = train.fit(x, y, batch_size=B, epochs=2, key=jax.random.key(6)).state.params
    np.testing.assert_array_equal(np.asarray(a.to_theta()), np.asarray(b.to_theta()))
    assert not np.array_equal(np.asarray(a.to_theta()), np.asarray(c.to_theta()))


class _CompileCounter:
    """Counts XLA compilations through jax.monitoring's public event stream."""

    def __init__(self):
        self.count = 0
        jax.monitoring.register_event_duration_secs_listener(self._on)

    def _on(self, event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            self.count += 1


_COUNTER = _CompileCounter()


def test_no_recompile_across_lr_epochs_and_seed():
    x, y = _data(jnp.float32)
    train.fit(x, y, batch_size=B, epochs=1, learning_rate=0.1, key=jax.random.key(0))
    before = _COUNTER.count
    train.fit(x, y, batch_size=B, epochs=3, learning_rate=0.3, key=jax.random.key(9))
    train.fit(x, y, batch_size=B, epochs=2, learning_rate=1.7, key=jax.random.key(2))
    assert _COUNTER.count == before
    train.fit(x, y, batch_size=B + 1, epochs=1, learning_rate=0.3, key=jax.random.key(9))
    assert _COUNTER.count > before  # a new batch size is a new program: the counter sees compiles


def test_stopping_and_continuing_equals_one_run():
    x, y = _data(jnp.float32)
    st = train.TrainState.create(init_params(D), key=jax.random.key(8), optimizer=train.make_optimizer("sgd"),
                                 learning_rate=0.4)
    s = st
    for e in range(3):
        s = train.fit(x, y, epochs=e + 1, state=s, batch_size=B).state
    one = train.fit(x, y, epochs=3, state=st, batch_size=B).state
    np.testing.assert_array_equal(np.asarray(one.params.to_theta()), np.asarray(s.params.to_theta()))
    assert int(one.epoch) == 3


def test_on_epoch_false_stops_and_keeps_the_state_before():
    x, y = _data(jnp.float32)
    seen = []

    def stop_at_two(state, history):
        seen.append(int(state.epoch))
        return int(state.epoch) < 2

    state, hist = train.fit(x, y, batch_size=B, epochs=5, key=jax.random.key(0), on_epoch=stop_at_two)
    assert seen == [1, 2] and int(state.epoch) == 1 and len(hist.train_loss) == 2


def test_curve_starts_at_zero_and_samples_the_first_epoch():
    x, y = _data(jnp.float32)
    _, hist = train.fit(x, y, batch_size=4, epochs=2, learning_rate=1.0, key=jax.random.key(0))
    seen = [e for e, _ in hist.curve]
    assert seen[0] == 0 and seen == sorted(seen) and len([e for e in seen if 0 < e < N]) >= 5
    assert hist.curve[-1][1] == hist.train_loss[-1] < hist.curve[0][1]


def test_drop_last_vs_keep_partial_batch_differ():
    x, y = _data(jnp.float32)
    a = train.fit(x, y, batch_size=B, epochs=1, key=jax.random.key(0), drop_last=True).state.params
    b = train.fit(x, y, batch_size=B, epochs=1, key=jax.random.key(0), drop_last=False).state.params
    assert not np.array_equal(np.asarray(a.to_theta()), np.asarray(b.to_theta()))


def test_training_recovers_a_known_truth():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    y = 1 / (1 + np.exp(-(0.5 + x @ np.array([1.5, -1.0]))))
    state, hist = train.fit(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), batch_size=8, epochs=20,
                          learning_rate=2.0, key=jax.random.key(0))
    np.testing.assert_allclose(np.asarray(state.params.to_theta()), [0.5, 1.5, -1.0], atol=2e-2)
    assert hist.train_loss[-1] < hist.train_loss[0]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"batch_size": 0}, "batch_size must be"),
        ({"batch_size": N + 1}, "larger than the 203 training rows"),
        ({"epochs": 0}, "epochs must be"),
        ({"learning_rate": -1.0}, "learning_rate must be"),
        ({"learning_rate": float("nan")}, "learning_rate must be"),
        ({"shuffle": "bogus"}, "unknown shuffle"),
    ],
)
def test_bad_arguments(kwargs, needle):
    x, y = _data(jnp.float32)
    args = {"batch_size": B, "epochs": 1, **kwargs}
    with pytest.raises(ValueError, match=needle):
        train.fit(x, y, **args)


def test_unknown_optimizer():
    with pytest.raises(ValueError, match="unknown optimizer"):
        train.make_optimizer("rmsprop")


def test_seed_key_uses_all_64_bits():
    def data(s):
        return jax.random.key_data(train.seed_key(s)).tolist()

    assert data(5) == jax.random.key_data(jax.random.key(5)).tolist()  # unchanged below 2³²
    assert data(2**32) != data(0) and data(2**64 - 1) == [2**32 - 1, 2**32 - 1]
    for bad in (-1, 2**64, 1.0, True):
        with pytest.raises(ValueError, match="seed must be"):
            train.seed_key(bad)


def test_non_finite_data_is_refused_by_name():
    x, y = _data(jnp.float32)
    with pytest.raises(ValueError, match="x must be finite"):
        train.fit(x.at[4, 1].set(jnp.nan), y, batch_size=B, epochs=1)
    with pytest.raises(ValueError, match="y must be finite"):
        train.fit(x, y.at[0].set(jnp.inf), batch_size=B, epochs=1)


@pytest.mark.parametrize("lr", [1e300, 1e-320])
def test_a_learning_rate_float32_cannot_hold_is_refused(lr):
    x, y = _data(jnp.float32)
    with pytest.raises(ValueError, match="learning_rate must be one that float32 holds"):
        train.fit(x, y, batch_size=B, epochs=1, learning_rate=lr)


def test_a_diverging_run_stops_naming_its_epoch_and_keeps_the_state_before():
    from jaxsgd.errors import TrainingStopped

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(64, 2)) * 1e3).astype(np.float32)
    y = rng.uniform(0.1, 0.9, 64).astype(np.float32)
    with pytest.raises(TrainingStopped, match=r"not finite after epoch 1 .*smaller learning_rate than 3e\+38") as e:
        train.fit(x, y, batch_size=8, epochs=3, learning_rate=3e38, key=jax.random.key(0))
    assert int(e.value.result.state.epoch) == 0 and np.isnan(e.value.result.history.train_loss[-1])
    assert np.all(np.asarray(e.value.result.state.params.to_theta()) == 0)  # θ before the bad epoch
