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

from jaxsgd import checks
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
    """Parameters ``θ = (b, w)`` of the sigmoid neuron, a pytree that :func:`jax.grad` differentiates.

    Attributes:
      b: the bias, a scalar array (shape ``()``).
      w: the weights, a vector of shape ``(d,)`` for ``d`` features.

    Example:
      >>> p = Params(jnp.array(4.0), jnp.array([5.0, 6.0]))
      >>> p.b.shape, p.w.shape
      ((), (2,))
      >>> jax.tree.map(lambda a: a * 2, p).to_theta()
      Array([ 8., 10., 12.], dtype=float32)
    """

    b: jax.Array
    w: jax.Array

    @classmethod
    def from_theta(cls, theta, dtype=None) -> Params:
        """Builds ``Params`` from the flat vector ``θ = (b, w1, …, wd)``.

        Args:
          theta: ``b`` then the ``d ≥ 1`` weights, a sequence or array of shape ``(d + 1,)``.
          dtype: the dtype of the parameters; ``None`` (the default) keeps ``theta``'s own, as
            :func:`jax.numpy.asarray` infers it (float32 for Python floats unless x64 is enabled).

        Returns:
          ``Params`` with ``b = theta[0]`` (shape ``()``) and ``w = theta[1:]`` (shape ``(d,)``).

        Raises:
          InputError: ``theta`` is not a vector of at least two numbers.

        Example:
          >>> Params.from_theta([4.0, 5.0, 6.0]).w
          Array([5., 6.], dtype=float32)
        """
        theta = jnp.asarray(theta, dtype=dtype)
        if theta.ndim != 1 or theta.shape[0] < 2:
            raise InputError(f"theta must be a vector (b, w1, ..., wd) with d >= 1, got shape {theta.shape}")
        return cls(theta[0], theta[1:])

    def to_theta(self) -> jax.Array:
        """The flat vector ``θ = (b, w1, …, wd)``, the inverse of :meth:`from_theta`.

        Returns:
          An array of shape ``(d + 1,)`` in the parameters' dtype.

        Example:
          >>> Params(jnp.array(4.0), jnp.array([5.0, 6.0])).to_theta()
          Array([4., 5., 6.], dtype=float32)
        """
        return jnp.concatenate([jnp.reshape(self.b, (1,)), self.w])


def init_params(d: int, dtype=jnp.float32) -> Params:
    """All-zero parameters ``θ = 0`` for ``d`` features, the exercise's start: ``h(x) = σ(0) = ½`` for every ``x``.

    Args:
      d: the number of features, a whole number ``≥ 1``.
      dtype: the dtype of ``b`` and ``w`` (default float32; float64 needs x64 enabled).

    Returns:
      :class:`Params` with ``b`` of shape ``()`` and ``w`` of shape ``(d,)``, all zeros.

    Example:
      >>> init_params(2)
      Params(b=Array(0., dtype=float32), w=Array([0., 0.], dtype=float32))
    """
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
    r"""The logistic function ``σ(z) = 1 / (1 + e^{−z})``, with a tail-accurate derivative.

    .. math::

        \sigma(z) = \frac{1}{1 + e^{-z}}, \qquad \sigma'(z) = \frac{e}{(1 + e)^2}, \quad e = e^{-|z|}

    Value and derivative come from one exponential (:func:`sigmoid_prime`), so
    gradients taken through it (a custom JVP) stay accurate where ``σ(z)(1 − σ(z))``
    would round to 0, and a training step costs one ``exp`` per example.

    Args:
      z: the pre-activation, an array of any shape and floating dtype (or a Python float).

    Returns:
      ``σ(z)``, an array of the same shape and dtype, in ``[0, 1]``.

    Example:
      >>> float(sigmoid(0.0))
      0.5
      >>> float(jax.jit(jax.grad(sigmoid))(21.0))   # jax.grad(jax.nn.sigmoid)(21.0) is 0.0
      7.582560...e-10
    """
    return _sigmoid_parts(z)[0]


def sigmoid_prime(z):
    """The derivative ``σ′(z) = e/(1 + e)²`` with ``e = e^{−|z|}``: ``σ(z)(1 − σ(z))`` without its cancellation.

    The two forms are the same number, but this one never subtracts numbers close
    to 1: it keeps full relative accuracy in both tails, and is exactly 0 only
    beyond the dtype's smallest subnormal (``|z|`` above ~104 in float32), never NaN.

    Args:
      z: the pre-activation, an array of any shape and floating dtype (or a Python float).

    Returns:
      ``σ′(z)``, an array of the same shape and dtype, in ``[0, ¼]``.

    Example:
      >>> float(sigmoid_prime(0.0))
      0.25
      >>> float(sigmoid_prime(21.0))   # σ(21)·(1 − σ(21)) is 0.0 in float32
      7.582560...e-10
    """
    return _sigmoid_parts(z)[1]


@sigmoid.defjvp
def _sigmoid_jvp(primals, tangents):
    (z,), (t,) = primals, tangents
    h, dh = _sigmoid_parts(z)  # one exponential for both
    return h, dh * t


def predict(params: Params, x):
    """The neuron's output ``h(x) = σ(b + w·x)`` for one example.

    Args:
      params: the parameters ``θ = (b, w)``, :class:`Params` with ``w`` of shape ``(d,)``.
      x: one example's features, shape ``(d,)``, in the dtype of ``params``.

    Returns:
      ``h(x)``, a scalar array in ``[0, 1]``. For a batch, see :func:`predict_batch`.

    Example:
      >>> h = jax.jit(predict)
      >>> float(h(Params.from_theta([4.0, 5.0, 6.0]), jnp.array([1.0, 2.0])))   # σ(21) rounds to 1 in float32
      1.0
      >>> float(h(init_params(2), jnp.array([1.0, 2.0])))
      0.5
    """
    return sigmoid(params.b + jnp.sum(params.w * x))  # an elementwise sum fuses; a tiny dot does not


def example_loss(params: Params, x, y):
    r"""The squared loss ``L(θ) = ½ (y − h(x))²`` of one example, with ``h(x) = σ(b + w·x)``.

    .. math::

        L(\theta) = \tfrac12 \bigl(y - \sigma(b + w \cdot x)\bigr)^2, \qquad
        \nabla_\theta L = -\bigl(y - \sigma(z)\bigr)\, \sigma'(z)\, (1, x)

    This is the one definition of the neuron's loss: :func:`jax.grad` of it is the
    per-example gradient, and :func:`jax.vmap` of that the per-example gradients of a
    batch (:func:`per_example_grads`). It is the ``loss`` of :func:`neuron`.

    Args:
      params: the parameters ``θ = (b, w)``, :class:`Params` with ``w`` of shape ``(d,)``.
      x: one example's features, shape ``(d,)``.
      y: its target, a scalar (in σ's range ``(0, 1)`` for a loss that can reach 0).

    Returns:
      ``L``, a scalar array.

    Example:
      >>> float(jax.jit(example_loss)(init_params(2), jnp.array([1.0, 2.0]), 1.0))   # ½(1 − ½)²
      0.125
    """
    return 0.5 * (y - predict(params, x)) ** 2


predict_batch = jax.vmap(predict, in_axes=(None, 0))
predict_batch.__doc__ = """The neuron's outputs ``h(xᵢ) = σ(b + w·xᵢ)`` for a batch: :func:`predict` under ``vmap``.

Args:
  params: the parameters ``θ = (b, w)``, :class:`Params` with ``w`` of shape ``(d,)``, shared by every example.
  x: the batch's features, shape ``(B, d)``, one example per row.

Returns:
  ``h``, an array of shape ``(B,)``.

Example:
  >>> jax.jit(predict_batch)(init_params(2), jnp.zeros((3, 2)))
  Array([0.5, 0.5, 0.5], dtype=float32)
"""


def mean_loss(params: Params, xt, y):
    """The mean loss ``(1/B) Σᵢ ½ (yᵢ − h(xᵢ))²`` over a feature-major batch.

    The per-example loss of :func:`example_loss` written for a whole batch at
    once: ``z = b + w·X`` is one small matrix product, which compiles to far
    fewer and faster kernels than a vmapped elementwise sum. Its gradient is the
    mini-batch gradient ``(1/B) Σᵢ ∇Lᵢ(θ)``.

    Args:
      params: the parameters ``θ = (b, w)``, :class:`Params` with ``w`` of shape ``(d,)``.
      xt: the batch's features, feature-major: shape ``(d, B)``, one example per column.
      y: the targets, shape ``(B,)``.

    Returns:
      The mean loss, a scalar array. :func:`batch_loss` is the same for ``x`` of shape ``(B, d)``.

    Example:
      >>> float(jax.jit(mean_loss)(init_params(1), jnp.array([[1.0, -1.0]]), jnp.array([0.5, 1.0])))   # ½(0² + ½²)/2
      0.0625
    """
    return jnp.mean(0.5 * (y - sigmoid(params.b + params.w @ xt)) ** 2)


def batch_loss(params: Params, x, y):
    r"""The mean loss ``(1/B) Σᵢ ½ (yᵢ − h(xᵢ))²`` over an example-major batch: :func:`mean_loss` of ``x.T``.

    .. math::

        L_B(\theta) = \frac{1}{B} \sum_{i=1}^{B} \tfrac12 \bigl(y_i - \sigma(b + w \cdot x_i)\bigr)^2

    Its gradient is the mini-batch gradient ``(1/B) Σᵢ ∇Lᵢ(θ)``, the direction of
    one SGD step ``θ ← θ − α ∇L_B(θ)`` (:func:`jaxsgd.train.step`).

    Args:
      params: the parameters ``θ = (b, w)``, :class:`Params` with ``w`` of shape ``(d,)``.
      x: the batch's features, shape ``(B, d)``, one example per row.
      y: the targets, shape ``(B,)``.

    Returns:
      The mean loss, a scalar array.

    Example:
      At the exercise's point, ``θ⁰ = (4, 5, 6)``, ``x = (1, 2)``, ``y = 3``, the gradient is
      ``−(3 − σ(21))·σ′(21)·(1, 1, 2) ≈ −1.5165e-9·(1, 1, 2)``:

      >>> grad = jax.jit(jax.grad(batch_loss))
      >>> g = grad(Params.from_theta([4.0, 5.0, 6.0]), jnp.array([[1.0, 2.0]]), jnp.array([3.0]))
      >>> [round(float(v) * 1e9, 4) for v in g.to_theta()]
      [-1.5165, -1.5165, -3.033]
    """
    return mean_loss(params, jnp.asarray(x).T, y)


per_example_grads = jax.vmap(jax.grad(example_loss), in_axes=(None, 0, 0))
per_example_grads.__doc__ = """The gradient ``∇Lᵢ(θ)`` of each example in a batch, as ``Params`` with a batch axis.

It is ``vmap(grad(example_loss), in_axes=(None, 0, 0))``: their mean is the mini-batch gradient
(:func:`batch_loss`), their spread what the study's noise scales measure.

Args:
  params: the parameters ``θ = (b, w)``, :class:`Params` with ``w`` of shape ``(d,)``, shared by every example.
  x: the batch's features, shape ``(B, d)``.
  y: the targets, shape ``(B,)``.

Returns:
  :class:`Params` with a leading batch axis: ``b`` of shape ``(B,)``, ``w`` of shape ``(B, d)``.

Example:
  >>> g = jax.jit(per_example_grads)(init_params(2), jnp.array([[1.0, 2.0], [2.0, 0.0]]), jnp.array([1.0, 0.0]))
  >>> g.b.shape, g.w.shape
  ((2,), (2, 2))
  >>> g.w.tolist()   # −(y − ½)·¼·x: −⅛·x, then +⅛·x
  [[-0.125, -0.25], [0.25, 0.0]]
"""


# ---------------------------------------------------------------- any model: a per-example loss over a pytree
class Model(NamedTuple):
    """A model as the library trains it: a per-example loss over a parameter pytree, and where it starts.

    Batches, per-example gradients and Hessian-vector products all come from
    ``loss`` by :func:`jax.vmap` and :func:`jax.grad`, so any JAX model is one of
    these. :func:`neuron` is the exercise's model and every function's default;
    :func:`mlp` a small network; :func:`from_spec` the one a command line names.
    :func:`check_model` tries one before training.

    Attributes:
      loss: ``loss(params, x, y) -> scalar`` for one example, ``x`` of shape ``(d,)`` and ``y`` a
        scalar; differentiable by :func:`jax.grad` in ``params``.
      init: ``init(key, d) -> params``, the initial parameters (any pytree of float arrays) for ``d``
        features, from a PRNG key.
      name: how reports and checkpoints name the model (default ``"custom"``).
      predict: ``predict(params, x) -> h`` for one example, ``h`` in ``(0, 1)``, if known (default
        ``None``): it gives predictions and R².

    Example:
      >>> m = Model(example_loss, lambda key, d: init_params(d), "neuron", predict)
      >>> p = m.init(None, 2)
      >>> float(jax.jit(m.loss)(p, jnp.zeros(2), 0.5))   # σ(0) = ½ at the start
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
    """The exercise's model: the sigmoid neuron ``h(x) = σ(b + w·x)`` with loss ``½(y − h)²``, from ``θ = 0``.

    The default model of every function that takes one. Its ``init`` ignores the
    key (every seed starts at ``θ = 0``, :func:`init_params`), its ``loss`` is
    :func:`example_loss` and its ``predict`` :func:`predict`.

    Returns:
      A :class:`Model` named ``"sigmoid"`` whose parameters are :class:`Params`.

    Example:
      >>> m = neuron()
      >>> m.name, m.loss is example_loss
      ('sigmoid', True)
      >>> m.init(None, 2).w
      Array([0., 0.], dtype=float32)
    """
    return Model(example_loss, _neuron_init, "sigmoid", predict)


@functools.lru_cache(maxsize=64)  # one batch loss per loss function: jitted callers see the same object
def mean_loss_of(loss: Callable | None = None) -> Callable:
    """The batch loss of a per-example ``loss``: its mean over a feature-major batch.

    For the neuron's :func:`example_loss` (or ``None``) this is :func:`mean_loss`
    itself, the one-matrix-product form (so the default is bit-for-bit as it was);
    for the built-in :func:`mlp` a batch form with one matrix product per layer; for
    any other loss, ``mean(vmap(loss))``. The result is cached per ``loss``, so jitted
    callers see the same function object and do not recompile.

    Args:
      loss: ``loss(params, x, y) -> scalar`` for one example (a :class:`Model`'s ``loss``), or
        ``None`` (the default) for the neuron's.

    Returns:
      ``mean(params, xt, y) -> scalar`` with ``xt`` of shape ``(d, B)`` and ``y`` of shape ``(B,)``.

    Example:
      >>> mean_loss_of(None) is mean_loss_of(example_loss) is mean_loss
      True
      >>> f = mean_loss_of(lambda params, x, y: (y - params @ x) ** 2)
      >>> float(f(jnp.array([1.0]), jnp.array([[1.0, 2.0]]), jnp.array([1.0, 1.0])))   # (0² + 1²)/2
      0.5
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
    """One dense layer ``a ↦ w @ a + b`` of :func:`mlp`; the MLP's parameters are a tuple of these.

    Attributes:
      w: the weights, shape ``(out, in)``.
      b: the biases, shape ``(out,)``.

    Example:
      >>> layer = Layer(jnp.ones((2, 3)), jnp.zeros(2))
      >>> layer.w @ jnp.ones(3) + layer.b
      Array([3., 3.], dtype=float32)
    """

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
    r"""A multilayer perceptron: ``tanh`` hidden layers of the given widths, a sigmoid output, ``½(y − h)²``.

    .. math::

        h(x) = \sigma(w_\mathrm{out} \cdot a_L + b_\mathrm{out}), \qquad a_0 = x, \quad
        a_l = \tanh(W_l a_{l-1} + b_l)

    The output stays in σ's range (0, 1), so targets are scaled as for the neuron.
    Hidden weights start as LeCun normals ``N(0, 1/fan_in)`` drawn from the key,
    biases and the output layer at zero (so every run starts at h = ½, as the
    neuron does).

    Args:
      hidden: the widths of the hidden layers, whole numbers ``≥ 1``, e.g. ``(16,)`` or ``(32, 16)``.
      dtype: the dtype of the parameters (default float32).

    Returns:
      A :class:`Model` named ``"mlp:H1,H2,…"`` whose parameters are a tuple of :class:`Layer`, one per
      hidden layer and one for the output (``w`` of shape ``(1, H_L)``).

    Raises:
      InputError: no widths, or a width below 1.

    Example:
      >>> m = mlp((8, 8))
      >>> m.name
      'mlp:8,8'
      >>> [layer.w.shape for layer in jax.eval_shape(lambda key: m.init(key, 3), jax.random.key(0))]
      [(8, 3), (8, 8), (1, 8)]
    """
    try:
        given = tuple(hidden)
    except TypeError:  # mlp(16): one width, not a sequence of them
        raise InputError(f"hidden layer widths are a sequence of whole numbers, e.g. (16,) or (32, 16); got "
                         f"{hidden!r}") from None
    whole = all(checks.whole(h) for h in given)
    if not given or not whole or any(h < 1 for h in given):
        raise InputError(f"hidden layer widths must be whole numbers ≥ 1, e.g. (16,) or (32, 16); got {given!r}")
    widths = tuple(int(h) for h in given)

    def init(key, d: int):
        sizes = (int(d), *widths)
        keys = jax.random.split(key, len(widths))
        layers = [Layer(jax.random.normal(k, (o, i), dtype) / jnp.sqrt(jnp.asarray(i, dtype)), jnp.zeros((o,), dtype))
                  for k, i, o in zip(keys, sizes[:-1], sizes[1:], strict=True)]
        return (*layers, Layer(jnp.zeros((1, widths[-1]), dtype), jnp.zeros((1,), dtype)))

    return Model(_mlp_loss, init, "mlp:" + ",".join(map(str, widths)), _mlp_predict)


def from_spec(spec: str) -> Model:
    """The model a command line names (``--model``), as a :class:`Model`.

    A user's module is imported from the current directory or ``sys.path``; its
    ``loss``, ``init`` and (optional) ``predict`` may be attributes of an object or
    functions of a module.

    Args:
      spec: one of ``"sigmoid"`` (the neuron, :func:`neuron`); ``"mlp:H[,H…]"`` (:func:`mlp` with
        1 to 8 hidden widths from 1 to 4096); ``"package.module:name"``, an object with
        ``loss(params, x, y)`` and ``init(key, d)`` (and ``predict(params, x)``, for predictions
        and R²); or ``"package.module"``, a module with those functions.

    Returns:
      The :class:`Model`, named ``spec`` (``predict`` is ``None`` where the user's code has none).

    Raises:
      ModelError: ``spec`` names no model, its module cannot be imported or fails while importing,
        or what it names lacks a callable ``loss`` or ``init``.

    Example:
      >>> from_spec("mlp:16,8").name, from_spec("sigmoid").name
      ('mlp:16,8', 'sigmoid')
      >>> from_spec("mlp:0")
      Traceback (most recent call last):
      ...
      jaxsgd.errors.ModelError: model 'mlp:0': give 1 to 8 hidden widths from 1 to 4096, e.g. mlp:16 or mlp:32,16
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
    """Whether ``spec`` names a built-in model, which loading imports no one's code for: ``sigmoid`` or ``mlp:…``.

    Args:
      spec: a model spec as :func:`from_spec` takes it.

    Returns:
      ``True`` for ``"sigmoid"``, ``"mlp"`` and any ``"mlp:…"`` (valid or not), ``False`` for a user's module.

    Example:
      >>> is_builtin("sigmoid"), is_builtin("mlp:16"), is_builtin("mymodels:tiny")
      (True, True, False)
    """
    return spec in ("sigmoid", "mlp") or spec.startswith("mlp:")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else "(no message)")[:300]


def check_model(model: Model, d: int, dtype=jnp.float32, *, key=None):
    """Tries ``model`` once on a zero example of ``d`` features, before any training.

    ``init`` must give a pytree of float arrays, ``loss`` a finite scalar with a finite
    gradient of the same structure, and ``loss`` (and ``predict``, if given) must
    survive :func:`jax.jit` and :func:`jax.vmap` as training runs them. A failure inside
    the model is a :class:`ModelError` naming it, in one line, rather than a traceback
    from deep inside a compiled epoch.

    Args:
      model: the :class:`Model` to try.
      d: the number of features, a whole number ``≥ 1``.
      dtype: the dtype of the zero example (default float32).
      key: the PRNG key ``init`` gets; ``None`` (the default) means ``jax.random.key(0)``.

    Returns:
      The initial parameters, ``model.init(key, d)``.

    Raises:
      ModelError: ``init`` or ``loss`` raised, returned the wrong kind of value, failed under
        :func:`jax.grad`, :func:`jax.jit` or :func:`jax.vmap`, or is not finite at the start.

    Example:
      >>> check_model(Model(example_loss, lambda key, d: [0] * d, "ints"), 2)
      Traceback (most recent call last):
      ...
      jaxsgd.errors.ModelError: model ints: init must return a pytree of float arrays, got list
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
