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


@pytest.mark.slow
def test_overflow_gives_inf_not_nan(dtype):
    k_over = 50 if dtype == jnp.float32 else 100  # float64 holds σ⁽ᵏ⁾ at every x up to the bound (peak 1.1e108)
    x = jnp.asarray(np.linspace(-40, 40, 801), dtype)  # σ⁽⁵⁰⁾(±0.1) = ∓2.6e39 is beyond float32
    v = np.asarray(sigmoid_derivative(x, k_over))
    assert not np.isnan(v).any()
    assert np.isinf(v).any() == (dtype == jnp.float32)
    below = np.asarray(sigmoid_derivative(x, 49 if dtype == jnp.float32 else 100))
    assert np.isfinite(below).all()


# The values of issue item 3, against mpmath: σ⁽⁵⁰⁾(0.001) = −4.36e37 fits float32 (max 3.4e38), σ⁽⁵⁰⁾(0) = 0.
def test_large_values_that_the_dtype_holds_are_finite(dtype):
    x = jnp.asarray([0.0, 0.001, -0.001], dtype)
    for k in (50, 52, 100):
        got = np.asarray(jax.jit(lambda v, k=k: sigmoid_derivative(v, k))(x), float)
        want = [_mp_sigma(float(v), k) for v in np.asarray(x, float)]
        assert got[0] == 0.0  # an even order's exact zero
        for g, w in zip(got[1:], want[1:], strict=True):
            if abs(w) <= float(jnp.finfo(dtype).max):
                assert g == pytest.approx(float(w), rel=50 * float(jnp.finfo(dtype).eps) * (k + 1))
            else:
                assert np.isinf(g) and np.sign(g) == mp.sign(w)


def _mp_sigma(x, k):
    """σ⁽ᵏ⁾(x) = −Li₋ₖ(−eˣ) at −|x| (fast convergence), reflected by σ⁽ᵏ⁾(x) = (−1)ᵏ⁺¹σ⁽ᵏ⁾(−x); the working
    precision (40 + 2k digits) absorbs the polylog's cancellation, at most log₁₀ k! digits."""
    with mp.workdps(40 + 2 * k):
        a = -abs(mp.mpf(x))
        v = 1 / (1 + mp.exp(-a)) if k == 0 else -mp.polylog(-k, -mp.exp(a))
        return +((-1) ** (k + 1) * v if x > 0 else v)


# Points: 0 and the neighbourhood of 0 where even orders vanish, the bulk, both sides of pole_radius(k) for
# the orders below, the tails, and beyond float32's exponent range (its results underflow there).
POINTS = [0.0, 1e-6, -1e-3, 1e-3, 0.1, 0.5, -1.0, 1.5, 3.0, 7.5, -13.0, 14.4, 14.6, 20.0, 26.9, -27.1, -30.0,
          40.0, -60.0, 80.0, 100.0, -200.0, 700.0, -740.0]
ORDERS = {"float32": [1, 2, 3, 6, 8, 12, 21, 31, 34, 50, 51, 77, 100],
          "float64": [1, 2, 4, 7, 8, 13, 30, 33, 50, 64, 99, 100]}


@pytest.mark.parametrize(("dtype_name", "k"), [pytest.param(d, k, marks=[pytest.mark.slow] if k >= 64 else [])
                                               for d, ks in ORDERS.items() for k in ks])
def test_auto_against_mpmath_at_every_order_and_point(dtype_name, k):
    """Every point: the value to C·(k + 1)·ε·(1 + κ) relative error, κ = |x·σ⁽ᵏ⁺¹⁾(x)/σ⁽ᵏ⁾(x)| the condition
    number in x; an exact zero exactly; beyond the dtype ±inf with the true sign; below its smallest normal
    number anything of at most that size (backends may flush subnormals).

    Why (k + 1)·ε·(1 + κ): the methods are backward stable to about (k + 1) roundings (the argument, or
    π(2m + 1), is raised to the power k + 1; the Eulerian sum has k terms), which moves the result by
    (k + 1)·ε·κ relative, plus the forward rounding of as many operations; C = 4 covers the few roundings
    per step. Measured, the worst is ~3 (k + 1)·ε·(1 + κ).
    """
    with jax.enable_x64(dtype_name == "float64"):
        dt = jnp.dtype(dtype_name)
        fi = jnp.finfo(dt)
        xs = np.asarray(np.asarray(POINTS, dtype_name), float)  # the points the dtype holds
        got = np.asarray(_auto_jit(k, dtype_name)(jnp.asarray(xs, dt)), float)
    eps, tiny, top = float(fi.eps), float(fi.tiny), float(fi.max)
    for x, g in zip(xs, got, strict=True):
        r, r1 = _mp_sigma(x, k), _mp_sigma(x, k + 1)
        where = f"σ⁽{k}⁾({x!r}) in {dtype_name}: got {g!r}, mpmath {mp.nstr(r, 17)}"
        if r == 0:
            assert g == 0, where
        elif abs(r) > top:
            assert np.isinf(g) and np.sign(g) == mp.sign(r), where
        elif abs(r) < tiny:
            assert abs(g - float(r)) <= tiny, where
        else:
            kappa = float(abs(x * r1 / r))
            assert np.isfinite(g) and abs(g - float(r)) <= 4 * (k + 1) * eps * (1 + kappa) * abs(float(r)), where


_JITS = {}


def _auto_jit(k, dtype_name):
    if (k, dtype_name) not in _JITS:
        _JITS[(k, dtype_name)] = jax.jit(lambda v: sigmoid_derivative(v, k))
    return _JITS[(k, dtype_name)]


@pytest.mark.parametrize("method", ["closed_form", "pole"])
def test_every_method_gives_a_number_or_inf_never_nan(dtype, method):
    """Outside their domains closed_form and pole lose digits, but never turn a value into NaN."""
    x = jnp.asarray(np.concatenate([np.linspace(-100, 100, 81), [0.0, 1e-3, 700.0]]), dtype)
    for k in (9, 34, 42 if method == "closed_form" and dtype == jnp.float32 else 100):  # closed_form stops at 42
        assert not np.isnan(np.asarray(jax.jit(lambda v, k=k: sigmoid_derivative(v, k, method=method))(x))).any()


# Orders around where each method's sums, k! or the values themselves leave float32, and the points where
# σ⁽⁵⁰⁾(0.001) = −4.36e37 (float32 holds it) and σ⁽⁶⁰⁾(0) = 0 came back ±inf from closed_form; the orders
# past a method's limit (closed_form 42 and taylor 34 in float32, naive_grad 10) must be refused instead.
# taylor stops at 40 here: its compile time jumps from ~2 s at k = 44 to minutes at k = 48.
FINITE_XS = [0.0, 1e-3, -1e-3, 1.0, -10.0, 50.0, -100.0]
FINITE_ORDERS = {"auto": [0, 50, 60, 100], "closed_form": [0, 8, 42, 43, 50, 60, 100], "pole": [8, 50, 100],
                 "taylor": [0, 34, 35, 40], "nested_grad": [50], "naive_grad": [1, 6, 11]}
FINITE_ORDERS_64 = {"nested_grad": [20], "taylor": [0, 34, 40]}  # fewer compiles where nothing overflows
LIMITS = {("closed_form", "float32"): 42, ("taylor", "float32"): 34}


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("method", list(FINITE_ORDERS))
def test_every_method_is_finite_wherever_the_value_fits_the_dtype(method, dtype_name):
    """At every order a method takes, finite where |σ⁽ᵏ⁾(x)| (mpmath) fits the dtype; beyond its limit in the
    dtype, a one-line refusal naming the limit and method="auto" (closed_form gave ±inf from k = 49 in float32,
    taylor ±inf and NaN from k = 35)."""
    from jaxsgd.errors import InputError

    limit = 10 if method == "naive_grad" else LIMITS.get((method, dtype_name), 100)
    with jax.enable_x64(dtype_name == "float64"):
        dt = jnp.dtype(dtype_name)
        xs = np.asarray(np.asarray(FINITE_XS, dtype_name), float)
        top = float(jnp.finfo(dt).max)
        for k in (FINITE_ORDERS_64 if dtype_name == "float64" else {}).get(method, FINITE_ORDERS[method]):
            f = jax.jit(lambda v, k=k: sigmoid_derivative(v, k, method=method))
            if k > limit:
                fix = "auto" if method != "naive_grad" else "'nested_grad' or 'auto'"
                with pytest.raises(InputError, match=rf"takes orders up to {limit}\b.*{fix}") as e:
                    f(jnp.asarray(xs, dt))
                assert "\n" not in str(e.value)
                continue
            got = np.asarray(f(jnp.asarray(xs, dt)), float)
            for x, g in zip(xs.tolist(), got.tolist(), strict=True):
                r = _mp_sigma(x, k)
                assert abs(r) > top or np.isfinite(g), f"σ⁽{k}⁾({x!r}) by {method} in {dtype_name}: got {g!r}, " \
                                                        f"mpmath {mp.nstr(r, 6)}"


def test_the_order_is_bounded_as_jaxsgd_check_bounds_it():
    import time

    from jaxsgd.defaults import ACCURACY_MAX_ORDER
    from jaxsgd.errors import InputError

    t0 = time.thread_time()
    for k in (ACCURACY_MAX_ORDER + 1, 4000, 10**6):
        with pytest.raises(InputError, match=rf"from 0 to {ACCURACY_MAX_ORDER} \(ACCURACY_MAX_ORDER"):
            sigmoid_derivative(0.5, k)
    with pytest.raises(InputError, match="'naive_grad' takes orders up to 10"):
        sigmoid_derivative(0.5, 11, method="naive_grad")
    assert time.thread_time() - t0 < 1.0  # CPU seconds: refused before any tracing


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
