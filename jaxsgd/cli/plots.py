"""Figures: matplotlib (optional, imported only when a plot is asked for), the checks before any work,
atomic writes, and one house style: black and grey, markers and line styles, readable in black and white."""

from __future__ import annotations

import contextlib
import math
import os
import sys

from jaxsgd.cli.common import UsageError, flag, guard

PLOT_RULE = ("The extension sets the format (.png, .pdf, .svg, .jpg, ...); an existing file there is replaced "
             "only if it is already an image of that format and not one of the run's inputs. Checked before "
             "the run starts.")


def pyplot():
    """matplotlib.pyplot with a file backend, or None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def check_plot(path, command, others=None):
    """Before any work: matplotlib is there and ``--plot`` can be written (see :mod:`jaxsgd.paths`).

    ``others``: ``{argument: path}`` of the run's inputs and outputs, which the plot must not replace.
    """
    from jaxsgd.paths import check_plot_path

    guard(lambda: check_plot_path(path, others=others), command)
    if pyplot() is None:
        raise UsageError(f"jaxsgd {command}: --plot needs matplotlib: pip install 'jaxsgd[plot]'")


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_kept: list | None = None  # the figures save_figure wrote, while kept_figures() is active


@contextlib.contextmanager
def kept_figures():
    """For tests: a list that collects every figure :func:`save_figure` writes meanwhile (closed to pyplot,
    still drawable with ``fig.canvas.draw()``), to inspect what was drawn."""
    global _kept
    before, _kept = _kept, []
    try:
        yield _kept
    finally:
        _kept = before


def layout(fig):
    """``tight_layout``, with every axis' offset text (``1e−10``, ``+2``: drawn at the axis' end, where it runs
    into the axis label or the title) taken into the axis label instead, for any data."""
    fig.tight_layout()
    if _offsets_into_labels(fig):
        fig.tight_layout()


def _offsets_into_labels(fig) -> bool:
    """Moves each non-empty offset text of ``fig``'s axes into its axis label as ``value = tick × 10ⁿ + c``,
    with the formatter's scale and offset frozen so that a new layout cannot change them; True if any moved."""
    from matplotlib.ticker import ScalarFormatter

    fig.canvas.draw()  # the formatters choose their offsets when the ticks are drawn
    moved = False
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            fmt = axis.get_major_formatter()
            if not isinstance(fmt, ScalarFormatter) or not fmt.get_offset():
                continue
            oom, offset = fmt.orderOfMagnitude, fmt.offset
            fmt.set_useOffset(offset if offset else False)
            if oom:
                fmt.set_powerlimits((oom, oom))  # (m, m), m ≠ 0: this scale and no other
            else:
                fmt.set_scientific(False)
            value = "tick" + (f" × 10{str(oom).translate(_SUPERSCRIPT)}" if oom else "")
            if offset:
                value += f" {'−' if offset < 0 else '+'} {abs(offset):.12g}"
            axis.get_offset_text().set_visible(False)
            axis.set_label_text(f"{axis.get_label_text()}\n(value = {value})")
            moved = True
    return moved


def two_decades(ax, which="x"):
    """Widens a log axis of ``ax`` (``which``: ``"x"`` or ``"y"``) to whole decades when its view holds fewer
    than two powers of ten: matplotlib then labels the minor ticks as well, and on an x axis their labels
    (``2×10⁰ 3×10⁰ 4×10⁰``) run into each other."""
    get, put = (ax.get_xlim, ax.set_xlim) if which == "x" else (ax.get_ylim, ax.set_ylim)
    lo, hi = sorted(get())
    if getattr(ax, f"get_{which}scale")() != "log" or not 0 < lo < hi < math.inf:
        return
    if math.floor(math.log10(hi)) - math.floor(math.nextafter(math.log10(lo), -math.inf)) < 2:
        put(10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi)))


def save_figure(fig, path, command, replaceable=None):
    """Writes ``fig`` to ``path`` atomically; a file found there at that moment is replaced only if
    ``replaceable`` allows it (see :func:`jaxsgd.paths.write_atomically`; default: an image of that format)."""
    from jaxsgd.errors import OutputError
    from jaxsgd.paths import is_image, write_atomically

    plt = pyplot()
    fmt = os.path.splitext(path)[1][1:].lower()
    try:
        write_atomically(path, lambda f: fig.savefig(f, format=fmt),
                         replaceable=is_image if replaceable is None else replaceable, argument="plot")
    except OutputError as e:
        raise UsageError(f"jaxsgd {command}: {e.render(flag)}") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"jaxsgd {command}: cannot write the plot {path}: {e}") from None
    finally:
        if _kept is not None:
            _kept.append(fig)
        plt.close(fig)
    print(f"wrote {path}", file=sys.stderr)  # where the picture is, for a command that otherwise prints text
