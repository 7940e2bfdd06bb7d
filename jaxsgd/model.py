"""The sigmoid neuron ``h(x) = σ(b + w·x)`` and its squared loss.

Everything here takes one unbatched example; batches come from :func:`jax.vmap`.
Functions follow the dtype of their inputs (float32 by default in JAX; float64
when x64 is enabled and the inputs are float64).

Math, for one example ``(x, y)`` with ``z = b + w·x`` and ``h = σ(z)``::

    L(θ)   = ½ (y − h)²
    ∂L/∂z  = −(y − h) · σ′(z),      σ′(z) = σ(z)(1 − σ(z)) = e/(1 + e)²,  e = e^{−|z|}
    ∂L/∂b  = ∂L/∂z,     ∂L/∂wⱼ = ∂L/∂z · xⱼ

and the mini-batch gradient is ``(1/B) Σᵢ ∇Lᵢ(θ) = ∇ mean_loss``, which the one SGD step
``θ ← θ − α · (1/B) Σᵢ ∇Lᵢ(θ)`` (:func:`jaxsgd.train.step`) takes by :func:`jax.grad`.

``e/(1 + e)²`` is the same number as ``σ(z)(1 − σ(z))`` (for ``z ≥ 0`` it is
``σ(z)·σ(−z)`` with ``σ(−z) = e/(1 + e)``) but it never subtracts two numbers
close to 1, so it keeps full relative accuracy in both tails: at ``z = 21``
float32 rounds ``σ(21)`` to 1.0 and the textbook form gives exactly 0, while
``e/(1 + e)²`` gives 7.58e-10, correct to float32 precision. The same ``e``
gives ``σ`` itself, so value and derivative cost one exponential per example.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxsgd.errors import InputError, ModelError

__all__ = [
    "Layer",
    "Model",
    "Params",
    "batch_loss",
    "check_model",
    "example_loss",
    "from_spec",
    "init_params",
    "is_builtin",
    "mean_loss",
    "mean_loss_of",
    "mlp",
    "neuron",
    "per_example_grads",
    "predict",
    "predict_batch",
    "sigmoid",
    "sigmoid_prime",
]


class Params(NamedTuple):
    """Parameters θ = (b, w) of the neuron: ``b`` a scalar, ``w`` a vector of d features."""

    b: jax.Array
    w: jax.Array

    @classmethod
    def from_theta(cls, theta, dtype=None) -> Params:
        """Builds ``Params`` from the flat vector ``θ = (b, w1, …, wd)``.

        >>> Params.from_theta([4.0, 5.0, 6.0]).w
        Array([5., 6.], dtype=float32)
        """
        theta = jnp.asarray(theta, dtype=dtype)
        if theta.ndim != 1 or theta.shape[0] < 2:
            raise InputError(f"theta must be a vector (b, w1, ..., wd) with d >= 1, got shape {theta.shape}")
        return cls(theta[0], theta[1:])

    def to_theta(self) -> jax.Array:
        """The flat vector ``θ = (b, w1, …, wd)``."""
        return jnp.concatenate([jnp.reshape(self.b, (1,)), self.w])


def init_params(d: int, dtype=jnp.float32) -> Params:
    """All-zero parameters for ``d`` features (``σ(0) = ½`` everywhere)."""
    return Params(jnp.zeros((), dtype), jnp.zeros((d,), dtype))


def _sigmoid_parts(z):
    """``σ(z)`` and ``σ′(z)`` from one exponential ``e = e^{−|z|} ∈ (0, 1]``.

    ``σ = 1/(1 + e)`` for ``z ≥ 0`` and ``e/(1 + e)`` below; ``σ′ = e/(1 + e)²``.
    Neither subtracts numbers close to 1, so both keep full relative accuracy in
    both tails (at ``z = 21`` float32 rounds σ to 1 and ``σ(1 − σ)`` to 0, while
    ``e/(1 + e)²`` gives 7.58e-10), and σ′ is exactly 0 only below the
    dtype's smallest subnormal (|z| beyond ~104 in float32, ~745 in float64),
    never NaN.
    """
    e = jnp.exp(-jnp.abs(z))
    inv = 1.0 / (1.0 + e)
    return jnp.where(z >= 0, inv, e * inv), e * inv * inv


@jax.custom_jvp
def sigmoid(z):
    """The logistic function ``σ(z) = 1 / (1 + e^{−z})``, with a tail-accurate derivative.

    Value and derivative come from one exponential (:func:`sigmoid_prime`), so
    gradients taken through it stay accurate where ``σ(z)(1 − σ(z))`` would
    round to 0, and a training step costs one ``exp`` per example.

    >>> float(jax.grad(sigmoid)(21.0))   # jax.grad(jax.nn.sigmoid)(21.0) is 0.0
    7.582560...e-10
    """
    return _sigmoid_parts(z)[0]


def sigmoid_prime(z):
    """``σ′(z) = e/(1 + e)²`` with ``e = e^{−|z|}``: ``σ(z)(1 − σ(z))`` without its cancellation.

    >>> float(sigmoid_prime(0.0))
    0.25
    """
    return _sigmoid_parts(z)[1]


@sigmoid.defjvp
def _sigmoid_jvp(primals, tangents):
    (z,), (t,) = primals, tangents
    h, dh = _sigmoid_parts(z)  # one exponential for both
    return h, dh * t


def predict(params: Params, x):
    """``h(x) = σ(b + w·x)`` for one example ``x`` of shape ``(d,)``.

    >>> p = Params.from_theta([4.0, 5.0, 6.0])
    >>> float(predict(p, jnp.array([1.0, 2.0])))   # σ(21) rounds to 1 in float32
    1.0
    """
    return sigmoid(params.b + jnp.sum(params.w * x))  # an elementwise sum fuses; a tiny dot does not


def example_loss(params: Params, x, y):
    """``L = ½ (y − h(x))²`` for one example."""
    return 0.5 * (y - predict(params, x)) ** 2


predict_batch = jax.vmap(predict, in_axes=(None, 0))
predict_batch.__doc__ = "``h`` for a batch ``x`` of shape ``(B, d)``; returns shape ``(B,)``."


def mean_loss(params: Params, xt, y):
    """Mean loss ``(1/B) Σᵢ ½ (yᵢ − h(xᵢ))²`` over a feature-major batch ``xt: (d, B)``, ``y: (B,)``.

    The per-example loss of :func:`example_loss` written for a whole batch at
    once: ``z = b + w·X`` is one small matrix product, which compiles to far
    fewer and faster kernels than a vmapped elementwise sum.

    >>> float(mean_loss(init_params(1), jnp.array([[1.0, -1.0]]), jnp.array([0.5, 1.0])))   # ½(0² + ½²)/2
    0.0625
    """
    return jnp.mean(0.5 * (y - sigmoid(params.b + params.w @ xt)) ** 2)


def batch_loss(params: Params, x, y):
    """Mean loss ``(1/B) Σᵢ ½ (yᵢ − h(xᵢ))²`` over a batch ``x: (B, d)``, ``y: (B,)``.

    Its gradient is the mini-batch gradient. At the exercise's point,
    ``θ⁰ = (4, 5, 6)``, ``x = (1, 2)``, ``y = 3``, it is
    ``−(3 − σ(21))·σ′(21)·(1, 1, 2) ≈ −1.5165e-9·(1, 1, 2)``:

    >>> g = jax.grad(batch_loss)(Params.from_theta([4.0, 5.0, 6.0]), jnp.array([[1.0, 2.0]]), jnp.array([3.0]))
    >>> [round(float(v) * 1e9, 4) for v in g.to_theta()]
    [-1.5165, -1.5165, -3.033]
    """
    return mean_loss(params, jnp.asarray(x).T, y)


per_example_grads = jax.vmap(jax.grad(example_loss), in_axes=(None, 0, 0))
per_example_grads.__doc__ = "``∇Lᵢ`` for every example of a batch, as ``Params`` with a leading batch axis."


# ---------------------------------------------------------------- any model: a per-example loss over a pytree
class Model(NamedTuple):
    """A model as the library trains it: a per-example loss over a parameter pytree, and where it starts.

    ``loss(params, x, y)`` takes one example (``x`` of shape ``(d,)``, ``y`` a
    scalar) and returns a scalar; batches, per-example gradients and
    Hessian-vector products all come from it by ``jax.vmap`` and ``jax.grad``.
    ``init(key, d)`` returns the initial parameters (any pytree of float
    arrays) for ``d`` features. :func:`neuron` is the exercise's model and every
    function's default; :func:`mlp` a small network.

    >>> m = mlp((4,))
    >>> p = m.init(jax.random.key(0), 2)
    >>> float(m.loss(p, jnp.zeros(2), 0.5))   # σ(0) = ½ at the start: the output layer starts at zero
    0.0
    """

    loss: Callable[[Any, jax.Array, jax.Array], jax.Array]
    init: Callable[[jax.Array, int], Any]
    name: str = "custom"
    predict: Callable[[Any, jax.Array], jax.Array] | None = None  # h(x) for one example, in (0, 1), if known


def _neuron_init(key, d: int, dtype=jnp.float32) -> Params:
    del key  # θ = 0: the exercise's start, and the same for every seed
    return init_params(d, dtype)


def neuron() -> Model:
    """The sigmoid neuron ``σ(b + w·x)`` with ``½(y − h)²``, from θ = 0 (the default everywhere)."""
    return Model(example_loss, _neuron_init, "sigmoid", predict)


@functools.lru_cache(maxsize=64)  # one batch loss per loss function: jitted callers see the same object
def mean_loss_of(loss: Callable | None = None) -> Callable:
    """The mean of the per-example ``loss`` over a feature-major batch: ``(params, xt (d, B), y (B,)) -> scalar``.

    For the neuron's :func:`example_loss` (or ``None``) this is :func:`mean_loss`
    itself, the one-matrix-product form (so the default is bit-for-bit as it was);
    for any other loss, ``mean(vmap(loss))``.

    >>> mean_loss_of(None) is mean_loss_of(example_loss) is mean_loss
    True
    """
    if loss is None or loss is example_loss:
        return mean_loss
    if loss is _mlp_loss:  # the built-in MLP's batch form: one matrix product per layer for the whole batch
        return _mlp_mean_loss

    def batch_mean(params, xt, y):
        return jnp.mean(jax.vmap(loss, in_axes=(None, 1, 0))(params, xt, y))

    batch_mean.__doc__ = f"mean over a feature-major batch of {getattr(loss, '__name__', 'the loss')}"
    return batch_mean


class Layer(NamedTuple):
    """One dense layer ``a ↦ w @ a + b`` of :func:`mlp`: ``w (out, in)``, ``b (out,)``."""

    w: jax.Array
    b: jax.Array


def _mlp_predict(params, x):
    a = x
    for layer in params[:-1]:
        a = jnp.tanh(layer.w @ a + layer.b)
    out = params[-1]
    return sigmoid(out.b[0] + jnp.sum(out.w[0] * a))


def _mlp_loss(params, x, y):
    return 0.5 * (y - _mlp_predict(params, x)) ** 2


def _mlp_mean_loss(params, xt, y):
    """The mean of :func:`_mlp_loss` over a feature-major batch ``xt (d, B)``, written for the whole batch:
    ``W @ A`` per layer is one matrix product (vmapped over runs, a batched one), where the per-example form
    compiles to many small ones on a CPU (1.4× slower measured, scripts/bench.py --only mlp)."""
    a = xt
    for layer in params[:-1]:
        a = jnp.tanh(layer.w @ a + layer.b[:, None])
    out = params[-1]
    h = sigmoid(out.b[0] + jnp.sum(out.w[0][:, None] * a, axis=0))
    return jnp.mean(0.5 * (y - h) ** 2)


def mlp(hidden: Sequence[int], dtype=jnp.float32) -> Model:
    """A multilayer perceptron: ``tanh`` hidden layers of the given widths, a sigmoid output, ``½(y − h)²``.

    ``h(x) = σ(w_out·a_L + b_out)`` with ``a_0 = x`` and ``a_l = tanh(W_l a_{l−1} + b_l)``: the
    output stays in σ's range (0, 1), so targets are scaled as for the neuron.
    Hidden weights start as LeCun normals ``N(0, 1/fan_in)`` drawn from the key,
    biases and the output layer at zero (so every run starts at h = ½, as the
    neuron does). Parameters: a tuple of :class:`Layer`.

    >>> m = mlp((8, 8))
    >>> [layer.w.shape for layer in m.init(jax.random.key(0), 3)]
    [(8, 3), (8, 8), (1, 8)]
    """
    widths = tuple(int(h) for h in hidden)
    if not widths or any(h < 1 for h in widths):
        raise InputError(f"hidden layer widths must be whole numbers ≥ 1, got {tuple(hidden)!r}")

    def init(key, d: int):
        sizes = (int(d), *widths)
        keys = jax.random.split(key, len(widths))
        layers = [Layer(jax.random.normal(k, (o, i), dtype) / jnp.sqrt(jnp.asarray(i, dtype)), jnp.zeros((o,), dtype))
                  for k, i, o in zip(keys, sizes[:-1], sizes[1:], strict=True)]
        return (*layers, Layer(jnp.zeros((1, widths[-1]), dtype), jnp.zeros((1,), dtype)))

    return Model(_mlp_loss, init, "mlp:" + ",".join(map(str, widths)), _mlp_predict)


def from_spec(spec: str) -> Model:
    """The model a command line names: ``sigmoid`` (the neuron), ``mlp:H[,H…]`` (:func:`mlp` with those
    hidden widths), ``package.module:name``, an object with ``loss(params, x, y)`` and ``init(key, d)``
    (attributes or functions; ``predict(params, x)`` too, for predictions and R²), or ``package.module``,
    a module with those functions, imported from the current directory or ``sys.path``.

    >>> from_spec("mlp:16,8").name, from_spec("sigmoid").name
    ('mlp:16,8', 'sigmoid')
    """
    text = str(spec).strip()
    if not text:
        raise ModelError("the model is empty: use sigmoid, mlp:H[,H…] (e.g. mlp:16) or package.module[:name]")
    if text == "sigmoid":
        return neuron()
    if text.startswith("mlp:") or text == "mlp":
        widths = text[4:].replace(" ", "").split(",") if text != "mlp" else []
        if not widths or not all(w.isdecimal() and w.isascii() and 1 <= int(w) <= 4096 for w in widths) \
                or len(widths) > 8:
            raise ModelError(f"model {text!r}: give 1 to 8 hidden widths from 1 to 4096, e.g. mlp:16 or mlp:32,16")
        return mlp(tuple(int(w) for w in widths))
    module, sep, name = text.partition(":")
    usage = ("use sigmoid, mlp:H[,H…] (e.g. mlp:16), or your own as package.module:name (an object with "
             "loss(params, x, y) and init(key, d)) or package.module (a module with those functions)")
    if not module or (sep and not name) or not all(p.isidentifier() for p in (*module.split("."), *name.split())):
        raise ModelError(f"unknown model {text!r}: {usage}")
    import importlib
    import os
    import sys

    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found = importlib.import_module(module)
        obj = getattr(found, name) if name else found
    except ModuleNotFoundError as e:
        if not sep and e.name == module:
            raise ModelError(f"unknown model {text!r}: {usage}") from None
        raise ModelError(f"model {text!r}: no module named {e.name!r} (run from the folder that holds it, or put "
                         "it on PYTHONPATH)") from None
    except AttributeError:
        raise ModelError(f"model {text!r}: module {module} has no {name!r}") from None
    except (Exception, SystemExit) as e:  # the user's module failed (or called sys.exit) while importing
        raise ModelError(f"model {text!r}: importing {module} failed: {type(e).__name__}: {_first_line(e)}") from None
    loss, init = getattr(obj, "loss", None), getattr(obj, "init", None)
    if not callable(loss) or not callable(init):
        raise ModelError(f"model {text!r}: {name or module} needs callable loss(params, x, y) and init(key, d) "
                         "(attributes or functions)")
    predict = getattr(obj, "predict", None)
    return Model(loss, init, text, predict if callable(predict) else None)


def is_builtin(spec: str) -> bool:
    """Whether ``spec`` names a built-in model (loading it imports no one's code): ``sigmoid`` or ``mlp:…``."""
    return spec == "sigmoid" or spec.startswith("mlp:")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else "(no message)")[:300]


def check_model(model: Model, d: int, dtype=jnp.float32, *, key=None):
    """Tries ``model`` once on a zero example of ``d`` features before any training: ``init`` must give a
    pytree of float arrays, ``loss`` a finite scalar with a finite gradient of the same structure. A failure
    inside the model is a :class:`ModelError` naming it, in one line. Returns the initial parameters.

    >>> p = check_model(mlp((3,)), 2)
    >>> len(p)
    2
    """
    key = jax.random.key(0) if key is None else key
    who = f"model {model.name}"
    try:
        params = model.init(key, int(d))
    except Exception as e:
        raise ModelError(f"{who}: init(key, {d}) raised {type(e).__name__}: {_first_line(e)}") from None
    leaves = jax.tree.leaves(params)
    if not leaves or not all(hasattr(a, "dtype") and jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating)
                             for a in leaves):
        raise ModelError(f"{who}: init must return a pytree of float arrays, got {type(params).__name__}")
    x, y = jnp.zeros((int(d),), dtype), jnp.asarray(0.5, dtype)
    how = "(it must take one example, x of shape (d,) and y a scalar, and be differentiable by jax.grad)"
    try:
        value = model.loss(params, x, y)
    except Exception as e:
        raise ModelError(f"{who}: loss(params, x, y) failed: {type(e).__name__}: {_first_line(e)} {how}") from None
    if jnp.shape(value) != ():
        raise ModelError(f"{who}: loss must return a scalar for one example, got shape {jnp.shape(value)}")
    try:
        grad = jax.grad(lambda p: model.loss(p, x, y))(params)
        # as training runs it: compiled, and batched by vmap (float(y) or a Python branch on x fails here)
        xs, ys = jnp.zeros((2, int(d)), dtype), jnp.full((2,), 0.5, dtype)
        jax.jit(jax.vmap(jax.grad(model.loss), in_axes=(None, 0, 0)))(params, xs, ys)
        if model.predict is not None:
            jax.jit(jax.vmap(model.predict, in_axes=(None, 0)))(params, xs)
    except Exception as e:
        raise ModelError(f"{who}: jax.grad, jax.jit or jax.vmap of loss (or predict) failed: {type(e).__name__}: "
                         f"{_first_line(e)} {how}") from None
    if not bool(jnp.isfinite(value)) or not all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grad)):
        raise ModelError(f"{who}: loss or its gradient is not finite at the initial parameters")
    return params
