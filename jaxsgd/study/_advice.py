"""From a batch-size study to settings a user can act on, each checked by a short training run.

Three goals, at the study's default loss level:

- **fewest examples**: the batch size with the smallest ``E(B) = B·S(B)``, at
  its best learning rate (the one whose median steps over seeds to the level
  is smallest);
- **least wall time on this machine**: the smallest ``S(B) × (seconds per step
  of one run at B)``, the step time measured here;
- **lowest loss for a fixed budget of examples** (``budget_epochs`` passes over
  the data): every learning rate of the grid trained for that budget at a few
  batch sizes (two seeds each), the lowest median final loss wins.

Each choice is then trained for the budget and its final full-data loss is
printed beside that of the default settings (``batch_size=32``, ``lr=0.5``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsgd import checks, defaults, train
from jaxsgd.model import init_params
from jaxsgd.study._claims import jitted_step, step_seconds
from jaxsgd.study._study import StudyResult

DEFAULT_BATCH, DEFAULT_LR = defaults.BATCH_SIZE, defaults.LEARNING_RATE


class Choice(NamedTuple):
    goal: str
    batch_size: int
    learning_rate: float
    check_loss: float  # median full-data loss after the budget, two seeds
    note: str


class Advice(NamedTuple):
    choices: tuple[Choice, ...]
    default_loss: float  # the default settings after the same budget
    budget_epochs: int
    certainty: str


_loss_of_runs = jax.jit(train.runs_loss)


def _check_keys(seed: int) -> np.ndarray:
    """The two check runs' keys: ``[seed, 1]``, ``[seed, 2]`` below 2³², else drawn from all 64 bits."""
    if isinstance(seed, int | np.integer) and 0 <= seed < 2**32:
        return np.asarray([[seed, 1], [seed, 2]], np.uint32)
    return np.asarray(jax.random.key_data(jax.random.split(train.seed_key(seed), 2)))  # refuses a bad seed


def final_losses(x, y, b, lrs, epochs, seed):
    """The median over the two check runs of the full-data loss after ``epochs`` epochs at batch size ``b``,
    one per learning rate in ``lrs`` (+inf for a run that diverged)."""
    keys = _check_keys(seed)
    runs = train.sweep(x, y, learning_rates=lrs, keys=keys, batch_size=b, epochs=epochs)
    losses = np.asarray(_loss_of_runs(runs.params, x.T, y), np.float64)  # (2, L)
    losses[~np.isfinite(losses)] = np.inf
    return np.median(losses, axis=0)


def warm_up(n: int, d: int, learning_rates, batch_sizes, *, seed: int = 0):
    """Compile, ahead, every program :func:`advise` may run for these shapes (the study calls this on its
    compile thread while it trains, so that advice afterwards costs little more than its runs)."""
    opt = train.make_optimizer("sgd")
    one = train.TrainState.create(init_params(d), optimizer=opt, key=jax.random.key(0), learning_rate=0.1)
    p, s = one.params, one.opt_state
    keys = _check_keys(seed)
    lrs = np.asarray(learning_rates, np.float32)
    runs = train.TrainState.create_runs(d, keys, lrs, optimizer=opt)
    rows = jax.ShapeDtypeStruct((n, d + 1), jnp.float32)
    perms = jax.ShapeDtypeStruct((len(keys), n), jnp.int32)
    _loss_of_runs.lower(runs.params, jax.ShapeDtypeStruct((d, n), jnp.float32),
                        jax.ShapeDtypeStruct((n,), jnp.float32)).compile()
    for b in batch_sizes:
        jitted_step.lower(opt, p, s, jax.ShapeDtypeStruct((d, b), jnp.float32),
                        jax.ShapeDtypeStruct((b,), jnp.float32)).compile()
        train.epoch.lower(runs, perms, rows, optimizer=opt, batch_size=int(b)).compile()


def advise(result: StudyResult, x, y, *, budget_epochs: int = defaults.BUDGET_EPOCHS, seed: int = 0) -> Advice:
    """Settings for three goals at the study's default level, each checked by a short training run.

    The goals (see the module docstring): fewest examples ``E(B) = B·S(B)``,
    least wall time ``S(B) × t_step(B)`` measured here, and lowest loss after
    ``budget_epochs`` epochs over the learning-rate grid. Each choice, and the
    defaults (``B = 32``, ``lr = 0.5``), is then trained for the budget with two
    seeds, and the median final full-data loss is reported beside it.

    Args:
      result: a :class:`~jaxsgd.study.StudyResult` of these rows.
      x: the scaled features the study ran on ``(N, d)``.
      y: the scaled targets ``(N,)``.
      budget_epochs: epochs of every check run.
      seed: the check runs' seed.

    Returns:
      An :class:`Advice`: the choices, the defaults' check loss, the budget, and
      how well determined ``B_crit`` is, in words.

    Example:
      >>> import numpy as np
      >>> from jaxsgd.study import StudyConfig, run_study
      >>> x = np.random.default_rng(0).normal(size=(400, 2)).astype(np.float32)
      >>> y = (1 / (1 + np.exp(-x[:, 0]))).astype(np.float32)
      >>> r = run_study(x, y, StudyConfig(batch_sizes=(4, 32), seeds=2, fractions=(0.1,), bootstrap=20))
      >>> [c.goal for c in advise(r, x, y, budget_epochs=1).choices][:2]
      ['fewest examples', 'least wall time here']

    References:
      McCandlish et al., 2018, "An Empirical Model of Large-Batch Training" (the examples–steps trade-off).
    """
    checks.count("budget_epochs", budget_epochs)
    _check_keys(seed)
    x = jax.numpy.asarray(x, jax.numpy.float32)
    y = jax.numpy.asarray(y, jax.numpy.float32)
    level = result.default
    have = [r for r in level.rows if r.steps is not None]
    if not have:
        return Advice((), float("nan"), budget_epochs, "no batch size reached the level: no advice")
    lrs = np.asarray(result.learning_rates, np.float32)
    fewest = min(have, key=lambda r: r.examples)
    timed = {r.batch_size: step_seconds(x, y, r.batch_size, r.best_lr) for r in have}
    fastest = min(have, key=lambda r: r.steps * timed[r.batch_size])
    n = x.shape[0]
    candidates = sorted({fewest.batch_size, fastest.batch_size, DEFAULT_BATCH, 128, 512} & set(range(1, n + 1)))
    best_budget = None
    check = {}  # (B, lr) -> median final loss of the two check runs
    for b in candidates:
        finals = final_losses(x, y, b, lrs, budget_epochs, seed)
        check.update({(b, float(lr)): float(v) for lr, v in zip(lrs, finals, strict=True)})
        i = int(np.argmin(finals))
        if best_budget is None or finals[i] < best_budget[2]:
            best_budget = (b, float(lrs[i]), float(finals[i]))

    def checked(b, lr):  # the grid sweep's runs serve as checks: same keys, same batches
        if (b, float(lr)) not in check:
            check[(b, float(lr))] = float(final_losses(x, y, b, np.asarray([lr], np.float32), budget_epochs,
                                                        seed)[0])
        return check[(b, float(lr))]

    choices = (
        Choice("fewest examples", fewest.batch_size, fewest.best_lr, checked(fewest.batch_size, fewest.best_lr),
               f"{fewest.examples:.3g} examples to the level"),
        Choice("least wall time here", fastest.batch_size, fastest.best_lr,
               checked(fastest.batch_size, fastest.best_lr),
               f"{fastest.steps * timed[fastest.batch_size] * 1e3:.3g} ms to the level for one run"),
        Choice(f"lowest loss after {budget_epochs} epochs", best_budget[0], best_budget[1],
               checked(best_budget[0], best_budget[1]), "best of the learning-rate grid at that budget"),
    )
    return Advice(choices, checked(DEFAULT_BATCH if n >= DEFAULT_BATCH else n, DEFAULT_LR), budget_epochs,
                  _certainty(level))


def _certainty(level) -> str:
    """How sure the fit is, from the width of the B_crit interval."""
    if level.b_crit is None:
        return "no critical batch size could be fitted at this level: S(B) does not fall like S_min(1 + B_crit/B)"
    if level.b_crit_ci is None:
        return f"B_crit ≈ {level.b_crit:.3g}, but most bootstrap resamples of the seeds could not be fitted"
    lo, hi = level.b_crit_ci
    ratio = hi / lo if lo > 0 else float("inf")
    word = "well determined" if ratio < 2 else "determined to within a factor of " + f"{ratio:.2g}"
    return f"B_crit = {level.b_crit:.3g} (95% interval {lo:.3g}–{hi:.3g} over seeds): {word}"
