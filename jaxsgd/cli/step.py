"""``jaxsgd step``: the exercise's worked SGD step, written out, and ``--plot`` of the loss along it."""

from __future__ import annotations

from jaxsgd.cli import common as C
from jaxsgd.cli.plots import PLOT_RULE, check_plot, pyplot, save_figure
from jaxsgd.defaults import STEP_DTYPES


def add(sub):
    p = sub.add_parser("step", help="the exercise's worked SGD step, written out", description=(
        "One SGD step θ¹ = θ⁰ − α∇L on one example, with the formula, the substituted "
        "expression and the numbers, and a lesson judged from the change θ¹ − θ⁰; a target y outside "
        "σ's range (0, 1) gets a note. Example: jaxsgd step --theta 4,5,6 --x 1,2 --y 3 --lr 0.1"))
    p.add_argument("--theta", nargs="+", action=C.NumberList, required=True, metavar="T",
                   help="θ⁰ = b w1 ... wd: the starting parameters, one more than the features (required)")
    p.add_argument("--x", nargs="+", action=C.NumberList, required=True, metavar="X",
                   help="the example's features x1 ... xd (required)")
    p.add_argument("--y", type=C.finite_float, required=True, help="the example's target y (required)")
    p.add_argument("--lr", type=C.positive_float, default=None,
                   help="learning rate α > 0 (default: none, α is kept a symbol in θ¹)")
    p.add_argument("--dtype", choices=list(STEP_DTYPES), default="float64",
                   help="arithmetic precision of the numbers (default float64)")
    p.add_argument("--format", choices=["text", "latex", "json"], default="text",
                   help="text (default), latex, or one JSON object")
    p.add_argument("--plot", type=C.path, metavar="PATH",
                   help="draw the loss along the gradient direction through θ⁰ and the step taken to PATH "
                        "(needs matplotlib; default: no plot). " + PLOT_RULE)
    p.set_defaults(run=run)


def run(a) -> int:
    from jaxsgd import exercise as ws

    if a.plot:
        check_plot(a.plot, "step")
    s = C.guard(lambda: ws.worked_step(a.theta, a.x, a.y, a.lr, dtype=a.dtype), "step")
    if a.plot:
        plot_step(s, a.plot)
    if a.format == "json":
        C.print_json(ws.as_json(s))
    elif a.format == "latex":
        print(ws.format_latex(s))
    else:
        print(ws.format_text(s))
    return 0


def plot_step(s, path):
    """The loss ``½(y − σ(z(θ⁰ − t·ĝ)))²`` against the distance ``t`` moved along ``−ĝ`` (ĝ the unit
    gradient), with θ⁰ and θ¹ marked; and σ(z) with the example's z."""
    import math

    from jaxsgd import exercise as ws
    from jaxsgd.cli.plots import layout

    plt = pyplot()
    g = s.gradient
    norm = math.sqrt(sum(v * v for v in g))
    step = (s.lr or 1.0) * norm  # the distance θ¹ is from θ⁰
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    if norm > 0:
        reach = max(step * 1.5, 1e-12)
        ts = [reach * (i / 200 - 0.25) for i in range(201)]
        losses = [ws.loss_along(s, t) for t in ts]
        ax[0].plot(ts, losses, "-", color="black", label="loss ½(y − σ(z))² along −∇L/|∇L|")
        ax[0].plot([0], [ws.loss_along(s, 0.0)], "o", color="black", mfc="white", ms=7, label="θ⁰")
        if s.lr is not None:
            ax[0].plot([step], [ws.loss_along(s, step)], "s", color="black", ms=6,
                       label=f"θ¹ = θ⁰ − α∇L, α = {s.lr:g} (moved {step:.3g})")
        ax[0].set(xlabel="distance moved from θ⁰ against the gradient (parameter units)",
                  ylabel="loss ½(y − h)² (target units squared)",
                  title=f"|∇L| = {norm:.3g}" + ("" if s.lr is not None else "  (no --lr: the step is not drawn)"))
    else:
        ax[0].text(0.5, 0.5, "∇L = 0 in this precision: the step does not move θ", ha="center",
                   transform=ax[0].transAxes)
        ax[0].set(xlabel="distance moved from θ⁰ (parameter units)", ylabel="loss ½(y − h)²")
    if ax[0].get_legend_handles_labels()[0]:
        ax[0].legend(fontsize=8)
    span = max(8.0, abs(s.z) * 1.2)
    zs = [span * (2 * i / 400 - 1) for i in range(401)]
    ax[1].plot(zs, [0.5 * (1 + math.tanh(z / 2)) for z in zs], "-", color="black", label="σ(z)")  # no overflow
    ax[1].plot(zs, [math.exp(-abs(z)) / (1 + math.exp(-abs(z))) ** 2 for z in zs], "--", color="gray",
               label="σ′(z) = σ(z)(1 − σ(z))")
    ax[1].axvline(s.z, ls=":", color="black", lw=1, label=f"this example: z = {s.z:.6g}, σ′(z) = {s.sigma_prime:.3g}")
    ax[1].set(xlabel="pre-activation z = b + w·x", ylabel="σ(z), σ′(z) (unitless)",
              title="a saturated σ has a vanishing gradient")
    ax[1].set_ylim(-0.05, 1.5)  # headroom above σ ≤ 1 for the legend, which then covers no curve
    ax[1].set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax[1].legend(fontsize=8, loc="upper left")
    layout(fig)  # a scale such as 1e−10 goes into the axis label, not over it
    save_figure(fig, path, "step")
