"""The exercise's worked SGD step, written out as a student should write it.

For one example ``(x, y)`` and ``θ⁰ = (b, w1, …, wd)``::

    z   = b + Σⱼ wⱼ xⱼ
    ∇L  = −(y − σ(z)) · σ(z) · (1 − σ(z)) · (1, x1, …, xd)
    θ¹  = θ⁰ − α ∇L = θ⁰ + α · (y − σ(z)) · σ(z) · (1 − σ(z)) · (1, x1, …, xd)

The numbers come from :func:`jax.grad` of :func:`jaxsgd.model.example_loss`
in the requested dtype, which uses ``σ′(z) = e/(1 + e)²`` with ``e = e^{−|z|}``
(:func:`jaxsgd.model.sigmoid_prime`, the same number as ``σ(z)(1 − σ(z))``) and so
stays right in the saturated tails.

>>> s = worked_step([4, 5, 6], [1, 2], 3, dtype="float64")
>>> s.z, f"{s.gradient[0]:.14e}"     # exact: −1.5165120838575247e-09
(21.0, '-1.51651208385752e-09')
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsgd.defaults import STEP_DTYPES as DTYPES
from jaxsgd.errors import InputError
from jaxsgd.model import Params, example_loss, sigmoid, sigmoid_prime

__all__ = ["WorkedStep", "as_json", "format_latex", "format_text", "loss_along", "symbolic_theta1", "target_note",
           "worked_step"]

NOTICEABLE = 1e-3  # a step that changes θ in its third significant digit (|Δθ| ≥ this·|θ⁰|) is noticeable



class WorkedStep(NamedTuple):
    """Inputs and results of one worked SGD step, as :func:`worked_step` returns them (numbers as Python floats).

    Attributes:
      theta: ``θ⁰ = (b, w1, …, wd)``, the parameters the step starts from.
      x: the example's features ``(x1, …, xd)``.
      y: the example's target.
      lr: the learning rate ``α``, or ``None`` while it is a symbol (then ``theta1`` is ``None``).
      dtype: the arithmetic, ``"float32"`` or ``"float64"``.
      z: ``z = b + w·x``.
      h: ``σ(z)``.
      gradient: ``∇L = (∂L/∂b, ∂L/∂w1, …, ∂L/∂wd)`` in ``dtype``, tail-accurate.
      naive_float32_gradient: the same gradient in float32 through :func:`jax.nn.sigmoid`, whose
        ``σ(1 − σ)`` rounds to 0 once ``σ(z)`` rounds to 1; ``None`` where float32 cannot hold the inputs.
      theta1: ``θ¹ = θ⁰ − α∇L``, or ``None`` without a learning rate.
      residual: ``y − σ(z)``.
      sigma_prime: ``σ′(z)``, tail-accurate.

    Example:
      >>> s = worked_step([4, 5, 6], [1, 2], 3)
      >>> s.z, s.lr, s.theta1, f"{s.sigma_prime:.6e}"
      (21.0, None, None, '7.582560e-10')
      >>> s.naive_float32_gradient   # σ(21) rounds to 1 in float32, so σ(1 − σ) is 0
      (-0.0, -0.0, -0.0)
    """

    theta: tuple[float, ...]
    x: tuple[float, ...]
    y: float
    lr: float | None
    dtype: str
    z: float
    h: float
    gradient: tuple[float, ...]
    naive_float32_gradient: tuple[float, ...] | None  # None where float32 cannot hold the inputs
    theta1: tuple[float, ...] | None
    residual: float = math.nan  # y − σ(z)
    sigma_prime: float = math.nan  # σ′(z), tail-accurate


def _check_finite(name, values):
    for v in values:
        if not math.isfinite(v):
            raise InputError(lambda n, v=v: f"{n(name)} must be finite numbers, got {v!r}")


def _fits(dtype: str, values) -> bool:
    """Whether every value is within the finite range of ``dtype`` (no overflow to ±inf on the cast)."""
    top = float(np.finfo(dtype).max)
    return all(abs(v) <= top for v in values)


def _check_range(name, values, dtype):
    if not _fits(dtype, values):
        big = max(values, key=abs)
        top = float(np.finfo(dtype).max)
        raise InputError(lambda n: f"{n(name)} has {big!r}, beyond the {dtype} range (±{top:.3g}): use "
                                   f"{n('dtype')} float64 or smaller numbers")


def _check_result(what, values, dtype, smaller):
    """``smaller``: the arguments to make smaller when ``what`` overflows."""
    if not all(math.isfinite(v) for v in values):
        def say(n):
            wider = "" if dtype == "float64" else f", or {n('dtype')} float64"
            return (f"{what} overflows {dtype} ({', '.join(map(repr, values))}): use smaller "
                    f"{' or '.join(map(n, smaller))}{wider}")
        raise InputError(say)


def worked_step(theta, x, y, lr=None, *, dtype: str = "float64") -> WorkedStep:
    r"""Computes one SGD step on a single example ``(x, y)`` from ``θ⁰ = theta``, as a student writes it out.

    .. math::

        z = b + w \cdot x, \qquad
        \nabla L = -\bigl(y - \sigma(z)\bigr)\, \sigma'(z)\, (1, x_1, \dots, x_d), \qquad
        \theta^1 = \theta^0 - \alpha \nabla L

    The gradient is :func:`jax.grad` of :func:`jaxsgd.model.example_loss` in ``dtype``.
    ``naive_float32_gradient`` is what :func:`jax.grad` of the same loss gives in
    float32 with :func:`jax.nn.sigmoid`, whose derivative ``σ(1 − σ)`` rounds
    to 0 once ``σ(z)`` rounds to 1 (``None`` where float32 cannot hold the inputs).
    Every number returned is finite.

    Args:
      theta: ``θ⁰ = (b, w1, …, wd)``, ``d + 1`` finite numbers.
      x: the example's ``d ≥ 1`` features, finite numbers.
      y: the example's target, a finite number.
      lr: the learning rate ``α > 0``; ``None`` (the default) keeps ``α`` a symbol and ``θ¹`` unknown.
      dtype: the arithmetic, ``"float64"`` (the default) or ``"float32"``.

    Returns:
      The :class:`WorkedStep`: inputs, ``z``, ``σ(z)``, ``σ′(z)``, the gradient and ``θ¹``.

    Raises:
      InputError: an input is not finite or beyond ``dtype``'s range, ``lr ≤ 0``, ``theta`` does not
        have ``len(x) + 1`` numbers, ``dtype`` is unknown, or one of ``z``, the gradient and ``θ¹``
        overflows ``dtype`` (the message names it and what to make smaller).

    Example:
      >>> s = worked_step([0, 0, 0], [1, 2], 1, lr=0.5)
      >>> s.z, s.h, s.gradient, s.theta1   # ∇L = −(1 − ½)·¼·(1, 1, 2)
      (0.0, 0.5, (-0.125, -0.125, -0.25), (0.0625, 0.0625, 0.125))
      >>> worked_step([0, 1e308, 1e308], [1, 2], 3, dtype="float64")
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: z = b + w·x overflows float64 (inf): use smaller theta or x
    """
    theta = tuple(float(t) for t in theta)
    x = tuple(float(v) for v in x)
    y = float(y)
    _check_finite("theta", theta)
    _check_finite("x", x)
    _check_finite("y", (y,))
    if lr is not None:
        lr = float(lr)
        _check_finite("lr", (lr,))
        if lr <= 0:
            raise InputError(lambda n: f"the learning rate {n('lr')} must be > 0, got {lr!r}")
    if len(x) < 1:
        raise InputError(lambda n: f"{n('x')} needs at least one feature")
    if len(theta) != len(x) + 1:
        raise InputError(lambda n: f"{n('theta')} has {len(theta)} numbers but {n('x')} has {len(x)} features: "
                                   f"give {n('theta')} as b w1 ... wd ({len(x) + 1} numbers)")
    if dtype not in DTYPES:
        raise InputError(lambda n: f"{n('dtype')} must be one of {', '.join(DTYPES)}, got {dtype!r}")
    _check_range("theta", theta, dtype)
    _check_range("x", x, dtype)
    _check_range("y", (y,), dtype)
    if lr is not None:
        _check_range("lr", (lr,), dtype)
    with jax.enable_x64(dtype == "float64"):
        dt = jnp.dtype(dtype)
        params = Params.from_theta(theta, dtype=dt)
        xa, ya = jnp.asarray(x, dt), jnp.asarray(y, dt)
        z = params.b + jnp.dot(params.w, xa)
        _check_result("z = b + w·x", (float(z),), dtype, ("theta", "x"))
        grad = jax.grad(example_loss)(params, xa, ya).to_theta()
        gradient = tuple(map(float, grad))
        _check_result("the gradient", gradient, dtype, ("y", "x"))
        theta1 = None if lr is None else tuple(map(float, params.to_theta() - jnp.asarray(lr, dt) * grad))
        if theta1 is not None:
            _check_result("θ¹ = θ⁰ − lr·∇L", theta1, dtype, ("lr",))
        h = sigmoid(z)
        return WorkedStep(
            theta, x, y, lr, dtype, float(z), float(h),
            gradient, _naive_float32_gradient(theta, x, y), theta1, float(ya - h), float(sigmoid_prime(z)),
        )


def _naive_float32_gradient(theta, x, y) -> tuple[float, ...] | None:
    """``None`` where float32 cannot hold the inputs or the result."""
    if not _fits("float32", (*theta, *x, y)):
        return None

    def naive_loss(p, xv, yv):
        return 0.5 * (yv - jax.nn.sigmoid(p.b + jnp.dot(p.w, xv))) ** 2

    with jax.enable_x64(False):
        f32 = jnp.float32
        g = jax.grad(naive_loss)(Params.from_theta(theta, dtype=f32), jnp.asarray(x, f32), jnp.asarray(y, f32))
        g = tuple(map(float, g.to_theta()))
        return g if all(map(math.isfinite, g)) else None


def loss_along(s: WorkedStep, t: float) -> float:
    """The loss ``½(y − σ(z))²`` in float64 at ``θ⁰ − t·∇L/|∇L|``, a distance ``t`` down the gradient.

    Along that line ``z`` moves by ``−t·(∇L·(1, x))/|∇L|``; ``t = α|∇L|`` is the
    step the learning rate ``α`` takes. Where ``∇L = 0`` the loss at ``θ⁰`` is returned
    for every ``t``. ``jaxsgd step --plot`` draws it.

    Args:
      s: the :class:`WorkedStep` whose ``θ⁰``, example and gradient define the line.
      t: the distance moved from ``θ⁰`` against the gradient (negative: along it).

    Returns:
      The loss at that point, a Python float.

    Example:
      >>> s = worked_step([0, 0, 0], [1, 2], 1)
      >>> loss_along(s, 0.0), round(loss_along(s, 1.0), 6)   # ½(1 − ½)², then z = √6
      (0.125, 0.003158)
    """
    norm = math.sqrt(sum(g * g for g in s.gradient))
    slope = (s.gradient[0] + sum(g * v for g, v in zip(s.gradient[1:], s.x, strict=True))) / norm if norm else 0.0
    z = s.z - t * slope
    h = 0.5 * (1 + math.tanh(z / 2))  # σ(z) without overflow at any z
    return 0.5 * (s.y - h) ** 2


def _num(v: float, dtype: str = "float64") -> str:
    """Shortest text that round-trips ``v`` in ``dtype``; integers without ``.0``."""
    if float(v).is_integer() and abs(v) < 1e15:
        text = str(int(v))
    else:
        text = repr(float(v)) if dtype == "float64" else str(np.float32(v))
    return text


def _tex(v: float, dtype: str = "float64") -> str:
    """:func:`_num` in LaTeX: ``7.58e-10`` becomes ``7.58\\times10^{-10}``.

    >>> print(_tex(7.582560416412862e-10), _tex(-2.5e+20), _tex(21.0))
    7.582560416412862\\times10^{-10} -2.5\\times10^{20} 21
    """
    text = _num(v, dtype)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return rf"{mantissa}\times10^{{{int(exponent)}}}"


def _paren(v: float, dtype: str = "float64") -> str:
    s = _num(v, dtype)
    return f"({s})" if s.startswith("-") else s


def _vec(values, dtype="float64") -> str:
    return "(" + ", ".join(_num(v, dtype) for v in values) + ")"


def _z_sum(s: WorkedStep) -> str:
    terms = [_num(s.theta[0])] + [f"{_paren(w)}·{_paren(xj)}" for w, xj in zip(s.theta[1:], s.x, strict=True)]
    return " + ".join(terms)


def _names(d: int) -> str:
    return ", ".join(["1"] + [f"x{j + 1}" for j in range(d)])


def expression(s: WorkedStep) -> str:
    """``θ¹ = θ⁰ + α·(y − σ(z))·σ(z)·(1 − σ(z))·(1, x)`` with the numbers substituted."""
    z, alpha = _num(s.z, s.dtype), ("α" if s.lr is None else _num(s.lr))
    return (
        f"θ¹ = {_vec(s.theta)} + {alpha}·({_num(s.y)} − σ({z}))·σ({z})·(1 − σ({z}))·{_vec((1.0, *s.x))}"
    )


def latex(s: WorkedStep) -> str:
    """The same expression as :func:`expression`, in LaTeX (numbers as ``m\\times10^{e}``)."""
    z = _tex(s.z, s.dtype)
    alpha = r"\alpha" if s.lr is None else _tex(s.lr)
    def vec(v):
        return r"\begin{pmatrix}" + r" \\ ".join(_tex(t) for t in v) + r"\end{pmatrix}"

    sig = rf"\sigma({z})"
    y = _tex(s.y)
    return rf"\theta^{{1}} = {vec(s.theta)} + {alpha}\,({y} - {sig})\,{sig}\,(1 - {sig})\,{vec((1.0, *s.x))}"


def _norm(values) -> float:
    return math.sqrt(sum(v * v for v in values))


def target_note(s: WorkedStep) -> str | None:
    """A line when ``y`` is outside σ's open range ``(0, 1)``, which ``h = σ(z)`` never reaches.

    Args:
      s: the :class:`WorkedStep`.

    Returns:
      The note, a one-line ``str`` saying how low the loss can go, or ``None`` when ``0 < y < 1``.

    Example:
      >>> print(target_note(worked_step([4, 5, 6], [1, 2], 3)))
      y = 3 is outside σ's range (0, 1): σ(z) never reaches it, so the loss cannot reach 0
      (it stays above ½(y − 1)² = 2)
      >>> print(target_note(worked_step([4, 5, 6], [1, 2], 0.5)))
      None
    """
    if 0.0 < s.y < 1.0:
        return None
    edge = 1.0 if s.y >= 1.0 else 0.0
    if s.y == edge:
        return (f"y = {_num(s.y)} is a limit of σ that σ(z) never reaches: the loss tends to 0 as "
                f"z → {'+' if edge else '−'}∞ but is never 0")
    floor = 0.5 * (s.y - edge) ** 2
    return (f"y = {_num(s.y)} is outside σ's range (0, 1): σ(z) never reaches it, so the loss cannot reach 0 "
            f"(it stays above ½(y − {_num(edge)})² = {floor:.6g})")


def _movement(s: WorkedStep) -> str:
    """What the step does to θ, from the actual change θ¹ − θ⁰ (or α·|∇L| while α is a symbol)."""
    norm, size = _norm(s.gradient), _norm(s.theta)
    if s.theta1 is None:
        of = f" ({norm / size:.3g}·α of |θ⁰| = {size:.3g})" if size else ""
        return f"the step moves θ by |Δθ| = α·|∇L| = {norm:.3g}·α{of}"
    moved = _norm([b - a for a, b in zip(s.theta, s.theta1, strict=True)])
    if moved == 0.0:
        below = f"the resolution of θ⁰ in {s.dtype}" if size else f"the smallest {s.dtype} number"
        return f"but α·|∇L| = {s.lr * norm:.3g} is below {below}: θ¹ rounds back to θ⁰ and the step does not move θ"
    if not size:
        return f"the step moves θ from 0 by |Δθ| = {moved:.3g}"
    rel = moved / size
    if rel >= NOTICEABLE:
        return f"the step moves θ noticeably: |Δθ| = {moved:.3g}, {rel:.3g} of |θ⁰|"
    return f"the step moves θ by only |Δθ| = {moved:.3g}, {rel:.3g} of |θ⁰|"


def lesson(s: WorkedStep) -> str:
    """One line on what this data point teaches, from the step's actual change to θ."""
    d = len(s.x)
    tail = _tail(abs(s.z))  # σ(−|z|), the distance of σ(z) from 0 or 1
    if s.residual == 0.0:
        return (f"y − σ(z) = 0: the example is fitted, so ∇L = 0 in {s.dtype} and "
                "θ¹ = θ⁰ for every α: the step does not move θ.")
    if isinstance(tail, float) and tail > 1e-2:
        return (
            f"σ(z) = {s.h:.6g} is away from 0 and 1, so the gradient is of the size of the error "
            f"(y − h); {_movement(s)}."
        )
    side = "1" if s.z > 0 else "0"
    tail = f"{tail:.2g}" if isinstance(tail, float) else tail
    naive = s.naive_float32_gradient
    naive_zero = naive is not None and all(g == 0.0 for g in naive) and any(g != 0.0 for g in s.gradient)
    note = "; a naive float32 gradient through σ(1 − σ) is exactly 0 here" if naive_zero else ""
    if s.theta1 is not None and s.theta1 == s.theta:
        note += f", and in {s.dtype} θ¹ rounds back to θ⁰"
    g = abs(s.gradient[0])
    per_unit = f"{g:.2g}·α per unit feature" if s.lr is None else f"{g * s.lr:.2g} per unit feature at α = {_num(s.lr)}"
    return (
        f"The neuron is saturated: σ({_num(s.z, s.dtype)}) ≈ {side} {'−' if side == '1' else '+'} {tail}, "
        f"so σ′(z) ≈ {tail} and {_saturated_step(s, per_unit)}{note}. "
        f"Standardise the {d} feature{'s' if d > 1 else ''} to keep z near 0."
    )


def _saturated_step(s: WorkedStep, per_unit: str) -> str:
    """"the step is tiny (…)", unless a learning rate given makes the step large all the same."""
    if s.lr is not None and s.theta1 is not None:
        moved = math.dist(s.theta1, s.theta)
        size = math.hypot(*s.theta)
        if moved >= NOTICEABLE * max(size, 1e-300):
            return (f"the gradient is tiny, but α = {_num(s.lr)} makes the step large all the same "
                    f"(|Δθ| ≈ {moved:.2g})")
    return f"the step is tiny (|Δθ| ≈ {per_unit})"


def _tail(a: float):
    """σ(−a) for a ≥ 0: a float, or beyond float64 (a > 700) its text from log₁₀ σ(−a) ≈ −a·log₁₀ e."""
    if a <= 700.0:
        return 1.0 / (1.0 + math.exp(a))
    e10 = -a * math.log10(math.e)
    if e10 < -1e15:  # the mantissa is lost in float64: the order of magnitude alone
        return f"10^({e10:.3g})"
    exponent = math.floor(e10)
    mantissa = 10.0 ** (e10 - exponent)
    if round(mantissa, 1) >= 10.0:
        mantissa, exponent = mantissa / 10.0, exponent + 1
    return f"{mantissa:.2g}e{exponent}"


def symbolic_theta1(s: WorkedStep, alpha: str = "α") -> str:
    """``θ¹ = θ⁰ − α∇L`` with the numbers in and ``α`` kept a symbol: ``(4 + 1.5165…e-09·α, …)``.

    Args:
      s: the :class:`WorkedStep`.
      alpha: the symbol for the learning rate (default ``"α"``).

    Returns:
      ``θ¹`` as text, one ``θ⁰ⱼ ± |∂L/∂θⱼ|·α`` term per parameter, in parentheses.

    Example:
      >>> symbolic_theta1(worked_step([0, 0, 0], [1, 2], 1), alpha="a")
      '(0 + 0.125·a, 0 + 0.125·a, 0 + 0.25·a)'
    """
    terms = []
    for t, g in zip(s.theta, s.gradient, strict=True):
        c = -g
        sign = "−" if c < 0 else "+"
        terms.append(f"{_num(t)} {sign} {_num(abs(c), s.dtype)}·{alpha}")
    return "(" + ", ".join(terms) + ")"


def format_text(s: WorkedStep) -> str:
    r"""The worked step as plain text, as ``jaxsgd step`` prints it: the formulas first, then the numbers.

    One row per quantity (the model, the gradient formula, the step with the numbers
    substituted, ``z``, ``σ(z)``, ``y − σ(z)``, ``σ′(z)``, each ``∂L/∂θⱼ``, ``θ¹``), then a note
    on ``y`` (:func:`target_note`) where there is one and the lesson of the example. Every
    row's text (or its ``=``) starts in the same column.

    Args:
      s: the :class:`WorkedStep`.

    Returns:
      The text, a ``str`` of lines joined by ``"\n"``, with no final newline.

    Example:
      >>> print(format_text(worked_step([0, 0, 0], [1, 2], 1, lr=0.5)))
      Model     h(x) = σ(b + w·x),  L = ½(y − h)²,  update θ ← θ − α∇L
      Gradient  ∇L = −(y − σ(z))·σ(z)·(1 − σ(z))·(1, x1, x2),  z = b + w·x
      Step      θ¹ = (0, 0, 0) + 0.5·(1 − σ(0))·σ(0)·(1 − σ(0))·(1, 1, 2)
      z         = 0 + 0·1 + 0·2 = 0
      ...
      ∂L/∂w2    = -0.25
      θ¹        = (0 + 0.125·α, 0 + 0.125·α, 0 + 0.25·α)
                = (0.0625, 0.0625, 0.125)   (α = 0.5)
      Note      y = 1 is a limit of σ that σ(z) never reaches: the loss tends to 0 as z → +∞ but is never 0
      Lesson    σ(z) = 0.5 is away from 0 and 1, so the gradient is of the size of the error (y − h); ...
    """
    d = len(s.x)
    names = ["b"] + [f"w{j + 1}" for j in range(d)]
    rows = [
        ("Model", "h(x) = σ(b + w·x),  L = ½(y − h)²,  update θ ← θ − α∇L"),
        ("Gradient", f"∇L = −(y − σ(z))·σ(z)·(1 − σ(z))·({_names(d)}),  z = b + w·x"),
        ("Step", expression(s)),
        ("z", f"= {_z_sum(s)} = {_num(s.z, s.dtype)}"),
        ("σ(z)", f"= {_num(s.h, s.dtype)}   ({s.dtype})"),
        ("y − σ(z)", f"= {_num(s.residual, s.dtype)}"),
        ("σ′(z)", f"= {_num(s.sigma_prime, s.dtype)}   (e/(1 + e)², e = e^(−|z|): no cancellation where "
                  "σ(1 − σ) rounds to 0)"),
    ]
    rows += [(f"∂L/∂{n}", f"= {_num(g, s.dtype)}") for n, g in zip(names, s.gradient, strict=True)]
    rows.append(("θ¹", f"= {symbolic_theta1(s)}"))
    if s.theta1 is not None:
        rows.append(("", f"= {_vec(s.theta1, s.dtype)}   (α = {_num(s.lr)})"))
    note = target_note(s)
    if note:
        rows.append(("Note", note))
    rows.append(("Lesson", lesson(s)))
    width = max(10, max(len(label) for label, _ in rows) + 2)
    return "\n".join(f"{label:<{width}}{text}" for label, text in rows)


def _latex_symbolic(s: WorkedStep, alpha: str = r"\alpha") -> str:
    terms = []
    for t, g in zip(s.theta, s.gradient, strict=True):
        c = -g
        terms.append(f"{_tex(t)} {'-' if c < 0 else '+'} {_tex(abs(c), s.dtype)}\\,{alpha}")
    return r"\begin{pmatrix}" + r" \\ ".join(terms) + r"\end{pmatrix}"


def format_latex(s: WorkedStep) -> str:
    r"""The worked step in LaTeX: the gradient formula, the substituted step, and θ¹, with α's value once given.

    Numbers are written ``7.58\times10^{-10}``; a note on y (:func:`target_note`) is a ``%`` comment.

    Args:
      s: the :class:`WorkedStep`.

    Returns:
      The LaTeX source, a ``str`` of lines joined by ``"\n"``: one equation each, and the note on ``y``
      as a ``%`` comment.

    Example:
      >>> print(format_latex(worked_step([4, 5, 6], [1, 2], 3)))
      \nabla L = -\bigl(y - \sigma(z)\bigr)\,\sigma(z)\,\bigl(1 - \sigma(z)\bigr)\begin{pmatrix}1 \\ x_{1} ...
      \theta^{1} = \begin{pmatrix}4 \\ 5 \\ 6\end{pmatrix} + \alpha\,(3 - \sigma(21))\,\sigma(21)\,(1 - ...
      z = 21, \quad y - \sigma(z) = 2.000000000758256, \quad \sigma'(z) = 7.582560416412862\times10^{-10}
      \theta^{1} = \begin{pmatrix}4 + 1.5165120838575247\times10^{-9}\,\alpha \\ ...
      % y = 3 is outside σ's range (0, 1): σ(z) never reaches it, so the loss cannot reach 0 (it stays above ...
    """
    d = len(s.x)
    xs = r" \\ ".join(["1"] + [f"x_{{{j + 1}}}" for j in range(d)])
    out = [
        r"\nabla L = -\bigl(y - \sigma(z)\bigr)\,\sigma(z)\,\bigl(1 - \sigma(z)\bigr)"
        rf"\begin{{pmatrix}}{xs}\end{{pmatrix}}, \quad z = b + w^\top x",
        latex(s),
        rf"z = {_tex(s.z, s.dtype)}, \quad y - \sigma(z) = {_tex(s.residual, s.dtype)}, \quad "
        rf"\sigma'(z) = {_tex(s.sigma_prime, s.dtype)}",
    ]
    if s.theta1 is None:
        out.append(r"\theta^{1} = " + _latex_symbolic(s))
    else:
        vals = r" \\ ".join(_tex(t, s.dtype) for t in s.theta1)
        substituted = _latex_symbolic(s, r"\cdot " + _tex(s.lr))
        out.append(rf"\theta^{{1}} = {substituted} = "
                   rf"\begin{{pmatrix}}{vals}\end{{pmatrix}}, \quad \alpha = {_tex(s.lr)}")
    note = target_note(s)
    if note:
        out.append(f"% {note}")
    return "\n".join(out)


def as_json(s: WorkedStep) -> dict:
    """The worked step as the JSON object of ``jaxsgd step --format json``.

    Args:
      s: the :class:`WorkedStep`.

    Returns:
      A ``dict`` of JSON-ready values: the inputs (``theta0``, ``x``, ``y``, ``lr``, ``dtype``), the
      results (``z``, ``sigma_z``, ``gradient``, ``naive_float32_gradient``, ``theta1``, ``residual``,
      ``sigma_prime``; lists or ``None``) and the texts (``theta1_symbolic``, ``expression``,
      ``latex``, ``lesson``, ``note``).

    Example:
      >>> import json
      >>> d = as_json(worked_step([0, 0, 0], [1, 2], 1, lr=0.5))
      >>> d["gradient"], d["theta1"]
      ([-0.125, -0.125, -0.25], [0.0625, 0.0625, 0.125])
      >>> d["expression"]
      'θ¹ = (0, 0, 0) + 0.5·(1 − σ(0))·σ(0)·(1 − σ(0))·(1, 1, 2)'
      >>> json.loads(json.dumps(d)) == d
      True
    """
    return {
        "theta0": list(s.theta),
        "x": list(s.x),
        "y": s.y,
        "lr": s.lr,
        "dtype": s.dtype,
        "z": s.z,
        "sigma_z": s.h,
        "gradient": list(s.gradient),
        "naive_float32_gradient": None if s.naive_float32_gradient is None else list(s.naive_float32_gradient),
        "theta1": None if s.theta1 is None else list(s.theta1),
        "residual": s.residual,
        "sigma_prime": s.sigma_prime,
        "theta1_symbolic": symbolic_theta1(s),
        "expression": expression(s),
        "latex": latex(s),
        "lesson": lesson(s),
        "note": target_note(s),
    }
