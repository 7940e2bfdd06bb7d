"""``jaxsgd batch-size``: the batch-size study, its recommendation and claims, as text, JSON or a plot."""

from __future__ import annotations

import math

from jaxsgd import defaults as D
from jaxsgd.cli import common as C
from jaxsgd.cli.cluster import add_cluster_options, join, lost_peers
from jaxsgd.cli.plots import PLOT_RULE, check_plot, pyplot, save_figure
from jaxsgd.cli.train import add_data_options, data_source


def add(sub):
    p = sub.add_parser("batch-size", help="which batch size? steps and examples to several loss levels, measured",
                       description="For B = 1, 2, 4, … every (seed × learning rate) run trains on the same data; "
                                   "the full-data loss after every step gives the exact first step at each level "
                                   "L* + f·(L0 − L*). Fits S = S_min(1 + B_crit/B) per level with bootstrap "
                                   "intervals over seeds, compares B_crit with the noise scale B_simple, and "
                                   "recommends a batch size and learning rate, each checked by a short run.")
    add_data_options(p, D.STUDY_ROWS)
    p.add_argument("--max-rows", type=C.positive_int, default=D.STUDY_MAX_ROWS,
                   help="rows studied; a larger table is subsampled, and the output says so (default "
                        f"{D.STUDY_MAX_ROWS})")
    p.add_argument("--batch-sizes", type=C.int_list, help=f"comma separated (default 1,2,4,… up to {D.MAX_BATCH})")
    p.add_argument("--lrs", type=C.float_list, help="learning-rate grid, comma separated (default "
                        f"{','.join(f'{v:g}' for v in D.STUDY_LEARNING_RATES)})")
    p.add_argument("--levels", type=C.fraction_list, default=D.STUDY_FRACTIONS,
                   help="loss levels as fractions f of the gap L0 − L*, comma separated (default "
                        f"{','.join(f'{v:g}' for v in D.STUDY_FRACTIONS)})")
    p.add_argument("--seeds", type=C.positive_int, default=D.STUDY_SEEDS,
                   help=f"runs per learning rate, each with its own shuffles (default {D.STUDY_SEEDS})")
    p.add_argument("--max-steps", type=C.positive_int, default=D.STUDY_MAX_STEPS,
                   help=f"most steps any run takes (default {D.STUDY_MAX_STEPS})")
    p.add_argument("--seed", type=C.seed, default=0, help="random seed, 0 to 2**64 - 1 (default 0)")
    p.add_argument("--budget-epochs", type=C.int_between(1, 100), default=D.BUDGET_EPOCHS,
                   help=f"epochs of the check runs behind the recommendation, 1 to 100 (default {D.BUDGET_EPOCHS})")
    p.add_argument("--claims", action="store_true",
                   help="also test the mini-batch gradient for bias and its variance against tr(Σ)/B")
    p.add_argument("--plot", type=C.path, metavar="PATH",
                   help="draw S(B), E(B) and B_crit against B_simple to PATH (needs matplotlib; default: no "
                        "plot). " + PLOT_RULE)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_cluster_options(p)
    p.set_defaults(run=run)




def run(a) -> int:
    from jaxsgd import study

    job = study.StudyJob(
        data=data_source(a, "batch-size"),
        study=study.StudyConfig(batch_sizes=a.batch_sizes, seeds=a.seeds, fractions=a.levels, max_rows=a.max_rows,
                                max_steps=a.max_steps, seed=a.seed, **({"learning_rates": a.lrs} if a.lrs else {})),
        budget_epochs=a.budget_epochs, claims=a.claims)
    if a.plot:
        check_plot(a.plot, "batch-size", {"csv": a.csv})
    join(a, "batch-size")
    from jaxsgd import distributed

    writer = distributed.is_writer()
    progress = C.Progress(quiet=a.quiet or a.json or not writer)
    with lost_peers("batch-size"):
        report = C.guard(lambda: study.run_study_job(
            job, progress=progress, log=(lambda line: progress.note(f"jaxsgd batch-size: {line}")) if writer
            else None), "batch-size")
    if not writer:
        return 0
    if a.plot:
        plot_study(report.result, a.plot)
    if a.json:
        C.print_json(study_json(*report))
        return 0
    print(study_text(*report))
    return 0


def _fmt_ci(ci, fmt="{:.3g}"):
    return "—" if ci is None else "[" + "–".join(fmt.format(v) for v in ci) + "]"


def study_text(r, rec, claims) -> str:
    from jaxsgd.study import MIN_DEFAULT_STEPS

    sub = f" (a random {r.n_rows} of {r.subsampled_from} rows)" if r.subsampled_from else ""
    lines = [f"{r.n_rows} rows{sub}, {r.seeds} seeds × {len(r.learning_rates)} learning rates; levels "
             f"L* + f·(L0 − L*) with L0 = {r.l0:.6g}, L* = {r.l_star:.6g}; {r.wall_seconds:.1f} s",
             f"{'level f':>9} {'loss':>10} {'B_crit':>8} {'95% over seeds':>17} {'B_simple':>9} "
             f"{'95% over rows':>17} {'B_crit/B_simple':>15}"]
    for lv in r.levels:
        ratio = f"{lv.b_crit / lv.b_simple:.2g}" if lv.b_crit and lv.b_simple else "—"
        crit = "—" if lv.b_crit is None else f"{lv.b_crit:.3g}"
        simple = "—" if lv.b_simple is None else f"{lv.b_simple:.3g}"
        lines.append(f"{lv.fraction:>9g} {lv.loss:>10.6g} {crit:>8} {_fmt_ci(lv.b_crit_ci):>17} {simple:>9} "
                     f"{_fmt_ci(lv.b_simple_ci):>17} {ratio:>15}" + ("   ← default" if lv.default else ""))
    lv = r.default
    biggest = [row for row in lv.rows if row.steps is not None]
    why = (f"the first level the largest batch size needs ≥ {MIN_DEFAULT_STEPS} steps for" if biggest and
           biggest[-1].steps >= MIN_DEFAULT_STEPS else
           f"the deepest level reached; no level made the largest batch size take {MIN_DEFAULT_STEPS} steps"
           if biggest else "the deepest level; no batch size reached any level")
    lines += ["", f"At the default level f = {lv.fraction:g} ({why}):",
              f"{'B':>6} {'best lr':>8} {'steps S':>8} {'95%':>15} {'examples E':>11} {'95%':>19}"]
    for row in lv.rows:
        if row.steps is None:
            lines.append(f"{row.batch_size:>6} {'—':>8} {'not reached':>8}")
            continue
        lines.append(f"{row.batch_size:>6} {row.best_lr:>8g} {row.steps:>8g} {_fmt_ci(row.steps_ci, '{:g}'):>15} "
                     f"{row.examples:>11g} {_fmt_ci(row.examples_ci, '{:g}'):>19}")
    lines += ["", "Recommendation (best learning rate: the grid value whose median steps over seeds to the level "
                  "is smallest at that B)"]
    for c in rec.choices:
        lines.append(f"  {c.goal + ':':<28} B = {c.batch_size}, lr = {c.learning_rate:g}   ({c.note}); loss after "
                     f"{rec.budget_epochs} epochs {c.check_loss:.6g} vs {rec.default_loss:.6g} with the defaults "
                     f"B = {D.BATCH_SIZE}, lr = {D.LEARNING_RATE:g}")
    lines.append(f"  {rec.certainty}")
    if claims is not None:
        lines += ["", format_claims(claims)]
    return "\n".join(lines)


def format_claims(c) -> str:
    """The text of a :class:`jaxsgd.study.Claims`."""
    from jaxsgd.study import ALPHA

    lines = [f"Claims, {c.draws} mini-batches per B, at θ = ({', '.join(f'{v:.4g}' for v in c.theta)}):",
             f"{'B':>6} {'|E G_B − G|':>12} {'detectable':>11} {'p-value':>8}  {'verdict':<10} "
             f"{'E|G_B − G|²':>12} {'tr(Σ)/B·(N−B)/(N−1)':>20} {'ratio':>12}"]
    for r in c.rows:
        verdict = "unbiased" if r.unbiased else "BIASED"
        ratio = f"{r.variance / r.predicted_variance:.3f}±{r.variance_ratio_se:.3f}"
        lines.append(f"{r.batch_size:>6} {r.bias:>12.3g} {r.bias_detectable:>11.3g} {r.p_value:>8.3f}  "
                     f"{verdict:<10} {r.variance:>12.4g} {r.predicted_variance:>20.4g} {ratio:>12}")
    lines.append(f"'unbiased': no bias found at the {ALPHA:g} level by a χ² test on the mean of the draws; "
                 "'detectable' is the bias size it would have found.")
    if c.timing:
        lines.append("One run around powers of two (65,536 rows; the epoch includes its shuffle):")
        for t in c.timing:
            lines.append(f"{t['batch_size']:>6}  step {t['step_seconds'] * 1e6:7.1f} µs   epoch "
                         f"{t['epoch_seconds'] * 1e3:7.2f} ms   {t['examples_per_second'] / 1e6:6.1f}M examples/s")
        by = {t["batch_size"]: t["epoch_seconds"] for t in c.timing}
        wins = [(p, by[p] < min(by[p - 1], by[p + 1])) for p in by if p - 1 in by and p + 1 in by]
        lines.append(f"Power of two faster than both neighbours: {sum(w for _, w in wins)} of {len(wins)} "
                     f"({', '.join(str(p) for p, w in wins if w) or 'none'}); one run's timings move by ~10–25% "
                     "between runs on a shared CPU.")
    return "\n".join(lines)


def study_json(r, rec, claims) -> dict:
    return {
        "n_rows": r.n_rows, "subsampled_from": r.subsampled_from, "seeds": r.seeds,
        "learning_rates": list(r.learning_rates), "l0": r.l0, "l_star": r.l_star,
        "targets": [{"fraction": lv.fraction, "loss": lv.loss, "default": lv.default, "b_crit": lv.b_crit,
                     "b_crit_ci": lv.b_crit_ci, "s_min": lv.s_min, "b_simple": lv.b_simple,
                     "b_simple_ci": lv.b_simple_ci,
                     "rows": [row._asdict() for row in lv.rows]} for lv in r.levels],
        "recommendation": {"choices": [c._asdict() for c in rec.choices], "default_settings_loss": rec.default_loss,
                           "budget_epochs": rec.budget_epochs, "certainty": rec.certainty},
        "seconds_per_step": {str(k): v for k, v in r.seconds_per_step.items()},
        **({"claims": {"rows": [r._asdict() for r in claims.rows], "draws": claims.draws, "theta": claims.theta,
                       "timing": list(claims.timing)}} if claims is not None else {}),
        "wall_seconds": r.wall_seconds,
    }


def plot_study(r, path):
    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.5))
    markers = "osD^v<>"
    for k, lv in enumerate(r.levels):
        rows = [row for row in lv.rows if row.steps is not None]
        if not rows:
            continue
        bs = [row.batch_size for row in rows]
        label = f"f = {lv.fraction:g}" + (" (default)" if lv.default else "")
        for a_, key in ((ax[0], "steps"), (ax[1], "examples")):
            vals = [getattr(row, key) for row in rows]
            cis = [getattr(row, key + "_ci") for row in rows]
            err = [[v - c[0] for v, c in zip(vals, cis, strict=True)],
                   [(c[1] - v) if math.isfinite(c[1]) else 0 for v, c in zip(vals, cis, strict=True)]]
            a_.errorbar(bs, vals, yerr=err, fmt=markers[k % len(markers)], color="black", mfc="white",
                        capsize=2, label=label)
        if lv.b_crit is not None:
            grid = [2 ** (i / 4) for i in range(0, 4 * max(1, int(math.log2(max(bs)))) + 1)]
            ax[0].plot(grid, [lv.s_min * (1 + lv.b_crit / b) for b in grid], "-", color="gray", lw=0.8)
            ax[1].plot(grid, [lv.s_min * (b + lv.b_crit) for b in grid], "-", color="gray", lw=0.8)
            if lv.default:
                for a_ in ax[:2]:
                    a_.axvline(lv.b_crit, ls="--", color="black", lw=0.8, label=f"B_crit ≈ {lv.b_crit:.3g}")
                    if lv.b_simple:
                        a_.axvline(lv.b_simple, ls=":", color="black", lw=0.8, label=f"B_simple ≈ {lv.b_simple:.3g}")
    for a_, ylabel in ((ax[0], "steps to the level, S(B)"), (ax[1], "examples to the level, E(B) = B·S(B)")):
        a_.set(xscale="log", yscale="log", xlabel="batch size B (examples per step)", ylabel=ylabel)
        if a_.get_legend_handles_labels()[0]:  # nothing reached: no legend (and no matplotlib warning)
            a_.legend(fontsize=7)
    have = [lv for lv in r.levels if lv.b_crit is not None and lv.b_simple is not None]
    if have:
        ax[2].errorbar([lv.b_simple for lv in have], [lv.b_crit for lv in have],
                       yerr=[[lv.b_crit - lv.b_crit_ci[0] if lv.b_crit_ci else 0 for lv in have],
                             [lv.b_crit_ci[1] - lv.b_crit if lv.b_crit_ci else 0 for lv in have]],
                       fmt="o", color="black", mfc="white", capsize=2)
        for lv in have:
            ax[2].annotate(f"f = {lv.fraction:g}", (lv.b_simple, lv.b_crit), fontsize=7)
        lim = [min(lv.b_crit for lv in have) / 2, max(lv.b_simple for lv in have) * 2]
        ax[2].plot(lim, lim, "--", color="gray", lw=0.8, label="B_crit = B_simple")
        ax[2].set(xscale="log", yscale="log", xlabel="B_simple = tr Σ / |G|² (examples)",
                  ylabel="B_crit from the fit (examples)", title="deeper levels: both grow")
        ax[2].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, "batch-size")
