"""σ⁽ᵏ⁾ evaluation: every method against mpmath at ≥ 50 digits, both dtypes, tails included."""


import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

from jaxsgd.derivatives import sigmoid_derivative

XS = np.concatenate([np.linspace(-40, 40, 161), [-0.3, 0.1, 1.7]])


def _ref(xs, k):
    """σ⁽ᵏ⁾(x) = −Li₋ₖ(−eˣ), with working precision raised for the polylog's cancellation."""
    with mp.workdps(60 + 2 * k):
        return np.array([float(-mp.polylog(-k, -mp.exp(mp.mpf(float(x))))) for x in xs])


def _max_rel_err(got, ref):
    """Max relative error outside the neighbourhoods of zeros (|ref| < 5% of its local maximum)."""
    amp = np.array([np.abs(ref[max(0, i - 2):i + 3]).max() for i in range(len(ref))])
    order = np.argsort(XS)
    amp_sorted = np.empty_like(amp)
    r = ref[order]
    amp_sorted[order] = [np.abs(r[max(0, i - 2):i + 3]).max() for i in range(len(r))]
    keep = (np.abs(ref) >= 0.05 * amp_sorted) & (ref != 0)
    return float(np.max(np.abs(got[keep] - ref[keep]) / np.abs(ref[keep])))


REFS = {}


def ref(k, dtype):
    key = (k, str(dtype))
    if key not in REFS:
        REFS[key] = _ref(np.asarray(jnp.asarray(XS, dtype), float), k)
    return REFS[key]


@pytest.mark.parametrize("k", [1, 2, 3, 8, 20, 30])
def test_auto_float32(k):
    x = jnp.asarray(XS, jnp.float32)
    got = np.asarray(jax.jit(lambda v: sigmoid_derivative(v, k))(x), float)
    assert _max_rel_err(got, ref(k, jnp.float32)) <= 1e-5


@pytest.mark.parametrize("k", [1, 3, 12, 40, pytest.param(100, marks=pytest.mark.slow)])
def test_auto_float64(x64, k):
    x = jnp.asarray(XS, jnp.float64)
    got = np.asarray(sigmoid_derivative(x, k))
    assert _max_rel_err(got, ref(k, jnp.float64)) <= 1e-12


@pytest.mark.parametrize("k", [1, 4, 7])
def test_nested_grad_equals_naive_nesting_in_the_bulk(dtype, k):
    x = jnp.asarray(np.linspace(-6, 6, 25), dtype)
    ours = np.asarray(sigmoid_derivative(x, k, method="nested_grad"), float)
    naive = np.asarray(sigmoid_derivative(x, k, method="naive_grad"), float)
    exact = ref_small(np.asarray(x, float), k)
    tol = 2e-3 if dtype == jnp.float32 else 1e-9  # the naive σ(1 − σ) loses digits as |x| grows
    scale = np.max(np.abs(exact))
    np.testing.assert_allclose(naive, exact, atol=tol * scale)
    np.testing.assert_allclose(ours, exact, atol=(1e-6 if dtype == jnp.float32 else 1e-14) * scale)


def ref_small(xs, k):
    with mp.workdps(50):
        return np.array([float(-mp.polylog(-k, -mp.exp(mp.mpf(float(v))))) for v in xs])


def test_nested_grad_tail_accuracy_where_naive_fails(x64):
    x = jnp.asarray([38.0, 40.0, -40.0])  # σ(±38), σ(±40) round to 1 in float64
    exact = ref_small([38.0, 40.0, -40.0], 2)
    ours = np.asarray(sigmoid_derivative(x, 2, method="nested_grad"))
    naive = np.asarray(sigmoid_derivative(x, 2, method="naive_grad"))
    np.testing.assert_allclose(ours, exact, rtol=1e-13)
    assert np.max(np.abs(naive - exact) / np.abs(exact)) > 0.1  # σ(1 − σ) has lost it


@pytest.mark.parametrize("method", ["closed_form", "taylor", "pole"])
def test_other_methods_in_their_domain(x64, method):
    k = 9
    xs = np.linspace(-4, 4, 17)
    got = np.asarray(sigmoid_derivative(jnp.asarray(xs), k, method=method))
    np.testing.assert_allclose(got, ref_small(xs, k), rtol=1e-9, atol=1e-9 * 6.0)


def test_order_zero_is_sigma_and_vmap_jit():
    x = jnp.linspace(-3, 3, 7)
    np.testing.assert_allclose(sigmoid_derivative(x, 0), jax.nn.sigmoid(x), rtol=1e-6)
    f = jax.jit(jax.vmap(lambda v: sigmoid_derivative(v, 5)))
    np.testing.assert_allclose(f(x), sigmoid_derivative(x, 5), rtol=1e-6)


def test_overflow_gives_inf_not_nan(dtype):
    k_over = 50 if dtype == jnp.float32 else 230
    x = jnp.asarray(np.linspace(-40, 40, 401), dtype)
    v = np.asarray(sigmoid_derivative(x, k_over))
    assert not np.isnan(v).any() and np.isinf(v).any()
    below = np.asarray(sigmoid_derivative(x, 49 if dtype == jnp.float32 else 217))
    assert np.isfinite(below).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="order k must be"):
        sigmoid_derivative(0.0, -1)
    with pytest.raises(ValueError, match="unknown method"):
        sigmoid_derivative(0.0, 2, method="magic")


def test_nested_grad_program_grows_linearly_with_the_order():
    """The traced program of order k nested grads has O(k) equations, not O(2ᵏ) (a naive nesting doubles
    at every order); measured by its size, not by a clock."""
    def size(k):
        return len(jax.make_jaxpr(lambda v: sigmoid_derivative(v, k, method="nested_grad"))(0.3).jaxpr.eqns)

    assert size(10) < size(20) < 3 * size(10)  # 4k + 3 equations today
    v = float(sigmoid_derivative(jnp.float32(0.3), 20, method="nested_grad"))
    assert v == pytest.approx(float(ref_small([float(np.float32(0.3))], 20)[0]), rel=1e-5)


@pytest.mark.slow
def test_nested_grad_restores_the_recursion_limit():
    import sys

    before = sys.getrecursionlimit()
    sigmoid_derivative(jnp.float32(0.3), 40, method="nested_grad")
    assert sys.getrecursionlimit() == before
