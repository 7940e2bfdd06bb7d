"""``jaxsgd batch-size``: the batch-size study, its recommendation and claims, as text, JSON or a plot."""

from __future__ import annotations

import math

from jaxsgd import defaults as D
from jaxsgd.cli import common as C
from jaxsgd.cli.cluster import add_cluster_options, join, lost_peers
from jaxsgd.cli.common import add_model_option, model_of
from jaxsgd.cli.plots import PLOT_RULE, check_plot, pyplot, save_figure
from jaxsgd.cli.train import add_data_options, data_source


def add(sub):
    p = sub.add_parser("batch-size", help="which batch size? steps and examples to several loss levels, measured",
                       description="For B = 1, 2, 4, … every (seed × learning rate) run trains on the same data, "
                                   "and its arrival at each level L* + f·(L0 − L*) is recorded: the step S from "
                                   "which its full-data loss stays at or below the level through step 2S. Each B "
                                   "runs half-octave learning rates around the larger B's best, extended while the "
                                   "best sits at an edge. Fits S = S_min(1 + B_crit/B) per level with bootstrap "
                                   "intervals over seeds, compares B_crit with the noise scales B_noise and "
                                   "B_simple, and recommends one batch size and learning rate, checked by a "
                                   "short run beside the defaults.")
    add_data_options(p, D.STUDY_ROWS)
    p.add_argument("--max-rows", type=C.positive_int, default=D.STUDY_MAX_ROWS,
                   help="rows studied; a larger table is subsampled, and the output says so (default "
                        f"{D.STUDY_MAX_ROWS})")
    p.add_argument("--batch-sizes", type=C.int_list, help=f"comma separated (default 1,2,4,… up to {D.MAX_BATCH})")
    p.add_argument("--lrs", type=C.float_list, help="learning rates every B starts from, comma separated, extended "
                        "by half-octaves while the best sits at an edge (default: "
                        f"{','.join(f'{v:g}' for v in D.STUDY_LEARNING_RATES)} at the largest B, then half-octaves "
                        "around the larger B's best)")
    p.add_argument("--levels", type=C.fraction_list, default=D.STUDY_FRACTIONS,
                   help="loss levels as fractions f of the gap L0 − L*, comma separated (default "
                        f"{','.join(f'{v:g}' for v in D.STUDY_FRACTIONS)})")
    p.add_argument("--seeds", type=C.positive_int, default=D.STUDY_SEEDS,
                   help=f"runs per learning rate, each with its own shuffles (default {D.STUDY_SEEDS})")
    p.add_argument("--max-steps", type=C.positive_int, default=D.STUDY_MAX_STEPS,
                   help=f"most steps any run takes (default {D.STUDY_MAX_STEPS})")
    p.add_argument("--seed", type=C.seed, default=0, help="random seed, 0 to 2**64 - 1 (default 0)")
    p.add_argument("--budget-epochs", type=C.int_between(1, 100), default=D.BUDGET_EPOCHS,
                   help="epochs of the check runs behind the recommendation, 1 to 100, or more where the "
                        f"recommendation needs them to arrive at the level (default {D.BUDGET_EPOCHS})")
    p.add_argument("--claims", action="store_true",
                   help="also test the mini-batch gradient for bias and its variance against tr(Σ)/B")
    p.add_argument("--plot", type=C.path, metavar="PATH",
                   help="draw S(B), E(B) and B_crit against B_noise to PATH (needs matplotlib; default: no "
                        "plot). " + PLOT_RULE)
    p.add_argument("--profile", action="store_true",
                   help="also time each batch size's compiled chunk alone and split the runs' time into SGD steps, "
                        "full-loss evaluations and host work, per batch size (a few extra chunks each)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_model_option(p)
    add_cluster_options(p)
    p.set_defaults(run=run)




def run(a) -> int:
    from jaxsgd import study

    job = study.StudyJob(
        data=data_source(a, "batch-size"),
        study=study.StudyConfig(batch_sizes=a.batch_sizes, seeds=a.seeds, fractions=a.levels, max_rows=a.max_rows,
                                max_steps=a.max_steps, seed=a.seed, profile=a.profile,
                                **({"learning_rates": a.lrs, "adapt": False} if a.lrs else {})),
        budget_epochs=a.budget_epochs, claims=a.claims, model=model_of(a, "batch-size"))
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
        C.print_json({"model": a.model, **study_json(*report)})
        return 0
    print(f"model {a.model}: " + study_text(*report))
    return 0


def _fmt_ci(ci, fmt="{:.3g}"):
    if ci is None or math.isinf(ci[0]):
        return "—"
    return "[" + "–".join(fmt.format(v) for v in ci) + "]"


def _crit(lv, largest) -> str:
    if lv.b_crit is None:
        return "—"
    return f"> {largest}" if math.isinf(lv.b_crit) or lv.beyond else f"{lv.b_crit:.3g}"


def _money(v) -> str:
    return "—" if v is None else (f"{v:,.0f}" if abs(v) >= 100 else f"{v:.4g}")


def default_reason(r) -> str:
    """Why the default level is the one it is, in words."""
    from jaxsgd.study import MIN_DEFAULT_STEPS

    lv = r.default
    biggest = [row for row in lv.rows if row.steps is not None]
    if biggest and biggest[-1].steps >= MIN_DEFAULT_STEPS:
        return f"the first level the largest batch size needs ≥ {MIN_DEFAULT_STEPS} steps for"
    if biggest:
        return (f"the deepest level reached: no level made the largest batch size take {MIN_DEFAULT_STEPS} "
                "steps (deeper --levels would)")
    return "the deepest level: no batch size reached any level"


def study_text(r, rec, claims) -> str:
    sub = f" (a random {r.n_rows} of {r.subsampled_from} rows)" if r.subsampled_from else ""
    largest = max(row.batch_size for row in r.levels[0].rows)
    seeds = f"{r.seeds} seed{'s' if r.seeds != 1 else ''}"
    lines = [f"{r.n_rows} rows{sub}, {seeds} per learning rate; levels L* + f·(L0 − L*) with "
             f"L0 = {r.l0:.6g}, L* = {r.l_star:.6g}; {r.wall_seconds:.1f} s",
             "S(B): the step by which 3 in 4 seeds' runs have arrived (a run arrives at S when its loss stays at "
             "or below the level through step 2S, at least 16 more steps), at B's best learning rate",
             f"{'level f':>9} {'loss':>10} {'RMSE':>10} {'B_crit':>8} {'95% over seeds':>17} {'B_noise':>9} "
             f"{'95% over rows':>17} {'B_simple':>9} {'95% over rows':>17} {'B_crit/B_noise':>14}"]
    for lv in r.levels:
        ratio = (f"{lv.b_crit / lv.b_noise:.2g}" if lv.b_crit and lv.b_noise and math.isfinite(lv.b_crit)
                 and math.isfinite(lv.b_noise) and not lv.beyond else "—")
        noise = "—" if lv.b_noise is None else f"{lv.b_noise:.3g}"
        simple = "—" if lv.b_simple is None else f"{lv.b_simple:.3g}"
        lines.append(f"{lv.fraction:>9g} {lv.loss:>10.6g} {_money(lv.rmse):>10} {_crit(lv, largest):>8} "
                     f"{_fmt_ci(lv.b_crit_ci):>17} {noise:>9} {_fmt_ci(lv.b_noise_ci):>17} {simple:>9} "
                     f"{_fmt_ci(lv.b_simple_ci):>17} {ratio:>14}" + ("   ← default" if lv.default else ""))
    notes = _level_notes(r, largest)
    if notes:
        lines += ["", *notes]
    lv = r.default
    lines += ["", f"At the default level f = {lv.fraction:g}, RMSE {_money(lv.rmse)} ({default_reason(r)}):",
              f"{'B':>6} {'best lr':>8} {'steps S':>8} {'95%':>15} {'examples E':>11} {'95%':>19}"]
    for row in lv.rows:
        mark = ("  capped" if row.capped else "") + ("  best rate at the edge tried" if row.edge else "")
        if row.steps is None:
            why = ("not run: the larger batch sizes did not reach the level" if row.not_run else
                   "not reached within its step cap" if row.capped else "not reached")
            lines.append(f"{row.batch_size:>6} {'—':>8} {why}")
            continue
        lines.append(f"{row.batch_size:>6} {row.best_lr:>8.4g} {row.steps:>8g} {_fmt_ci(row.steps_ci, '{:g}'):>15} "
                     f"{row.examples:>11g} {_fmt_ci(row.examples_ci, '{:g}'):>19}{mark}")
    how = ("half-octaves around the larger batch size's best, extended while the best sat at an edge" if
           r.adapted else "the rates given, extended by half-octaves while the best sat at an edge")
    lines += ["", f"Best learning rate: among the rates run at B ({how}), the one with the smallest S."]
    if rec.recommendation is None:
        lines += ["", f"No recommendation: {rec.certainty}"]
    else:
        c = rec.recommendation
        lines += ["", f"Recommendation: B = {c.batch_size}, lr = {c.learning_rate:.4g} ({c.goal}: {c.examples:g} "
                      f"examples, {c.steps:g} steps to the level)",
                  f"  check, {rec.budget_epochs} epochs × 2 seeds: loss {c.check_loss:.6g} (RMSE "
                  f"{_money(c.check_rmse)}) vs {rec.default_loss:.6g} (RMSE {_money(rec.default_rmse)}) with the "
                  f"defaults B = {min(D.BATCH_SIZE, r.n_rows)}, lr = {D.LEARNING_RATE:g}: {rec.verdict}",
                  f"  {rec.certainty}",
                  "  other goals:"]
        for o in rec.choices:
            lines.append(f"    {o.goal + ':':<18} B = {o.batch_size}, lr = {o.learning_rate:.4g} ({o.examples:g} "
                         f"examples, {o.steps:g} steps); check loss {o.check_loss:.6g}"
                         + ("" if o.step_seconds is None else f"; one run's step here {o.step_seconds * 1e6:.0f} µs"))
    lines += ["", _profile_line(r), *_profile_table(r)]
    if claims is not None:
        lines += ["", format_claims(claims)]
    return "\n".join(lines)


def _level_notes(r, largest) -> list[str]:
    """What did not happen, level by level: batch sizes not run or not arriving (and why), runs stopped at a
    cap, fits on fewer sizes, B_crit beyond the sizes studied, S(B) that rises with B."""
    out = []
    for lv in r.levels:
        said = []
        not_run = [row.batch_size for row in lv.rows if row.not_run]
        missing = [row.batch_size for row in lv.rows if row.steps is None and not row.not_run]
        capped = [row.batch_size for row in lv.rows if row.capped and row.steps is not None]
        if not_run:
            said.append(f"B = {', '.join(map(str, not_run))} not run: a larger batch size did not reach the level")
        if missing:
            said.append(f"B = {', '.join(map(str, missing))} did not arrive within the step cap (a smaller batch "
                        "may take at most 4× the larger one's steps, and 2S ≤ --max-steps)")
        if capped:
            said.append(f"at B = {', '.join(map(str, capped))} some runs were stopped at the cap before they arrived")
        if (not_run or missing) and lv.fitted:
            said.append(f"the fit uses B = {', '.join(map(str, lv.fitted))}")
        if lv.b_crit is not None and math.isinf(lv.b_crit):
            said.append(f"S(B) falls like 1/B or faster up to B = {largest}: B_crit is beyond the largest batch "
                        "size studied")
        elif lv.beyond:
            said.append(f"the fit puts B_crit at {lv.b_crit:.3g}, beyond the largest batch size fitted: an "
                        "extrapolation, shown as such")
        if lv.b_crit is None and len(lv.fitted) >= 2:
            said.append("S(B) does not fall with B like S_min(1 + B_crit/B): no B_crit")
        if not lv.monotone:
            said.append("S(B) rises with B beyond its intervals somewhere: tuning did not settle")
        if said:
            out.append(f"f = {lv.fraction:g}: " + "; ".join(said))
    return out


def _profile_line(r) -> str:
    p = r.profile
    evals = sum(p.get("evaluations_per_run", {}).values())
    return (f"Time: {r.wall_seconds:.1f} s in all; runs {p['runs']:.1f} s ({evals:,} full-loss evaluations per "
            f"run over all batch sizes), waiting for compiles {p['compile_wait']:.1f} s, L* {p['reference']:.1f} s, "
            f"noise scales {p['noise_scales']:.1f} s, statistics {p['statistics']:.1f} s")


def _profile_table(r) -> list[str]:
    """With --profile: each batch size's runs split into steps, evaluations and host work (seconds)."""
    rows = r.profile.get("by_batch", {})
    if not rows or "step_seconds" not in next(iter(rows.values())):
        return []
    out = ["Where the runs' time went, per batch size (each chunk timed alone: a step and a full-loss evaluation "
           "of all the window's runs; steps and evals added up over the batch size's windows):",
           f"  {'B':>5} {'compile s':>10} {'steps':>8} {'µs/step':>8} {'steps s':>8} {'evals':>7} {'ms/eval':>8} "
           f"{'evals s':>8} {'host s':>7} {'runs s':>7}"]
    for b, p in rows.items():
        out.append(f"  {b:>5} {p['compile']:>10.2f} {p['steps']:>8,} {p['step_seconds'] * 1e6:>8.1f} "
                   f"{p['steps_total']:>8.2f} {p['evaluations']:>7,} {p['evaluation_seconds'] * 1e3:>8.2f} "
                   f"{p['evaluations_total']:>8.2f} {p['host']:>7.2f} {p['runs']:>7.2f}")
    tot = {k: sum(p[k] for p in rows.values()) for k in ("compile", "steps_total", "evaluations_total", "host",
                                                           "runs")}
    out.append(f"  {'all':>5} {tot['compile']:>10.2f} {'':>8} {'':>8} {tot['steps_total']:>8.2f} {'':>7} {'':>8} "
               f"{tot['evaluations_total']:>8.2f} {tot['host']:>7.2f} {tot['runs']:>7.2f}   (compiling runs on a "
               "thread of its own, beside the runs)")
    return out


def _network_json(n) -> dict:
    if n is None:
        return {}
    verdicts = {k: {"verdict": getattr(n, k).word, "slope": getattr(n, k).slope, "ci": list(getattr(n, k).ci),
                    "text": getattr(n, k).text}
                for k in ("generalisation", "generalisation_epochs", "sharpness", "lr_scaling")}
    return {"network": {"model": n.model, "level": n.level, "rows": [r._asdict() for r in n.rows],
                        "lr_linear_range": n.lr_linear_range, "notes": list(n.notes), **verdicts}}


def format_network(n) -> list[str]:
    """The lines of a :class:`jaxsgd.study.NetworkClaims`."""
    lines = [f"Network claims, model {n.model}, {n.rows[0].epochs if n.rows else 0} epochs per run, validation on "
             "held-out rows (95% intervals over seeds):",
             f"{'B':>6} {'lr':>8} {'val loss, equal epochs':>26} {'val loss, equal train loss':>30} "
             f"{'λ_max at the end':>24}"]
    for r in n.rows:
        at = "—" if r.val_at_level is None else (f"{r.val_at_level:.5g}" + (
            "" if r.val_at_level_ci is None else f" [{r.val_at_level_ci[0]:.4g}, {r.val_at_level_ci[1]:.4g}]"))
        lines.append(f"{r.batch_size:>6} {r.learning_rate:>8.4g} {r.val_loss:>10.5g} "
                     f"[{r.val_loss_ci[0]:.4g}, {r.val_loss_ci[1]:.4g}] {at:>30} "
                     f"{r.sharpness:>10.4g} [{r.sharpness_ci[0]:.3g}, {r.sharpness_ci[1]:.3g}]")
    lines.append(f"equal training loss: each run read at the first epoch whose training loss is ≤ {n.level:.5g}, "
                 "a level every batch size reaches")
    for v in (n.generalisation, n.generalisation_epochs, n.sharpness, n.lr_scaling):
        lines.append(f"  {v.word.upper()}: {v.text}")
    lines += [f"  note: {note}" for note in n.notes]
    return lines


def format_claims(c) -> str:
    """The text of a :class:`jaxsgd.study.Claims`."""
    from jaxsgd.study import ALPHA

    if not c.rows:  # another model than the neuron: the network claims and the timings
        return "\n".join((format_network(c.network) if c.network is not None else []) + _timing_lines(c))
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
    if c.network is not None:
        lines += format_network(c.network)
    return "\n".join(lines + _timing_lines(c))


def _timing_lines(c) -> list[str]:
    lines = []
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
    return lines


def study_json(r, rec, claims) -> dict:
    rec_obj = None if rec.recommendation is None else {
        "batch_size": rec.recommendation.batch_size, "learning_rate": rec.recommendation.learning_rate,
        "goal": rec.recommendation.goal, "check_loss": rec.recommendation.check_loss,
        "check_rmse": rec.recommendation.check_rmse, "default_loss": rec.default_loss,
        "default_rmse": rec.default_rmse, "steps": rec.recommendation.steps,
        "examples": rec.recommendation.examples, "check_epochs": rec.budget_epochs, "verdict": rec.verdict,
        "certainty": rec.certainty, "other_goals": [c._asdict() for c in rec.choices]}
    return {
        "n_rows": r.n_rows, "subsampled_from": r.subsampled_from, "seeds": r.seeds,
        "learning_rates": list(r.learning_rates), "l0": r.l0, "l_star": r.l_star,
        "targets": [{"fraction": lv.fraction, "loss": lv.loss, "rmse": lv.rmse, "default": lv.default,
                     "b_crit": lv.b_crit, "b_crit_beyond": bool(lv.beyond or (lv.b_crit is not None and
                                                                      math.isinf(lv.b_crit))),
                     "b_crit_ci": lv.b_crit_ci, "s_min": lv.s_min, "b_simple": lv.b_simple,
                     "b_simple_ci": lv.b_simple_ci, "b_noise": lv.b_noise, "b_noise_ci": lv.b_noise_ci,
                     "fitted_batch_sizes": list(lv.fitted), "monotone": lv.monotone,
                     "rows": [row._asdict() for row in lv.rows]} for lv in r.levels],
        "default_reason": default_reason(r),
        "recommendation": rec_obj,
        "seconds_per_step": {str(k): v for k, v in r.seconds_per_step.items()},
        "learning_rates_run": {str(b.batch_size): [float(v) for v in b.learning_rates] for b in r.runs},
        "profile": r.profile,
        **({"claims": {"rows": [r._asdict() for r in claims.rows], "draws": claims.draws, "theta": claims.theta,
                       "timing": list(claims.timing), **_network_json(claims.network)}}
           if claims is not None else {}),
        "wall_seconds": r.wall_seconds,
    }


def plot_study(r, path):
    """S(B) and E(B) at each level with their fits, and B_crit against both noise scales, B_noise and
    B_simple, each with its intervals where the result holds them."""
    from jaxsgd.cli.plots import layout, two_decades

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
            cis = [getattr(row, key + "_ci") or (v, v) for row, v in zip(rows, vals, strict=True)]
            err = [[v - c[0] for v, c in zip(vals, cis, strict=True)],
                   [(c[1] - v) if math.isfinite(c[1]) else 0 for v, c in zip(vals, cis, strict=True)]]
            a_.errorbar(bs, vals, yerr=err, fmt=markers[k % len(markers)], color="black", mfc="white",
                        capsize=2, label=label)
        if lv.b_crit is not None and math.isfinite(lv.b_crit):
            grid = [2 ** (i / 4) for i in range(0, 4 * max(1, int(math.log2(max(bs)))) + 1)]
            ax[0].plot(grid, [lv.s_min * (1 + lv.b_crit / b) for b in grid], "-", color="gray", lw=0.8)
            ax[1].plot(grid, [lv.s_min * (b + lv.b_crit) for b in grid], "-", color="gray", lw=0.8)
            if lv.default:
                for a_ in ax[:2]:
                    a_.axvline(lv.b_crit, ls="--", color="black", lw=0.8, label=f"B_crit ≈ {lv.b_crit:.3g}"
                               + (" (extrapolated)" if lv.beyond else ""))
        if lv.default and lv.b_noise and math.isfinite(lv.b_noise):
            for a_ in ax[:2]:
                a_.axvline(lv.b_noise, ls=":", color="black", lw=0.8, label=f"B_noise ≈ {lv.b_noise:.3g}")
    for a_, ylabel, title in ((ax[0], "steps to arrive at the level, S(B)", "steps, fitted by S_min(1 + B_crit/B)"),
                              (ax[1], "examples to arrive, E(B) = B·S(B)", "examples (markers as on the left)")):
        a_.set(xscale="log", yscale="log", xlabel="batch size B (examples per step)", ylabel=ylabel, title=title)
        two_decades(a_)
    # one legend, where S(B) falls and leaves room: E(B) runs flat across its whole panel, under any legend
    if ax[0].get_legend_handles_labels()[0]:  # nothing reached: no legend (and no matplotlib warning)
        ax[0].legend(fontsize=8)

    def bars(values, cis):  # error-bar lengths below and above; none where an end is unknown or not positive
        return [[v - c[0] if c and 0 < c[0] <= v else 0 for v, c in zip(values, cis, strict=True)],
                [c[1] - v if c and math.isfinite(c[1]) and c[1] >= v else 0
                 for v, c in zip(values, cis, strict=True)]]

    crit = [lv for lv in r.levels if lv.b_crit is not None and math.isfinite(lv.b_crit) and not lv.beyond]
    scales = (("b_noise", "B_noise = tr(HΣ)/(GᵀHG)", "o", "white"), ("b_simple", "B_simple = tr Σ/|G|²", "s", "0.5"))
    drawn, ends = [], []
    for key, name, marker, face in scales:
        have = [lv for lv in crit if getattr(lv, key) and math.isfinite(getattr(lv, key))]
        if not have:
            continue
        xs, ys = [getattr(lv, key) for lv in have], [lv.b_crit for lv in have]
        ax[2].errorbar(xs, ys, xerr=bars(xs, [getattr(lv, key + "_ci") for lv in have]),
                       yerr=bars(ys, [lv.b_crit_ci for lv in have]), fmt=marker, color="black", mfc=face, ms=6,
                       capsize=3, label=f"B_crit against {name}")
        drawn += [(x, lv) for x, lv in zip(xs, have, strict=True)]
        ends += [v for lv in have for ci in (getattr(lv, key + "_ci"), lv.b_crit_ci) if ci for v in ci
                 if 0 < v < math.inf]
    if drawn:
        for lv in crit:  # each level named once, up and to the left of its leftmost point: clear of the error
            at = min((x for x, other in drawn if other is lv), default=None)  # bars, which run across and along
            if at is not None:
                ax[2].annotate(f"f = {lv.fraction:g}", (at, lv.b_crit), fontsize=8, xytext=(-8, 8),
                               textcoords="offset points", ha="right", va="bottom")
        ends += [v for x, lv in drawn for v in (x, lv.b_crit)]
        # a decade of room on the left for the labels, which run left of their points
        ax[2].set(xscale="log", yscale="log", xlim=(min(ends) / 10, max(ends) * 3),
                  xlabel="noise scale, 95% over rows (examples)",
                  ylabel="B_crit from the fit, 95% over seeds (examples)",
                  title="critical batch size against the noise scales")
        two_decades(ax[2], "x")
        lim = ax[2].get_xlim()
        ax[2].set_ylim(lim)  # the same scale both ways: B_crit = noise scale is the diagonal
        ax[2].plot(lim, lim, "--", color="gray", lw=0.8, label="B_crit = noise scale")
        ax[2].fill_between(lim, [v / 3 for v in lim], [v * 3 for v in lim], color="0.9", label="within 3×")
        ax[2].legend(fontsize=8)
    layout(fig)
    save_figure(fig, path, "batch-size")
