"""Figures: matplotlib (optional, imported only when a plot is asked for), the checks before any work,
atomic writes, and one house style: black and grey, markers and line styles, readable in black and white."""

from __future__ import annotations

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
        plt.close(fig)
    print(f"wrote {path}", file=sys.stderr)  # where the picture is, for a command that otherwise prints text
