"""From a batch-size study to one setting a user can act on, checked by a short training run.

At the study's default loss level the bottom line is the **largest studied
batch size whose examples to the level stay within 2× of the fewest**, at its
best learning rate: McCandlish et al.'s trade-off puts ``B ≈ B_crit`` at
``S ≈ 2 S_min`` steps and ``E ≈ 2 E_min`` examples, so this is the batch size
that buys the most parallelism (fewest steps) for at most twice the data. Two
other goals follow in a table: the fewest examples and the fewest steps. Every
choice comes from the study's measured ``S(B)``, so the same seed gives the same
answer; wall-clock figures are printed, never used to choose.

Each choice and the defaults (``batch_size=32``, ``lr=0.5``) are then trained for
``budget_epochs`` passes over the data, or more where the recommendation needs
them to arrive at the level (two seeds each); the median final
full-data loss is printed beside the defaults', and if the recommendation ends
worse, the advice says so and why.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsgd import checks, defaults, train
from jaxsgd.model import init_params
from jaxsgd.study._claims import jitted_step, step_seconds
from jaxsgd.study._hits import initial_params
from jaxsgd.study._study import StudyResult

DEFAULT_BATCH, DEFAULT_LR = defaults.BATCH_SIZE, defaults.LEARNING_RATE
WITHIN = 2.0  # the recommendation's examples may be at most this many times the fewest
MAX_CHECK_EPOCHS = 100  # the check runs' epochs: the budget asked, or enough for the level, at most this


class Choice(NamedTuple):
    """One goal's batch size and learning rate, its measured steps and examples to the level, and its check.

    Attributes:
      goal: the goal, in words: ``"largest B within 2× of the fewest examples"`` (the recommendation),
        ``"fewest examples"`` or ``"fewest steps"``.
      batch_size: the batch size ``B`` that meets it.
      learning_rate: its best learning rate at the study's default level.
      steps: ``S(B)``, its steps to the level.
      examples: ``E(B) = B·S(B)``, its examples to the level.
      check_loss: the median over two seeds of the full-data loss after the check budget
        (:attr:`Advice.budget_epochs`).
      check_rmse: the same in the target's units, ``√(2L)`` times its scale (``None`` unless the study was
        given the scale).
      step_seconds: seconds per compiled step of one run at this ``B`` (printed, never used to choose;
        ``None`` for a model other than the neuron).

    Example:
      >>> c = Choice("fewest examples", batch_size=8, learning_rate=0.5, steps=40.0, examples=320.0,
      ...            check_loss=0.012, check_rmse=None, step_seconds=1e-5)
      >>> c.examples / c.steps
      8.0
    """

    goal: str
    batch_size: int
    learning_rate: float
    steps: float
    examples: float
    check_loss: float
    check_rmse: float | None
    step_seconds: float


class Advice(NamedTuple):
    """What :func:`advise` gives: the recommendation, the table of goals, the defaults' check, how sure it is.

    Attributes:
      recommendation: the :class:`Choice` for the largest studied batch size whose examples to the level are at
        most twice the fewest (``None`` if no batch size reached the level).
      choices: the other goals' :class:`Choice` s, fewest examples then fewest steps (a goal met by a setting
        already checked repeats that check under its own goal).
      default_loss: the median final full-data loss of the defaults (``B = 32``, or every row if there are
        fewer; ``lr = 0.5``) after the same budget.
      default_rmse: the same in the target's units (``None`` unless the study was given its scale).
      budget_epochs: the epochs of every check run: the budget asked, raised to cover twice the
        recommendation's examples to the level (at most 100).
      certainty: how sure the study is of ``B_crit``, in words (:func:`certainty`).
      verdict: the recommendation's check against the defaults, in words (:func:`verdict`; empty without a
        recommendation).

    Example:
      >>> c = Choice("largest B within 2× of the fewest examples", 32, 1.0, 25.0, 800.0, 0.011, None, 1e-5)
      >>> a = Advice(c, (c._replace(goal="fewest examples"),), default_loss=0.013, default_rmse=None,
      ...            budget_epochs=3, certainty="rough", verdict=verdict(c, 0.013, 32, 400, 3))
      >>> a.recommendation.batch_size, a.verdict
      (32, 'after 3 epochs it ends at or below the defaults (0.011 vs 0.013)')
    """

    recommendation: Choice | None
    choices: tuple[Choice, ...]
    default_loss: float
    default_rmse: float | None
    budget_epochs: int
    certainty: str
    verdict: str


_loss_of_runs = jax.jit(train.runs_loss, static_argnames="loss")


def _check_keys(seed: int) -> np.ndarray:
    """The two check runs' keys: ``[seed, 1]``, ``[seed, 2]`` below 2³², else drawn from all 64 bits."""
    if isinstance(seed, int | np.integer) and 0 <= seed < 2**32:
        return np.asarray([[seed, 1], [seed, 2]], np.uint32)
    return np.asarray(jax.random.key_data(jax.random.split(train.seed_key(seed), 2)))  # refuses a bad seed


def final_losses(x, y, b, lrs, epochs, seed, model=None):
    """The check runs' final full-data loss, per learning rate: the median over two seeds.

    Every learning rate runs with the keys ``[seed, 1]`` and ``[seed, 2]`` (the seeds' shuffles; any other
    model's runs start as the study's do), for ``epochs`` epochs through :func:`jaxsgd.train.sweep`.

    Args:
      x: the scaled features ``(N, d)``, float32.
      y: the scaled targets ``(N,)``, float32.
      b: the batch size, at most ``N``.
      lrs: the learning rates ``(L,)``, float32.
      epochs: the epochs of every run.
      seed: the check runs' seed, a whole number in ``[0, 2⁶⁴)``.
      model: any :class:`jaxsgd.model.Model`; default ``None``: the sigmoid neuron from θ = 0.

    Returns:
      The median final losses ``(L,)`` float64, ``inf`` for a learning rate whose runs diverged.

    Example:
      >>> x = np.random.default_rng(0).normal(size=(400, 2)).astype(np.float32)
      >>> y = (1 / (1 + np.exp(-x[:, 0]))).astype(np.float32)
      >>> losses = final_losses(x, y, 32, np.asarray([0.5], np.float32), 1, 0)
      >>> losses.shape, losses.dtype, bool(losses[0] < 0.02)
      ((1,), dtype('float64'), True)
    """
    keys = _check_keys(seed)
    loss = None if model is None else model.loss
    runs = train.sweep(x, y, learning_rates=lrs, keys=keys, batch_size=b, epochs=epochs, loss=loss,
                       params=initial_params(model, keys, x.shape[1]))
    losses = np.asarray(_loss_of_runs(runs.params, x.T, y, loss=loss), np.float64)  # (2, L)
    losses[~np.isfinite(losses)] = np.inf
    return np.median(losses, axis=0)


def warm_up(n: int, d: int, batch_sizes, *, seed: int = 0):
    """Compiles, ahead, the programs :func:`advise` runs for these shapes, the neuron's.

    The batch-size job passes it to :func:`run_study` as ``also_compile``, which calls it on its compile thread
    while it trains, so that advice afterwards costs little more than its runs.

    Args:
      n: the rows the advice trains on.
      d: the features per row.
      batch_sizes: the batch sizes it may check, an iterable of ints.
      seed: the check runs' seed (their keys' shape depends on it); default 0.

    Returns:
      ``None``; the compiled programs stay in JAX's cache.

    Example:
      >>> warm_up(16, 2, (4,)) is None
      True
    """
    opt = train.make_optimizer("sgd")
    one = train.TrainState.create(init_params(d), optimizer=opt, key=jax.random.key(0), learning_rate=0.1)
    keys = _check_keys(seed)
    runs = train.TrainState.create_runs(d, keys, np.ones(1, np.float32), optimizer=opt)
    rows = jax.ShapeDtypeStruct((n, d + 1), jnp.float32)
    perms = jax.ShapeDtypeStruct((len(keys), n), jnp.int32)
    _loss_of_runs.lower(runs.params, jax.ShapeDtypeStruct((d, n), jnp.float32),
                        jax.ShapeDtypeStruct((n,), jnp.float32)).compile()
    for b in batch_sizes:
        jitted_step.lower(opt, one.params, one.opt_state, jax.ShapeDtypeStruct((d, b), jnp.float32),
                          jax.ShapeDtypeStruct((b,), jnp.float32)).compile()
        train.epoch.lower(runs, perms, rows, optimizer=opt, batch_size=int(b)).compile()


def advise(result: StudyResult, x, y, *, budget_epochs: int = defaults.BUDGET_EPOCHS, seed: int = 0,
           target_scale: float | None = None, model=None) -> Advice:
    """One recommendation at the study's default level, and a table of goals, each checked by training.

    The recommendation is the largest studied batch size whose examples to the
    level ``E(B) = B·S(B)`` are at most twice the fewest, at its best learning
    rate; the table adds the fewest examples and the fewest steps. Each, and the
    defaults (``B = 32``, ``lr = 0.5``), is trained with two seeds for
    ``budget_epochs`` epochs, or for as many as twice the recommendation's
    examples to the level take if that is more (at most 100), and the median
    final full-data loss is reported.

    Args:
      result: a :class:`~jaxsgd.study.StudyResult` of these rows.
      x: the scaled features the study ran on ``(N, d)``.
      y: the scaled targets ``(N,)``.
      budget_epochs: epochs of every check run, at least 1 (default ``defaults.BUDGET_EPOCHS``, 3); raised to
        cover twice the recommendation's examples to the level, at most 100.
      seed: the check runs' seed, a whole number in ``[0, 2⁶⁴)``; default 0.
      target_scale: the target's scale ``hi − lo``, to give check losses as RMSE in its units; default
        ``None``: not.
      model: the :class:`jaxsgd.model.Model` the study ran; default ``None``: the neuron.

    Returns:
      An :class:`Advice`: the recommendation (``None`` if no batch size reached
      the level), the table, the defaults' check, how well determined ``B_crit``
      is, and the check's verdict, in words.

    Raises:
      InputError: ``budget_epochs`` not a whole number ≥ 1, or a bad ``seed``.

    Example:
      >>> import numpy as np
      >>> from jaxsgd.study import StudyConfig, run_study
      >>> x = np.random.default_rng(0).normal(size=(400, 2)).astype(np.float32)
      >>> y = (1 / (1 + np.exp(-x[:, 0]))).astype(np.float32)
      >>> r = run_study(x, y, StudyConfig(batch_sizes=(4, 32), seeds=2, fractions=(0.1,), bootstrap=20))
      >>> a = advise(r, x, y, budget_epochs=1)
      >>> a.recommendation.goal, a.recommendation.batch_size in (4, 32)
      ('largest B within 2× of the fewest examples', True)

    References:
      McCandlish et al., 2018, "An Empirical Model of Large-Batch Training" (the examples–steps trade-off).
    """
    checks.count("budget_epochs", budget_epochs)
    _check_keys(seed)
    x = jnp.asarray(x, jnp.float32)
    y = jnp.asarray(y, jnp.float32)
    level = result.default
    have = [r for r in level.rows if r.steps is not None]
    n = x.shape[0]

    def rmse(loss):
        return None if target_scale is None or not math.isfinite(loss) else math.sqrt(2 * loss) * target_scale

    default_b = DEFAULT_BATCH if n >= DEFAULT_BATCH else n
    if have:
        fewest = min(have, key=lambda r: (r.examples, -r.batch_size))
        rec = max((r for r in have if r.examples <= WITHIN * fewest.examples), key=lambda r: r.batch_size)
        quickest = min(have, key=lambda r: (r.steps, r.batch_size))
        # long enough for the recommendation to arrive and stay: twice its examples to the level
        budget_epochs = min(MAX_CHECK_EPOCHS, max(budget_epochs, math.ceil(2 * rec.examples / n)))
    default_loss = float(final_losses(x, y, default_b, np.asarray([DEFAULT_LR], np.float32), budget_epochs,
                                      seed, model)[0])
    if not have:
        return Advice(None, (), default_loss, rmse(default_loss), budget_epochs,
                      "no batch size reached the level: no advice", "")

    def choice(goal, row):
        loss = float(final_losses(x, y, row.batch_size, np.asarray([row.best_lr], np.float32), budget_epochs,
                                  seed, model)[0])
        seconds = step_seconds(x, y, row.batch_size, row.best_lr) if model is None else None
        return Choice(goal, row.batch_size, row.best_lr, row.steps, row.examples, loss, rmse(loss), seconds)

    recommended = choice(f"largest B within {WITHIN:g}× of the fewest examples", rec)
    table = [recommended]
    for goal, row in (("fewest examples", fewest), ("fewest steps", quickest)):
        same = next((c for c in table if (c.batch_size, c.learning_rate) == (row.batch_size, row.best_lr)), None)
        table.append(choice(goal, row) if same is None else same._replace(goal=goal))
    return Advice(recommended, tuple(table[1:]), default_loss, rmse(default_loss), budget_epochs,
                  certainty(level, result.seeds), verdict(recommended, default_loss, default_b, n, budget_epochs))


def verdict(c: Choice, default_loss: float, default_b: int, n: int, epochs: int) -> str:
    """The recommendation's check against the defaults', in words, and why where it ends worse.

    SGD with a constant rate α at batch size B settles at an excess loss of about ``α·tr(Σ)/(4B)`` above the
    minimum (the noise floor); within a fixed budget of epochs a larger B takes fewer steps. A recommendation
    that ends worse is explained by the first of these that applies: its rate per example ``α/B`` above the
    defaults', else its fewer steps.

    Args:
      c: the recommended :class:`Choice` (its ``check_loss``, ``learning_rate`` and ``batch_size``).
      default_loss: the defaults' final loss after the same budget.
      default_b: the defaults' batch size.
      n: the rows trained on.
      epochs: the budget, in epochs.

    Returns:
      One sentence, a str.

    Example:
      >>> c = Choice("largest B within 2× of the fewest examples", 32, 1.0, 25.0, 800.0, 0.011, None, 1e-5)
      >>> verdict(c, 0.013, 32, 400, 3)
      'after 3 epochs it ends at or below the defaults (0.011 vs 0.013)'
      >>> verdict(c._replace(check_loss=0.02, batch_size=64, learning_rate=0.5), 0.013, 32, 400, 3)
      "after 3 epochs it ends above the defaults (0.02 vs 0.013): the budget gives it 18 steps against the
      defaults' 36; it reaches the level in few steps, and with more epochs it goes deeper"
    """
    if c.check_loss <= default_loss:
        return (f"after {epochs} epochs it ends at or below the defaults ({c.check_loss:.6g} vs "
                f"{default_loss:.6g})")
    worse = f"after {epochs} epochs it ends above the defaults ({c.check_loss:.6g} vs {default_loss:.6g}): "
    mine, theirs = c.learning_rate / c.batch_size, DEFAULT_LR / default_b
    if mine > theirs:
        return worse + (f"its rate per example α/B = {mine:.3g} is above the defaults' {theirs:.3g}, so its "
                        "noise floor (about α·tr Σ/(4B) above L*) is higher; it is chosen to reach the level "
                        "fast, and a smaller rate would go deeper")
    steps, default_steps = epochs * (n // c.batch_size), epochs * (n // default_b)
    return worse + (f"the budget gives it {steps:,} steps against the defaults' {default_steps:,}; it reaches "
                    "the level in few steps, and with more epochs it goes deeper")


def certainty(level, seeds: int) -> str:
    """How sure the study is of ``B_crit``, in words that follow the seeds and the interval's width.

    Fewer than 4 seeds is "rough"; with its 95% interval ``(lo, hi)``, ``hi/lo < 1.5`` and at least 8 seeds is
    "well determined", ``hi/lo < 3`` "determined to within a factor", wider "loosely determined". A ``B_crit``
    beyond the largest batch size is given as its interval's lower bound only.

    Args:
      level: the :class:`LevelResult` (its ``b_crit``, ``b_crit_ci`` and ``beyond``).
      seeds: the seeds the study ran.

    Returns:
      One sentence, a str.

    Example:
      >>> from jaxsgd.study import LevelResult
      >>> level = LevelResult(0.1, 0.02, True, 12.0, (8.0, 20.0), 10.0, None, None, ())
      >>> certainty(level, 8)
      'B_crit = 12 (95% interval 8–20 over 8 seeds): determined to within a factor of 2.5'
      >>> certainty(level._replace(b_crit=None, b_crit_ci=None), 8)
      'no critical batch size could be fitted at this level: S(B) does not fall like S_min(1 + B_crit/B)'
    """
    if level.b_crit is None:
        return "no critical batch size could be fitted at this level: S(B) does not fall like S_min(1 + B_crit/B)"
    few = (f"; only {seeds} seed{'s' if seeds != 1 else ''}: run 8 seeds or more before acting on it"
           if seeds < 4 else "")
    if level.b_crit_ci is None:
        if math.isinf(level.b_crit):
            return f"B_crit is beyond the largest batch size studied, with no interval{few}"
        return (f"B_crit ≈ {level.b_crit:.3g}, with no interval (over 10% of the resamples of the seeds could not "
                f"be fitted){few}")
    lo, hi = level.b_crit_ci
    ratio = hi / lo if lo > 0 else math.inf
    if math.isinf(level.b_crit) or math.isinf(hi) or getattr(level, "beyond", False):
        return (f"B_crit ≥ {lo:.3g} (the lower end of its 95% interval over {seeds} seeds; the fit puts it beyond "
                f"the largest batch size studied, where S(B) still falls nearly like 1/B, so only that bound is "
                f"measured){few}")
    if seeds < 4:
        word = "rough"
    elif ratio < 1.5 and seeds >= 8:
        word = "well determined"
    elif ratio < 3:
        word = f"determined to within a factor of {ratio:.2g}"
    else:
        word = f"loosely determined (the interval spans a factor of {ratio:.2g})"
    return f"B_crit = {level.b_crit:.3g} (95% interval {lo:.3g}–{hi:.3g} over {seeds} seeds): {word}{few}"
