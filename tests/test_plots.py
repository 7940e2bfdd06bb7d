"""Every plot at its default size and 100 dpi: no matplotlib warning, no two texts over each other, no label
on or next to an error bar or marker, nothing cut off at the figure's edge, and ``wrote PATH`` on stderr."""

import itertools
import warnings

import pytest

from jaxsgd.cli import main

matplotlib = pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")

from jaxsgd.cli.plots import kept_figures  # noqa: E402  (after the skip: it is about matplotlib)

DPI = 100
# Overlaps up to this many pixels (at 100 dpi, 0.72 pt) pass. A text's window extent is its layout box: the
# font's full ascent and descent and the advance of its last glyph, not the ink, so two boxes that touch or
# share a pixel of that rounding still have clear space between their glyphs; a real collision is many pixels.
TOLERANCE_PX = 1.0
# An annotation must keep this far (3.6 pt) from every error bar, cap and marker: nearer, a label reads as
# touching the bar, as the old "f = …" labels did at 4.5 px from a cap.
CLEARANCE_PX = 5.0


def _texts(fig, renderer):
    """``(name, text artist)`` of every visible, non-empty text that is drawn: each axes' tick labels within its
    span, axis labels, offset texts, title, legend texts and title, texts and annotations; the figure's texts."""
    out = []
    for k, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        box = ax.get_window_extent(renderer)
        for which, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            for minor in (False, True):
                for t in axis.get_ticklabels(minor=minor):  # ticks outside the view are kept but not drawn
                    e = t.get_window_extent(renderer)
                    centre, lo, hi = ((e.x0 + e.x1) / 2, box.x0, box.x1) if which == "x" else \
                        ((e.y0 + e.y1) / 2, box.y0, box.y1)
                    if lo - 1 <= centre <= hi + 1:
                        out.append((f"axes {k} {which} tick {t.get_text()!r}", t))
            out += [(f"axes {k} {which} label", axis.label), (f"axes {k} {which} offset", axis.get_offset_text())]
        out.append((f"axes {k} title", ax.title))
        legend = ax.get_legend()
        if legend is not None:
            out += [(f"axes {k} legend {t.get_text()!r}", t) for t in [*legend.get_texts(), legend.get_title()]]
        out += [(f"axes {k} text {t.get_text()!r}", t) for t in ax.texts]
    out += [(f"figure text {t.get_text()!r}", t) for t in fig.texts]
    return [(name, t) for name, t in out if t.get_visible() and t.get_text().strip()]


def _overlap(a, b) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > TOLERANCE_PX
            and min(a.y1, b.y1) - max(a.y0, b.y0) > TOLERANCE_PX)


def _gap(a, b) -> float:
    """The distance between two boxes, 0 where they meet."""
    dx, dy = max(b.x0 - a.x1, a.x0 - b.x1, 0), max(b.y0 - a.y1, a.y0 - b.y1, 0)
    return (dx * dx + dy * dy) ** 0.5


def _marks(ax):
    """Display-space boxes of what an annotation must not cover: each error bar's caps and markers (their size),
    and points every few pixels along its bars."""
    from matplotlib.container import ErrorbarContainer
    from matplotlib.transforms import Bbox

    boxes = []
    for c in ax.containers:
        if not isinstance(c, ErrorbarContainer):
            continue
        data_line, caplines, barcols = c.lines
        for line in [data_line, *caplines]:
            if line is None or line.get_marker() in (None, "None", "none", ""):
                continue
            r = line.get_markersize() * DPI / 72 / 2
            for x, y in line.get_transform().transform(line.get_xydata()):
                boxes.append(Bbox([[x - r, y - r], [x + r, y + r]]))
        for col in barcols:
            for seg in col.get_segments():
                (x0, y0), (x1, y1) = col.get_transform().transform(seg)
                n = max(2, int(max(abs(x1 - x0), abs(y1 - y0)) / 2))
                boxes += [Bbox([[x0 + (x1 - x0) * i / n - 1, y0 + (y1 - y0) * i / n - 1],
                                [x0 + (x1 - x0) * i / n + 1, y0 + (y1 - y0) * i / n + 1]]) for i in range(n + 1)]
    return boxes


def check_figure(fig):
    """The assertions (b): no texts over each other, none cut off, no annotation on or next to an error bar."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # a closed figure's canvas draws nothing: give it the one it was written with
    fig.set_dpi(DPI)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [(name, t.get_window_extent(renderer)) for name, t in _texts(fig, renderer)]
    assert texts
    clashes = [(a, b) for (a, ea), (b, eb) in itertools.combinations(texts, 2) if _overlap(ea, eb)]
    assert not clashes, clashes
    page = fig.bbox
    cut = [name for name, e in texts if e.x0 < page.x0 - TOLERANCE_PX or e.x1 > page.x1 + TOLERANCE_PX
           or e.y0 < page.y0 - TOLERANCE_PX or e.y1 > page.y1 + TOLERANCE_PX]
    assert not cut, cut
    for ax in fig.axes:
        marks = _marks(ax)
        near = [t.get_text() for t in ax.texts if any(_gap(t.get_window_extent(renderer), m) < CLEARANCE_PX
                                                      for m in marks)]
        assert not near, near
    return texts


def render(tmp_path, capsys, argv, name="plot.png"):
    """Runs the command with ``--plot``, checks (a) no warning and (c) ``wrote PATH``, returns its figure."""
    out = tmp_path / name
    with matplotlib.rc_context({"figure.dpi": DPI, "savefig.dpi": DPI}), kept_figures() as figures, \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*argv, "--plot", str(out)]) == 0
        assert len(figures) == 1
        check_figure(figures[0])
    shown = [f"{w.category.__name__}: {w.message} ({w.filename})" for w in caught
             if not (issubclass(w.category, DeprecationWarning) and "jax" in w.filename)]
    assert not shown, shown
    assert out.read_bytes().startswith(b"\x89PNG")
    assert f"wrote {out}" in capsys.readouterr().err.splitlines()
    return figures[0]


def _label(fig, axes, which):
    return getattr(fig.axes[axes], f"{which}axis").label.get_text()


@pytest.mark.parametrize(("theta", "x", "y", "lr"), [
    (["4", "5", "6"], ["1", "2"], "3", "0.1"),  # the exercise: a step of 3.7e−10, the scale on the x axis
    (["8", "0"], ["1"], "1", "0.1"),  # saturated: losses near 1e−8, the scale on the y axis
    (["600", "0"], ["1"], "1", None),  # σ′ rounds to 0: no step drawn
    (["0", "0"], ["1"], "0.5", None),  # ∇L = 0
])
def test_step_plot(tmp_path, capsys, theta, x, y, lr):
    fig = render(tmp_path, capsys, ["step", "--theta", *theta, "--x", *x, "--y", y,
                                    *(["--lr", lr] if lr else [])])
    if theta == ["4", "5", "6"]:
        assert "× 10⁻¹⁰" in _label(fig, 0, "x")  # the scale is in the label, not drawn over it


@pytest.mark.parametrize("order", [1, 6, 12])
def test_derivative_plot(tmp_path, capsys, order):
    fig = render(tmp_path, capsys, ["derivative", str(order)])
    main_ax = fig.axes[0]
    lines = [line for line in main_ax.get_lines() if line.get_label().startswith("σ")]
    assert len(lines) == order and len({line.get_marker() for line in lines}) == order  # told apart in grey too
    assert all(len(line.get_markevery()) >= 1 for line in lines)  # each curve carries its marker
    assert all(t.get_fontsize() >= 9 for t in main_ax.get_legend().get_texts())
    if order > 1:  # the zeros: one row per order from 2 on, in that order's marker
        rows = fig.axes[1]
        assert [t.get_text() for t in rows.get_yticklabels()] == [f"σ⁽{j}⁾ = 0" for j in "²³⁴⁵⁶⁷⁸⁹"][:order - 1] + \
            ["σ⁽¹⁰⁾ = 0", "σ⁽¹¹⁾ = 0", "σ⁽¹²⁾ = 0"][:max(0, order - 9)]
        assert {line.get_marker() for line in rows.get_lines() if line.get_linestyle() == "None"} == \
            {line.get_marker() for line in lines[1:]}


def test_train_plot(tmp_path, capsys):
    render(tmp_path, capsys, ["train", "--rows", "500", "--epochs", "2", "--quiet"])


@pytest.fixture(scope="module")
def small_study():
    from jaxsgd import data, study

    ds = data.synthetic_house_prices(500, seed=3)
    tr = data.fit_transform(ds)
    cfg = study.StudyConfig(batch_sizes=(4, 64), learning_rates=(0.5, 2.0, 8.0), seeds=2, fractions=(0.1, 0.01),
                            max_rows=500, max_steps=2000, bootstrap=100)
    return study.run_study(tr.features(ds.x), tr.target(ds.y), cfg)


def test_batch_size_plot(tmp_path, capsys, small_study):
    from jaxsgd.cli.batch_size import plot_study

    r = small_study
    lv = next(lv for lv in r.levels if lv.b_crit is not None and 0 < lv.b_crit < float("inf") and not lv.beyond)
    assert lv.b_noise_ci and lv.b_simple_ci  # the third panel has something to draw, intervals both ways
    out = tmp_path / "study.png"
    with matplotlib.rc_context({"figure.dpi": DPI, "savefig.dpi": DPI}), kept_figures() as figures, \
            warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_study(r, str(out))
        (fig,) = figures
        check_figure(fig)
    assert f"wrote {out}" in capsys.readouterr().err.splitlines()
    third = fig.axes[2]
    bars = [c for c in third.containers if c.has_xerr and c.has_yerr]
    assert {c.get_label() for c in bars} == {"B_crit against B_noise = tr(HΣ)/(GᵀHG)",
                                             "B_crit against B_simple = tr Σ/|G|²"}
    for c in bars:  # each noise scale's interval over rows is drawn: its horizontal bar spans it
        scale = "b_noise" if "B_noise" in c.get_label() else "b_simple"
        lo, hi = getattr(lv, scale + "_ci")
        xs = [x for seg in c.lines[2][0].get_segments() for x, y in seg if y == pytest.approx(lv.b_crit)]
        assert min(xs) == pytest.approx(lo) and max(xs) == pytest.approx(hi)
