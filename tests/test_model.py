"""Model, loss, gradients and the one SGD step (jaxsgd.train.step) against hand formulas and mpmath."""

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

from jaxsgd import model, train
from jaxsgd.model import Params


@pytest.fixture(autouse=True)
def _fifty_digits():
    """mpmath at 50 digits for this module's references, restored afterwards."""
    with mp.workdps(50):
        yield

# Tolerances: the gradient is a product of about five correctly rounded or
# nearly correctly rounded factors (lax.logistic is within ~1e-7 relative in
# float32), so ~8 ulps: 1e-6 in float32 (ulp 6e-8), 1e-12 in float64 (ulp 1.1e-16)
# leaves a wide margin in float64 and a factor ~2 in float32.
RTOL = {"float32": 1e-6, "float64": 1e-12}


def _mp_sigmoid(z):
    return 1 / (1 + mp.exp(-mp.mpf(z)))


def _exact_cases(rng, n, d=2):
    """θ, x, y whose z = b + w·x is exact in float32: all dyadic with few bits."""
    b = rng.integers(-60 * 2**16, 60 * 2**16, n) / 2**16
    w = rng.integers(-8, 9, (n, d)) / 4
    x = rng.integers(-2, 3, (n, d)).astype(float)
    y = rng.choice([-1.0, -0.5, 1.5, 2.0, 3.0], n)
    return b, w, x, y


@pytest.mark.parametrize("use_jit", [False, True])
def test_gradient_matches_mpmath_over_z_range(dtype, use_jit):
    rng = np.random.default_rng(0)
    b, w, x, y = _exact_cases(rng, 200)
    # add the extremes of the range explicitly: z = ±80, ±21, 0 (w = 0)
    extremes = np.array([-80.0, -21.0, 0.0, 21.0, 80.0])
    b = np.concatenate([b, extremes])
    w = np.concatenate([w, np.zeros((5, 2))])
    x = np.concatenate([x, np.ones((5, 2))])
    y = np.concatenate([y, [3.0, 3.0, 3.0, 3.0, -1.0]])
    grad = jax.vmap(jax.grad(model.example_loss))
    if use_jit:
        grad = jax.jit(grad)
    g = grad(Params(jnp.asarray(b, dtype), jnp.asarray(w, dtype)), jnp.asarray(x, dtype), jnp.asarray(y, dtype))
    got = np.asarray(jnp.concatenate([g.b[:, None], g.w], axis=1), dtype=float)
    worst = 0.0
    for i in range(len(b)):
        z = mp.mpf(b[i]) + sum(mp.mpf(w[i, j]) * mp.mpf(x[i, j]) for j in range(2))
        assert -80 <= z <= 80
        h = _mp_sigmoid(z)
        dz = (h - mp.mpf(y[i])) * h * _mp_sigmoid(-z)
        ref = [dz] + [dz * mp.mpf(x[i, j]) for j in range(2)]
        for j, r in enumerate(ref):
            if r == 0:
                assert got[i, j] == 0.0
            else:
                worst = max(worst, float(abs((mp.mpf(got[i, j]) - r) / r)))
    assert worst <= RTOL[str(dtype)], worst


def test_sigmoid_prime_full_range(dtype):
    z = np.linspace(-80, 80, 641)
    got = np.asarray(jax.vmap(jax.grad(model.sigmoid))(jnp.asarray(z, dtype)), dtype=float)
    via_prime = np.asarray(model.sigmoid_prime(jnp.asarray(z, dtype)), dtype=float)
    ref = np.array([float(_mp_sigmoid(t) * _mp_sigmoid(-t)) for t in z])
    assert np.max(np.abs(got - ref) / ref) <= RTOL[str(dtype)]
    np.testing.assert_array_equal(got, via_prime)


def test_naive_sigmoid_gradient_vanishes_at_21_in_float32():
    """The reason for the custom derivative: jax.nn.sigmoid's gradient is 0 at z = 21."""
    assert float(jax.grad(jax.nn.sigmoid)(jnp.float32(21.0))) == 0.0
    assert float(jax.grad(model.sigmoid)(jnp.float32(21.0))) == pytest.approx(7.5825604164128622e-10, rel=1e-6)


def test_hand_derived_formula_batch_step(dtype):
    rng = np.random.default_rng(1)
    B, d, lr = 8, 3, 0.7
    x = rng.normal(size=(B, d))
    y = rng.uniform(0, 1, B)
    theta = rng.normal(size=d + 1)
    # float64 numpy reference of θ − α·(1/B)Σ(h − y)σ′(z)(1, x)
    xr = np.asarray(jnp.asarray(x, dtype), float)
    yr = np.asarray(jnp.asarray(y, dtype), float)
    tr = np.asarray(jnp.asarray(theta, dtype), float)
    z = tr[0] + xr @ tr[1:]
    h = 1 / (1 + np.exp(-z))
    dz = (h - yr) * h * (1 - h)
    ref = tr - lr * np.concatenate([[dz.mean()], (dz[:, None] * xr).mean(0)])
    p = Params.from_theta(jnp.asarray(theta, dtype))
    opt = train.make_optimizer("sgd")  # the one SGD step every run takes
    step = jax.jit(train.step, static_argnums=0)
    new, _ = step(opt, p, train.set_learning_rate(opt.init(p), lr), jnp.asarray(x, dtype).T, jnp.asarray(y, dtype))
    assert new.b.dtype == dtype and new.w.dtype == dtype
    np.testing.assert_allclose(np.asarray(new.to_theta(), float), ref, rtol=RTOL[str(dtype)] * 10, atol=0)


def test_batch_loss_gradient_is_mean_of_per_example(dtype):
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.normal(size=(5, 2)), dtype)
    y = jnp.asarray(rng.uniform(size=5), dtype)
    p = Params.from_theta(jnp.asarray([0.3, -0.2, 0.5], dtype))
    per = model.per_example_grads(p, x, y)
    assert per.w.shape == (5, 2)
    g = jax.grad(model.batch_loss)(p, x, y)
    tol = RTOL[str(dtype)]
    np.testing.assert_allclose(g.b, per.b.mean(), rtol=tol)
    np.testing.assert_allclose(g.w, per.w.mean(axis=0), rtol=tol, atol=tol)


def test_predict_batch_and_loss_values(dtype):
    p = Params.from_theta(jnp.asarray([0.0, 1.0], dtype))
    x = jnp.asarray([[0.0], [2.0]], dtype)
    h = model.predict_batch(p, x)
    assert h.shape == (2,)
    assert float(h[0]) == 0.5
    loss = model.batch_loss(p, x, jnp.asarray([1.0, 1.0], dtype))
    ref = (0.5 * 0.25 + 0.5 * float((1 - _mp_sigmoid(2)) ** 2)) / 2  # mean of ½(y − h)²
    assert float(loss) == pytest.approx(ref, rel=RTOL[str(dtype)])


def test_params_from_theta_rejects_bad_shape():
    with pytest.raises(ValueError, match="theta must be a vector"):
        Params.from_theta([1.0])
