"""Any model: a per-example loss over a pytree in fit, sweep and the noise scales; the built-in MLP.

References are independent of the library: a float64 NumPy loop for full-batch SGD on a linear model, finite
differences (``jax.test_util.check_grads``) for the MLP's gradients, and the neuron's own default path.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxsgd import model, study, train
from jaxsgd.errors import InputError


def linear_loss(params, x, y):  # a model the library has never seen: a dict pytree, no sigmoid
    return 0.5 * (y - (params["w"] @ x + params["b"])) ** 2


def _rows(n=64, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ np.arange(1.0, d + 1) * 0.1 + 0.2).astype(np.float32)
    return x, y


def test_a_pytree_model_trains_as_a_float64_numpy_loop():
    x, y = _rows()
    p0 = {"w": np.zeros(3, np.float32), "b": np.float32(0.0)}
    state, hist = train.fit(x, y, loss=linear_loss, params=p0, batch_size=len(y), epochs=20, learning_rate=0.3)
    assert set(state.params) == {"w", "b"} and state.params["w"].shape == (3,)  # the structure it was given
    w, b = np.zeros(3), 0.0
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    for _ in range(20):  # one full batch per epoch: the shuffle does not matter
        r = x64 @ w + b - y64
        w, b = w - 0.3 * (x64.T @ r) / len(y), b - 0.3 * r.mean()
    np.testing.assert_allclose(state.params["w"], w, rtol=1e-5, atol=1e-6)  # float32 against float64
    assert float(state.params["b"]) == pytest.approx(b, rel=1e-5, abs=1e-6)
    assert hist.train_loss[-1] == pytest.approx(0.5 * np.mean((x64 @ w + b - y64) ** 2), rel=1e-3)


def test_the_neurons_loss_given_explicitly_is_the_default_bit_for_bit():
    x, y = _rows(d=2)
    y = 1 / (1 + np.exp(-y))
    a = train.fit(x, y, batch_size=8, epochs=2, key=jax.random.key(1))
    b = train.fit(x, y, batch_size=8, epochs=2, key=jax.random.key(1), loss=model.example_loss,
                  params=model.init_params(2))
    assert np.array_equal(a.state.params.to_theta(), b.state.params.to_theta())
    assert a.history.train_loss == b.history.train_loss


def test_a_loss_without_params_is_refused_by_name():
    x, y = _rows()
    with pytest.raises(InputError, match="loss was given without params"):
        train.fit(x, y, loss=linear_loss)
    with pytest.raises(InputError, match="loss was given without params"):
        train.sweep(x, y, loss=linear_loss, learning_rates=[0.1], keys=np.zeros((1, 2), np.uint32), batch_size=8,
                    epochs=1)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_the_mlps_gradients_match_finite_differences(dtype):
    with jax.enable_x64(dtype == jnp.float64):
        m = model.mlp((5, 3), dtype=dtype)
        p = m.init(jax.random.key(0), 4)
        p = jax.tree.map(lambda a: a + 0.3 * jnp.ones_like(a), p)  # off the zero output layer
        x = jnp.asarray([0.5, -1.0, 2.0, 0.1], dtype)
        eps = 1e-2 if dtype == jnp.float32 else 1e-5
        tol = 5e-2 if dtype == jnp.float32 else 1e-6
        check_grads(lambda q: m.loss(q, x, jnp.asarray(0.7, dtype)), (p,), order=2, modes=["rev"], eps=eps,
                    atol=tol, rtol=tol)


def test_the_mlp_fits_what_the_neuron_cannot():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(512, 2)).astype(np.float32)
    y = (0.1 + 0.8 * (x[:, 0] * x[:, 1] > 0)).astype(np.float32)  # XOR-like: no single neuron separates it
    neuron = train.fit(x, y, batch_size=32, epochs=30, learning_rate=2.0)
    m = model.mlp((8,))
    net = train.fit(x, y, batch_size=32, epochs=30, learning_rate=2.0, loss=m.loss,
                    params=m.init(jax.random.key(0), 2))
    assert net.history.train_loss[-1] < 0.3 * neuron.history.train_loss[-1]
    assert isinstance(net.state.params, tuple) and all(isinstance(layer, model.Layer) for layer in net.state.params)


def test_a_sweep_of_mlps_is_each_fit():
    x, y = _rows(n=96, d=2)
    y = 1 / (1 + np.exp(-y))
    m = model.mlp((4,))
    keys = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(5), 2)))
    inits = [m.init(jax.random.wrap_key_data(k), 2) for k in keys]
    runs = train.sweep(x, y, learning_rates=[0.5, 2.0], keys=keys, batch_size=8, epochs=2, loss=m.loss,
                       params=lambda i: inits[i])
    for i in range(2):
        for j, lr in enumerate([0.5, 2.0]):
            one = train.fit(x, y, batch_size=8, epochs=2, learning_rate=lr, key=jax.random.wrap_key_data(keys[i]),
                            loss=m.loss, params=inits[i])
            for got, want in zip(jax.tree.leaves(runs.run(i, j).params), jax.tree.leaves(one.state.params),
                                 strict=True):
                np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


def test_noise_scales_from_any_loss_agree_with_the_neurons_and_across_methods():
    x, y = _rows(n=200, d=2)
    y = 1 / (1 + np.exp(-y))
    p = model.Params.from_theta([0.1, 0.2, -0.3])
    ours = study.noise_scales(p, x, y)
    generic = study.noise_scales(p, x, y, loss=model.example_loss)  # the same math through ravel_pytree
    np.testing.assert_allclose(generic, ours, rtol=1e-5)
    m = model.mlp((3,))
    q = jax.tree.map(lambda a: a + 0.2, m.init(jax.random.key(2), 2))
    exact = study.noise_scales(q, x, y, loss=m.loss)
    hvp = study.noise_scales(q, x, y, loss=m.loss, method="hvp")
    hutch = study.noise_scales(q, x, y, loss=m.loss, method="hutchinson", probes=4000, key=jax.random.key(0))
    assert hvp.b_noise == pytest.approx(exact.b_noise, rel=1e-4)
    assert hutch.b_noise == pytest.approx(exact.b_noise, rel=0.15)  # 4000 Rademacher probes of 13 parameters
