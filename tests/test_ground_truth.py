"""Ground truth for the batch-size study: on a problem small enough to run 128 seeds by brute force (every
run's loss after every scheduled step, the arrival found by its definition, no caps, windows or stopping
rules), the default study's 95% interval for B_crit, from 8 seeds, covers the brute-force B_crit in at least
90% of repetitions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxsgd import study, train
from jaxsgd.study import _hits as hits

BATCH_SIZES = (16, 64, 256)
RATES = np.asarray(2.0 ** (np.arange(-6, 7) / 2), np.float32)  # half-octaves 2⁻³ … 2³: every best inside
MAX_STEPS = 4000
# steps the brute force runs per batch size: over twice the arrival steps found (about 1,500, 420, 150), so
# that every run that arrives is seen to stay (the test asserts every S it reports is finite)
BRUTE_STEPS = {16: 4000, 64: 1600, 256: 800}


def _problem(n=512, seed=0):
    """Features far from zero (b and w strongly coupled: many full-batch steps) and label noise: a B_crit
    inside the batch sizes studied."""
    rng = np.random.default_rng(seed)
    x = (2.0 + rng.normal(size=(n, 1))).astype(np.float32)
    y = (1 / (1 + np.exp(-(-3 + 1.2 * x[:, 0] + rng.normal(size=n))))).astype(np.float32)
    return x, y


def _brute_force_arrivals(x, y, b, level, seeds, seed):
    """``(seeds, len(RATES))`` arrival steps, by definition, from every scheduled loss of every run."""
    opt = train.make_optimizer("sgd")
    keys = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(seed), seeds)))
    runs = train.TrainState.create_runs(x.shape[1], keys, RATES, optimizer=opt)
    rows, xt, yj = train.rows_of(jnp.asarray(x), jnp.asarray(y)), jnp.asarray(x).T, jnp.asarray(y)
    update, n = train.runs_step(opt), len(y)
    nb = n // b
    steps = BRUTE_STEPS[b]
    look = hits.schedule(0, (steps // nb + 1) * nb)

    @jax.jit
    def epoch(p, s, xs, ys, ev):
        def body(carry, batch):
            p, s = update(*carry, batch[0], batch[1])
            loss = lax.cond(batch[2], lambda q: train.runs_loss(q, xt, yj),
                            lambda q: jnp.full((seeds, len(RATES)), jnp.inf), p)
            return (p, s), loss

        return lax.scan(body, (p, s), (xs, ys, ev))

    p, s, losses = runs.params, runs.opt_state, []
    for e in range(steps // nb + 1):
        xs, ys, _ = train.shuffled_batches(jnp.asarray(train.permutations(keys, e, n)), rows, b)
        (p, s), loss = epoch(p, s, xs, ys, jnp.asarray(look[e * nb:(e + 1) * nb]))
        losses.append(np.asarray(loss))
    looked = np.flatnonzero(look) + 1
    below = np.concatenate(losses)[looked - 1] <= level  # (E, S, L)
    # the first looked step S from which every look through the first look at or past max(2S, S + 16) is below
    above_after = np.where(~below, np.arange(len(looked))[:, None, None], len(looked))
    next_above = np.minimum.accumulate(above_after[::-1], axis=0)[::-1]  # index of the next look above
    ends = np.searchsorted(looked, np.maximum(2 * looked, looked + hits.MIN_STAY))
    ok = below & (next_above > ends[:, None, None]) & (ends < len(looked))[:, None, None]
    first = np.argmax(ok, axis=0)
    return np.where(ok.any(axis=0), looked[first], -1)


@pytest.mark.slow
def test_b_crit_interval_covers_a_brute_force_reference():
    x, y = _problem()
    cfg = study.StudyConfig(batch_sizes=BATCH_SIZES, learning_rates=tuple(map(float, RATES)), seeds=8,
                            fractions=(0.01,), max_steps=MAX_STEPS, adapt=False)
    l_star = train.full_batch_reference(x, y)[0]
    l0 = float(np.mean(0.5 * (y.astype(np.float64) - 0.5) ** 2))  # σ(0) = ½
    level = l_star + 0.01 * (l0 - l_star)  # the study's level f = 0.01
    ref = {b: float(hits.arrival_steps(_brute_force_arrivals(x, y, b, level, 128, seed=7 + b)).min())
           for b in BATCH_SIZES}
    assert all(np.isfinite(v) for v in ref.values()), ref
    _, b_crit = study.fit_critical_batch(list(ref), list(ref.values()))
    assert 16 < b_crit < 4096, ref  # a critical batch size the study can see
    covered, trials, seen = 0, 10, []
    for r in range(trials):
        lv = study.run_study(x, y, cfg._replace(seed=r + 1)).levels[0]
        seen.append(lv.b_crit_ci)
        covered += lv.b_crit_ci is not None and lv.b_crit_ci[0] <= b_crit <= lv.b_crit_ci[1]
    assert covered >= 0.9 * trials, (covered, b_crit, ref, seen)
