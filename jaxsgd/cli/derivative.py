"""``jaxsgd derivative``, ``jaxsgd check-derivative`` and ``jaxsgd check``: σ⁽ᵏ⁾ exactly, a person's
answer judged, and every numerical method against a high-precision reference."""

from __future__ import annotations

import math

from jaxsgd import defaults as D
from jaxsgd.cli import common as C
from jaxsgd.cli.plots import PLOT_RULE, check_plot, pyplot, save_figure

MAX_PLOT_ORDER = 12  # curves on one plot: beyond a dozen they cannot be told apart


def add(sub):
    p = sub.add_parser("derivative", help="σ⁽ᵏ⁾ as an exact polynomial in σ",
                       description="The k-th derivative of σ as an exact integer polynomial in σ, its factored "
                                   "form through σ′ = σ(1 − σ), and through tanh⁽ᵏ⁾ as a polynomial in tanh. "
                                   "Every σ line, and the line 'as input', can be given to check-derivative.")
    p.add_argument("order", type=C.order_type(D.POLYNOMIAL_MAX_ORDER, "derivative"), metavar="K",
                   help=f"the order k, 0 to {D.POLYNOMIAL_MAX_ORDER}")
    p.add_argument("--format", choices=["text", "latex", "json"], default="text",
                   help="text (default), latex, or one JSON object")
    p.add_argument("--plot", type=C.path, metavar="PATH",
                   help=f"draw σ⁽ʲ⁾(x) for j = 1 … K, each divided by its largest |value| so they compare, with "
                        f"their zeros marked, to PATH (K at most {MAX_PLOT_ORDER} with --plot; needs matplotlib; "
                        "default: no plot). " + PLOT_RULE)
    p.set_defaults(run=run)


def run(a) -> int:
    from jaxsgd import derivatives as P

    k = a.order
    if a.plot:
        if not 1 <= k <= MAX_PLOT_ORDER:
            raise C.UsageError(f"jaxsgd derivative: --plot draws orders 1 to {MAX_PLOT_ORDER} (more curves cannot "
                               f"be told apart), got K = {k}; give K from 1 to {MAX_PLOT_ORDER}, or leave out --plot")
        check_plot(a.plot, "derivative")
    coeffs = P.sigmoid_polynomial(k)
    tanh = P.tanh_polynomial(k)
    obj = {"order": k, "coefficients": list(coeffs), "text": P.text(coeffs), "factored": P.factored(k),
           "latex": P.latex(coeffs), "tanh_coefficients": list(tanh), "tanh_text": P.text(tanh, "T"),
           "tanh_form": P.tanh_form(k),
           **({"relations": ["σ(x) = (1 + tanh(x/2))/2", "tanh(x) = 2σ(2x) − 1"]} if k == 0 else {})}
    if a.plot:
        plot_derivatives(k, a.plot)
    if a.format == "json":
        C.print_json(obj)
    elif a.format == "latex":
        print(rf"\sigma^{{({k})}}(x) = {obj['latex']}")
    else:
        sk = P.superscript(k)
        pad = " " * (len(sk) + 3)
        print(f"σ⁽{sk}⁾ = {obj['text']}")
        print(f"{pad}= {obj['factored']}")
        if k >= 1:
            print(f"{pad}= 2⁻{P.superscript(k + 1)}·tanh⁽{sk}⁾(x/2),  where tanh⁽{sk}⁾(u) = {obj['tanh_text']} "
                  f"with T = tanh(u), here u = x/2")
            print(f"as input: {obj['tanh_form']}")
        else:
            print(f"{pad}= (1 + tanh(x/2))/2,  and the other way round: tanh(x) = 2σ(2x) − 1")
    return 0


def plot_derivatives(order, path):
    """σ⁽ʲ⁾ for j = 1 … ``order`` over x, each scaled by its largest |value| on the plotted range, each with its
    own dash pattern and marker (on its peaks, or its half-heights where another's marker is there); below, one
    row per order marks its zeros with that marker."""
    from jaxsgd import derivatives as P
    from jaxsgd.cli.plots import layout

    # one look per order, told apart in black and white: a dash pattern, a marker (on the curve, clear of the
    # others' markers, and at its zeros) and, from the seventh order on, grey in place of black
    dashes = [(), (6, 2), (1.2, 1.8), (7, 2, 1.5, 2), (3, 2), (10, 2, 1.5, 2, 1.5, 2)]
    markers = "osD^vPX<h>*d"
    plt = pyplot()
    zeros = {j: P.derivative_zeros(j) for j in range(1, order + 1)}
    span = max(6, math.ceil(max((abs(z) for zs in zeros.values() for z in zs), default=0)) + 4)
    xs = [span * (2 * i / 800 - 1) for i in range(801)]
    sig = [1 / (1 + math.exp(-x)) for x in xs]
    rows = [j for j in zeros if zeros[j]]  # σ′ has no zeros: no row
    fig = plt.figure(figsize=(9, 4.6 + 0.2 * len(rows)))
    grid = fig.add_gridspec(2 if rows else 1, 1, height_ratios=[4.2, 0.55 + 0.2 * len(rows)] if rows else [1])
    ax = fig.add_subplot(grid[0])
    zax = fig.add_subplot(grid[1], sharex=ax) if rows else None
    looks, placed = {}, []

    def clear(x, y):  # at least 3% of the axes from every marker placed so far
        return all(math.hypot((x - u) / (2 * span), (y - v) / 2.2) > 0.03 for u, v in placed)

    for j in range(1, order + 1):
        coeffs = P.sigmoid_polynomial(j)
        ys = [sum(c * s**i for i, c in enumerate(coeffs)) for s in sig]
        top = max(abs(v) for v in ys) or 1.0
        ys = [v / top for v in ys]
        peaks = [i for i in range(1, len(ys) - 1) if abs(ys[i]) >= 0.5 and abs(ys[i]) >= abs(ys[i - 1])
                 and abs(ys[i]) > abs(ys[i + 1])]
        halves = [i for i in range(len(ys) - 1) if (abs(ys[i]) - 0.5) * (abs(ys[i + 1]) - 0.5) <= 0]
        marks = [i for i in peaks if clear(xs[i], ys[i])]  # not on another order's marker (σ′, σ⁽⁵⁾ peak at 0)
        if not marks:  # every peak taken: the outermost free half-heights, where the curves spread apart
            free = [i for i in halves if clear(xs[i], ys[i])]
            marks = sorted({free[0], free[-1]}) if free else []
        placed += [(xs[i], ys[i]) for i in marks]
        looks[j] = {"color": "black" if j <= len(dashes) else "0.45", "marker": markers[(j - 1) % len(markers)],
                    "mfc": "white", "ms": 6}
        ax.plot(xs, ys, dashes=dashes[(j - 1) % len(dashes)], lw=1.3, markevery=sorted(marks), **looks[j],
                label=f"σ⁽{P.superscript(j)}⁾ / {top:.3g}")
    ax.axhline(0, color="0.8", lw=0.8, zorder=0)
    ax.set(ylabel="σ⁽ʲ⁾(x) / max |σ⁽ʲ⁾|  (unitless)", xlim=(-span, span),
           title=f"derivatives of σ, orders 1 to {order}, scaled to compare"
                 + ("; σ⁽ʲ⁾ has j − 1 zeros (below)" if rows else ""))
    ax.legend(fontsize=10, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0, handlelength=3.2,
              title="order / its max", title_fontsize=10)
    if zax is None:
        ax.set_xlabel("x")
    else:
        ax.tick_params(labelbottom=False)
        for k, j in enumerate(rows):
            zax.axhline(k, color="0.85", lw=0.6, zorder=0)
            zax.plot(zeros[j], [k] * len(zeros[j]), ls="none", **looks[j])
        zax.set_yticks(range(len(rows)), [f"σ⁽{P.superscript(j)}⁾ = 0" for j in rows], fontsize=9)
        zax.set_ylim(len(rows) - 0.4, -0.6)  # the first order on top
        zax.set_xlabel("x")
        zax.grid(axis="x", color="0.9", lw=0.6)
    layout(fig)
    save_figure(fig, path, "derivative")


def add_check_derivative(sub):
    p = sub.add_parser("check-derivative", help="check a formula for σ⁽ᵏ⁾ (in σ, x, e, exp or tanh)",
                       description="Checks a person's answer, e.g. jaxsgd check-derivative --order 2 "
                                   "\"σ(1−σ)(1−2σ)\". Answers built from σ, x, numbers, e, exp, tanh, sinh, cosh "
                                   "and sech of polynomials in x are compared exactly; anything else (σ(e^x), "
                                   "e^(1/x)) in interval arithmetic to 30 digits at 12 points drawn at random for "
                                   "each check, printed with the verdict. Prints CORRECT (exit 0) or INCORRECT with "
                                   "the right polynomial and a point where the values differ (exit 1), then "
                                   "'read as: …' when the text was read other than literally (σ2 as σ·2, 1½ as "
                                   "1 + 1/2, LaTeX); an answer that cannot be read or evaluated, or that only "
                                   "restates the derivative (σ‴ at order 3), is one line on stderr (exit 2). "
                                   "--order 0 checks identities for σ itself, e.g. \"(1 + tanh(x/2))/2\".")
    p.add_argument("--order", type=C.order_type(D.ANSWER_MAX_ORDER, "check-derivative"), required=True,
                   help=f"the order k of σ⁽ᵏ⁾, 0 to {D.ANSWER_MAX_ORDER} (required; 0 checks identities for σ itself)")
    p.add_argument("expression", metavar="EXPR",
                   help="the answer, e.g. \"σ(1−σ)\", \"σ(x)σ(−x)\", \"e^-x/(1+e^-x)^2\"; it may start with '-'")
    p.add_argument("--hide-answer", action="store_true",
                   help="for graded work: say CORRECT or INCORRECT and where, without the right polynomial or its "
                        "value (default: show them)")
    p.set_defaults(run=run_check_derivative)


def run_check_derivative(a) -> int:
    from jaxsgd.derivatives import check_answer
    from jaxsgd.errors import ExpressionError

    try:
        result = check_answer(a.order, a.expression)
    except ExpressionError as e:
        raise C.UsageError(f"jaxsgd check-derivative: {e}") from None
    for line in result.report(hide_answer=a.hide_answer):
        print(line)
    return 0 if result.correct else 1


def expression_argv(argv: list[str]) -> list[str]:
    """``check-derivative``'s answer may start with a minus sign: keep argparse from reading it as an option.

    A leading space makes argparse take it as the positional; the parser skips spaces.
    """
    if not argv or argv[0] != "check-derivative" or "--" in argv:
        return argv
    out, takes_value = [argv[0]], False
    for arg in argv[1:]:
        option = _check_option(arg)
        word = arg.startswith("--") and arg[2:].split("=", 1)[0].replace("-", "").isalpha() and len(arg) > 3
        if not takes_value and arg.startswith("-") and option is None and not word:  # --quiet: an option argparse
            arg = " " + arg  # refuses by name; -σ^2+σ: the answer
        takes_value = option == "--order" and "=" not in arg
        out.append(arg)
    return out


def _check_option(arg: str) -> str | None:
    """The ``check-derivative`` option that ``arg`` names, abbreviations included as argparse takes them."""
    name = arg.split("=", 1)[0]
    if name == "-h":
        return "--help"
    if len(name) > 2 and name.startswith("--"):
        return next((full for full in ("--order", "--help", "--hide-answer") if full.startswith(name)), None)
    return None


def add_check(sub):
    p = sub.add_parser("check", help="every derivative method against a high-precision reference",
                       description="Max relative error and time per method, dtype and order, on [−40, 40] "
                                   "with the tails. Exit 0 only if every figure is within its tolerance.")
    p.add_argument("--max-order", type=C.order_type(D.ACCURACY_MAX_ORDER, "check"), default=D.CHECK_MAX_ORDER,
                   help=f"check orders 1 to K (default {D.CHECK_MAX_ORDER}; at most {D.ACCURACY_MAX_ORDER}, the "
                        "highest order any method is held to)")
    p.add_argument("--methods", default=None, help="comma-separated subset of the methods (default: all of them)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(run=run_check)


def run_check(a) -> int:
    from jaxsgd import derivatives as checker

    methods = None
    if a.methods:
        methods = [m.strip() for m in a.methods.split(",")]
        bad = [m for m in methods if m not in checker.DOMAINS]
        if bad:
            raise C.UsageError(f"jaxsgd check: unknown method {', '.join(bad)}; choose from "
                               f"{', '.join(checker.DOMAINS)}")
    if a.max_order < 1:
        raise C.UsageError("jaxsgd check: --max-order must be at least 1")
    header = ["method", "dtype", "k", "max rel err", "tolerance", "seconds", "ok"]
    widths = [-12, -8, 3, 12, 10, 8, 4]
    print(C.table(header, [], widths)[0])
    total = len(checker.cases(a.max_order, methods))
    progress = C.Progress(total, quiet=a.quiet)
    bad = 0
    for i, r in enumerate(checker.run_checks(a.max_order, methods)):
        bad += not r.ok
        cells = [r.method, r.dtype, str(r.order), f"{r.max_rel_error:.2e}", f"{r.tolerance:.0e}",
                 f"{r.seconds:.4f}", "yes" if r.ok else "NO"]
        progress.clear()
        print(C.table(header, [cells], widths)[1], flush=True)
        progress.update(i + 1, f"{r.method} {r.dtype} k = {r.order}")
    print(f"{total - bad} of {total} within tolerance (seconds: one evaluation on the grid, compiled beforehand)")
    return 0 if not bad else 1
