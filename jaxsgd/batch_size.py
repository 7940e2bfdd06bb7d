"""The batch-size study: steps and examples to a target loss against B, with tuned learning rates.

For each batch size B on a geometric grid, every (learning rate × seed)
combination runs as one vmapped, compiled program (:func:`jaxsgd.runs.steps_to_target`)
until its full-data training loss first drops to the target

    L_target = L* + f · (L₀ − L*),

``L₀`` the loss at θ = 0 and ``L*`` the best loss of long full-batch gradient
descent runs (the loss is checked exactly after every step). The best learning
rate for B is the one whose median steps over seeds is smallest; ``S(B)`` is
that median and ``E(B) = B·S(B)``. Fitting ``S = S_min (1 + B_crit/B)`` (least
squares on relative error) gives ``B_crit``, compared with the simple noise
scale ``B_simple`` (:mod:`jaxsgd.noise`) measured along the full-batch run.
"""

from __future__ import annotations

import functools
import math
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsgd import noise, runs
from jaxsgd.model import Params, init_params
from jaxsgd.sgd import seed_key

__all__ = ["StudyConfig", "fit_critical_batch", "full_batch_reference", "run_study"]


class StudyConfig(NamedTuple):
    batch_sizes: tuple[int, ...] | None = None  # default 1, 2, 4, … up to 4096 or the data size
    learning_rates: tuple[float, ...] = tuple(2.0**e for e in range(-2, 7))
    seeds: int = 2
    target_fraction: float = 0.01
    max_rows: int = 4096
    max_steps: int = 20_000  # a run that needs more steps counts as not reaching the target
    seed: int = 0


@functools.partial(jax.jit, static_argnums=3)
def _gd_runs(lrs, xt, y, steps):
    """Full-batch gradient descent from θ = 0 for each learning rate: θ and loss after every step."""
    d = xt.shape[0]

    def run(lr):
        def body(p, _):
            g = jax.grad(runs.full_loss)(p, xt, y)
            p = jax.tree.map(lambda a, b: a - lr * b, p, g)
            return p, (runs.full_loss(p, xt, y), p.to_theta())

        return jax.lax.scan(body, init_params(d, xt.dtype), None, length=steps)[1]

    return jax.vmap(run)(lrs)


def full_batch_reference(x, y, *, steps: int = 4000, lrs=(0.5, 1.0, 2.0, 4.0, 8.0, 16.0)):
    """``(L*, best lr, losses of that run, θ after each step of that run)`` from long full-batch runs."""
    xt = jnp.asarray(x).T
    losses, thetas = _gd_runs(jnp.asarray(lrs, xt.dtype), xt, jnp.asarray(y), steps)
    final = np.asarray(losses[:, -1], np.float64)
    final[~np.isfinite(final)] = np.inf
    i = int(np.argmin(final))
    return float(np.min(np.asarray(losses[i]))), float(lrs[i]), np.asarray(losses[i]), np.asarray(thetas[i])


def fit_critical_batch(bs, steps):
    """Least squares of ``S = S_min + S_min·B_crit/B`` weighted by 1/S (relative error)."""
    bs, steps = np.asarray(bs, float), np.asarray(steps, float)
    if len(bs) < 2:
        return math.nan, math.nan
    a = np.stack([np.ones_like(bs), 1.0 / bs], axis=1) / steps[:, None]
    coef, *_ = np.linalg.lstsq(a, np.ones_like(steps), rcond=None)
    s_min, slope = coef
    return float(s_min), float(slope / s_min) if s_min > 0 else math.nan


def _default_batch_sizes(n):
    out, b = [], 1
    while b <= min(4096, n):
        out.append(b)
        b *= 2
    return tuple(out)


def run_study(x, y, cfg: StudyConfig | None = None, *, log=lambda s: None, claims: bool = False) -> dict:
    """Runs the whole study on scaled data ``x: (N, d)``, ``y: (N,)``; returns the report dict."""
    cfg = StudyConfig() if cfg is None else cfg
    seed_key(cfg.seed)  # a seed out of range fails here, before any work
    t_start = time.perf_counter()
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.float32)
    rng = np.random.default_rng(cfg.seed)
    if len(y) > cfg.max_rows:
        rows = np.sort(rng.choice(len(y), cfg.max_rows, replace=False))
        x, y = x[rows], y[rows]
    n = len(y)
    bsizes = tuple(cfg.batch_sizes or _default_batch_sizes(n))
    bad = [b for b in bsizes if not 0 < b <= n]
    if bad:
        raise ValueError(f"batch sizes must be between 1 and the {n} rows studied, got {bad}")
    if not 0 < cfg.target_fraction < 1:
        raise ValueError(f"--target-fraction must be in (0, 1), got {cfg.target_fraction}")
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    d = x.shape[1]
    l0 = float(runs.full_loss(init_params(d), xj.T, yj))
    l_star, gd_lr, gd_losses, gd_thetas = full_batch_reference(x, y)
    target = l_star + cfg.target_fraction * (l0 - l_star)
    log(f"{n} rows: L0 = {l0:.6g}, L* = {l_star:.6g} (full-batch GD, lr {gd_lr:g}), target = {target:.6g}")

    compiled_before = runs._steps_fn.cache_info().misses
    lrs = np.asarray(cfg.learning_rates, np.float32)
    table = []
    key = seed_key(cfg.seed)
    for b in bsizes:
        t0 = time.perf_counter()
        nb = n // b
        max_epochs = max(1, math.ceil(cfg.max_steps / nb))
        res = runs.steps_to_target(xj, yj, batch_size=b, learning_rates=lrs, seeds=cfg.seeds, target=target,
                                   max_epochs=max_epochs, key=jax.random.fold_in(key, b))
        hits = np.asarray(res.steps).reshape(len(lrs), cfg.seeds)
        hits = np.where(hits > cfg.max_steps, -1, hits)  # whole epochs run; a later hit is past the cap
        wall = time.perf_counter() - t0
        ok = np.all(hits > 0, axis=1)
        med = np.where(ok, np.median(np.where(hits > 0, hits, 0), axis=1), np.inf)
        i = int(np.argmin(med))
        s = None if not np.isfinite(med[i]) else float(med[i])
        row = {"batch_size": b, "best_lr": float(lrs[i]) if s is not None else None, "steps": s,
               "examples": None if s is None else s * b, "wall_seconds": wall,
               "steps_by_lr": {f"{lr:g}": (float(m) if np.isfinite(m) else None) for lr, m in zip(lrs, med,
                                                                                             strict=True)}}
        table.append(row)
        log(f"B={b:5d}: " + (f"best lr {row['best_lr']:g}, S = {s:g}, E = {s * b:g}" if s is not None
                             else f"no learning rate reached the target in {cfg.max_steps} steps")
            + f"  ({wall:.1f} s)")
    compiled = runs._steps_fn.cache_info().misses - compiled_before

    have = [r for r in table if r["steps"] is not None]
    s_min, b_crit = fit_critical_batch([r["batch_size"] for r in have], [r["steps"] for r in have])
    if not (math.isfinite(b_crit) and b_crit > 0):
        s_min, b_crit = math.nan, math.nan  # S(B) does not fall with B: no critical batch size

    # B_simple along the full-batch run, at the points where the loss gap has closed by these fractions
    points = []
    for frac in (0.9, 0.5, 0.2, 0.1, 0.05):
        level = l_star + frac * (l0 - l_star)
        t = int(np.argmax(gd_losses <= level)) if np.any(gd_losses <= level) else None
        if t is None:
            continue
        p = Params.from_theta(jnp.asarray(gd_thetas[t]))
        ns = noise.noise_scale(p, xj, yj)
        points.append({"fraction_of_gap": frac, "step": t + 1, "loss": float(gd_losses[t]), "b_simple": ns.b_simple,
                       "trace_sigma": ns.trace, "grad_norm_sq": ns.g2,
                       "params": [float(v) for v in p.to_theta()]})
    at_target = min(points, key=lambda q: abs(q["fraction_of_gap"] - cfg.target_fraction)) if points else None
    report = {
        "rows": n, "l0": l0, "l_star": l_star, "target": target, "target_fraction": cfg.target_fraction,
        "batch_sizes": [r["batch_size"] for r in table], "best_lr": [r["best_lr"] for r in table],
        "steps": [r["steps"] for r in table], "examples": [r["examples"] for r in table],
        "wall_seconds": [r["wall_seconds"] for r in table], "table": table,
        "s_min": s_min, "b_crit": b_crit,
        "b_simple": at_target["b_simple"] if at_target else None,
        "b_simple_params": at_target["params"] if at_target else None,
        "b_simple_along_run": points,
        "learning_rates": [float(v) for v in lrs], "seeds": cfg.seeds,
        "compiled_programs": compiled, "lr_scaling": _lr_scaling(table),
    }
    report["recommendation"] = recommend(report)
    if claims:
        mid = Params.from_theta(jnp.asarray(points[1]["params"], jnp.float32)) if len(points) > 1 else init_params(d)
        report["claims"] = run_claims(xj, yj, mid, log=log)
    report["total_seconds"] = time.perf_counter() - t_start
    return report


def _lr_scaling(table):
    """Slope of log₂(best lr) against log₂ B; 1 is the linear rule, ½ the square-root rule."""
    have = [(r["batch_size"], r["best_lr"]) for r in table if r["best_lr"]]
    if len(have) < 2:
        return None
    bs, lr = np.log2([h[0] for h in have]), np.log2([h[1] for h in have])
    out = {"slope_all": float(np.polyfit(bs, lr, 1)[0])}
    for name, sel in (("small", bs <= np.median(bs)), ("large", bs >= np.median(bs))):
        if sel.sum() >= 2:
            out[f"slope_{name}_batches"] = float(np.polyfit(bs[sel], lr[sel], 1)[0])
    return out


def recommend(r) -> str:
    have = [row for row in r["table"] if row["steps"]]
    if not have:
        return "No batch size reached the target: raise --max-steps or the learning-rate grid."
    best_e = min(have, key=lambda row: row["examples"])
    fastest = min(have, key=lambda row: row["wall_seconds"])
    bc = r["b_crit"]
    lines = []
    if math.isfinite(bc) and bc > 0:
        lines.append(f"Fit S = {r['s_min']:.3g}·(1 + {bc:.3g}/B): below B ≈ {bc:.3g} doubling the batch nearly halves "
                     f"the steps (examples stay about the same); above it, steps stop falling and larger batches "
                     f"waste examples.")
    else:
        lines.append("S(B) does not fall with B on this grid, so no critical batch size could be fitted.")
    if r["b_simple"]:
        ratio = f" (B_crit/B_simple = {bc / r['b_simple']:.2g})" if math.isfinite(bc) and bc > 0 else ""
        lines.append(f"The gradient noise scale near the target is B_simple ≈ {r['b_simple']:.3g}{ratio}.")
    lines.append(f"Fewest examples: B = {best_e['batch_size']} ({best_e['examples']:.3g} examples, lr "
                 f"{best_e['best_lr']:g}); fastest in wall time on this machine: B = {fastest['batch_size']} "
                 f"({fastest['wall_seconds']:.2f} s for all its learning rates and seeds).")
    sc = r.get("lr_scaling") or {}
    if "slope_small_batches" in sc:
        lines.append(f"Best learning rate grows like B^{sc['slope_small_batches']:.2f} for small batches and "
                     f"B^{sc.get('slope_large_batches', float('nan')):.2f} for large ones (linear rule: 1, "
                     f"square-root rule: 0.5).")
    return " ".join(lines)


def run_claims(x, y, params, *, log=lambda s: None) -> dict:
    """(a) bias and variance of the mini-batch gradient against B; (b) step and epoch time around powers of two."""
    n = x.shape[0]
    bv = noise.gradient_bias_variance(params, x, y, [b for b in (1, 4, 16, 64, 256, 1024) if b < n],
                                      key=jax.random.key(7))
    for row in bv:
        log(f"B={row['batch_size']:5d}: |E G_B − G| = {row['bias']:.2e} (±{row['bias_standard_error']:.1e}), "
            f"E|G_B − G|² = {row['variance']:.3e}, tr(Σ)/B·(N−B)/(N−1) = {row['predicted_variance']:.3e}")
    from jaxsgd.data import fit_transform, synthetic_house_prices

    ds = synthetic_house_prices(1 << 16, seed=1)
    tr = fit_transform(ds)
    timing = noise.step_timings(tr.features(ds.x), tr.target(ds.y), (31, 32, 33, 63, 64, 65, 255, 256, 257))
    for row in timing:
        log(f"B={row['batch_size']:4d}: step {row['step_seconds'] * 1e6:7.1f} µs, epoch of 65,536 rows "
            f"{row['epoch_seconds'] * 1e3:7.2f} ms ({row['examples_per_second'] / 1e6:.1f}M examples/s)")
    return {"bias_variance": bv, "timing": timing, "backend": jax.default_backend(),
            "device": jax.devices()[0].device_kind}
