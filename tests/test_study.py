"""The batch-size study: exact first hits, levels, intervals that cover, the command line's contract."""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsgd import data, study, train
from jaxsgd.cli import main
from jaxsgd.errors import InputError, StudyError
from jaxsgd.model import mean_loss
from jaxsgd.study import _critical_batch as critical_batch
from jaxsgd.study import _hits as hits

CFG = study.StudyConfig(batch_sizes=(1, 4, 16, 64), learning_rates=(0.5, 2.0, 8.0), seeds=3,
                        fractions=(0.1, 0.01, 0.001), max_rows=600, max_steps=3000, bootstrap=200)


@pytest.fixture(scope="module")
def small():
    ds = data.synthetic_house_prices(600, seed=3)
    tr = data.fit_transform(ds)
    return tr.features(ds.x), tr.target(ds.y)


@pytest.fixture(scope="module")
def result(small):
    return study.run_study(*small, CFG)


def _reference_hits(x, y, b, lr, key, levels, steps):
    """Step by step, one run: the engine's update and the full-data loss after each step, in plain Python."""
    opt = train.make_optimizer("sgd")
    runs = train.TrainState.create_runs(x.shape[1], key[None], [lr], optimizer=opt)
    p, s = jax.tree.map(lambda a: a[0, 0], (runs.params, runs.opt_state))
    step = jax.jit(functools.partial(train.step, opt))
    loss = jax.jit(mean_loss)
    xt, yj = jnp.asarray(x).T, jnp.asarray(y)
    hits = [-1] * len(levels)
    nb, t = len(y) // b, 0
    for e in range((steps + nb - 1) // nb):
        perm = train.permutations(key[None], e, len(y))[0]
        for i in range(nb):
            if t == steps:
                return hits
            idx = perm[i * b:(i + 1) * b]
            p, s = step(p, s, xt[:, idx], yj[idx])
            t += 1
            value = float(loss(p, xt, yj))
            hits = [t if h < 0 and value <= lv else h for h, lv in zip(hits, levels, strict=True)]
    return hits


@pytest.mark.parametrize(("b", "s", "j"), [(4, 0, 1), (16, 2, 2)])
def test_first_hits_are_exact(small, result, b, s, j):
    x, y = small
    runs = next(r for r in result.runs if r.batch_size == b)
    levels = [lv.loss for lv in result.levels]
    ref = _reference_hits(x, y, b, CFG.learning_rates[j], runs.keys[s], levels, runs.steps_run)
    assert list(runs.hits[:, s, j]) == ref


def test_deeper_levels_take_more_steps_and_larger_batches_fewer(result):
    for shallow, deep in zip(result.levels, result.levels[1:], strict=False):
        for a, b in zip(shallow.rows, deep.rows, strict=True):
            if b.steps is not None:
                assert a.steps is not None and a.steps <= b.steps
    deep = [lv.rows for lv in result.levels if lv.rows[0].steps and lv.rows[-1].steps][-1]
    assert deep[-1].steps < deep[0].steps and deep[-1].examples > deep[0].examples
    assert sum(lv.default for lv in result.levels) == 1


def test_fit_recovers_a_known_curve():
    b = np.array([1, 2, 4, 8, 16, 64, 256])
    s_min, b_crit = critical_batch.fit_critical_batch(b, 100 * (1 + 12 / b))
    assert s_min == pytest.approx(100) and b_crit == pytest.approx(12)
    assert np.isnan(critical_batch.fit_critical_batch(b, 0 * b + 5.0)[1])  # flat: nothing to fit


def test_bootstrap_interval_covers_a_known_b_crit():
    """Steps drawn around S = 40·(1 + 24/B) with seed-to-seed scatter, three learning rates of which one is
    best: the 95% interval holds B_crit = 24 in most of 40 repetitions."""
    rng = np.random.default_rng(0)
    bs = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    lrs = np.array([0.5, 1.0, 2.0], np.float32)
    covered = 0
    for _ in range(40):
        hits = {}
        for b in bs:
            mean = 40 * (1 + 24 / b) * np.array([1.6, 1.0, 1.3])  # lr 1.0 is best
            hits[b] = np.maximum(1, np.round(mean * rng.lognormal(0, 0.25, (8, 3)))).astype(int)
        boot = rng.integers(0, 8, (300, 8))
        *_, ci = critical_batch.summarize_level(hits, lrs, boot)
        covered += ci is not None and ci[0] <= 24 <= ci[1]
    assert covered >= 30


def test_max_steps_bounds_the_steps(small):
    r = study.run_study(*small, CFG._replace(batch_sizes=(1, 64), max_steps=5, fractions=(0.001,)))
    assert all(run.steps_run <= 5 for run in r.runs)
    assert all(row.steps is None or row.steps <= 5 for row in r.levels[0].rows)


def test_study_refuses_settings_out_of_range(small):
    for cfg, arg in ((CFG._replace(batch_sizes=(0,)), "batch_sizes"), (CFG._replace(fractions=(2.0,)), "fractions"),
                     (CFG._replace(seeds=0), "seeds")):
        with pytest.raises(StudyError) as e:
            study.run_study(*small, cfg)
        assert e.value.argument == arg


# ------------------------------------------------------------------ command line
_ARGS = ["batch-size", "--rows", "400", "--batch-sizes", "4,64", "--lrs", "1,8", "--seeds", "2",
         "--levels", "0.1,0.01", "--budget-epochs", "1"]


def test_cli_json_contract(capsys):
    assert main([*_ARGS, "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert {"n_rows", "seeds", "learning_rates", "targets", "wall_seconds"} <= set(obj)
    t = obj["targets"][0]
    assert {"loss", "default", "b_crit", "b_crit_ci", "s_min", "b_simple", "b_simple_ci", "rows"} <= set(t)
    assert [r["batch_size"] for r in t["rows"]] == [4, 64]
    assert {"batch_size", "best_lr", "steps", "steps_ci", "examples"} <= set(t["rows"][0])
    assert sum(t["default"] for t in obj["targets"]) == 1 and obj["recommendation"]["choices"]


def test_cli_text_progress_and_recommendation(capsys):
    assert main(_ARGS) == 0
    out = capsys.readouterr()
    assert "[1/2] B = 64" in out.err and "left)" in out.err
    assert "fewest examples" in out.out and "with the defaults B = 32, lr = 0.5" in out.out
    assert main([*_ARGS, "--quiet"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--batch-sizes", "0,4"], "batch sizes must be > 0"),
        (["--batch-sizes", "a"], "whole numbers"),
        (["--batch-sizes", "100000"], "--batch-sizes: batch sizes must be between 1 and the"),
        (["--lrs", "-1"], "learning rates must be"),
        (["--levels", "2"], "levels are fractions"),
        (["--seeds", "0"], "must be > 0"),
        (["--csv", "/nope.csv", "--features", "a", "--target", "b"], "--rows sets the size of the built-in data"),
        (["--seed", "-1"], "--seed: must be between 0 and 2**64 - 1"),
        (["--seed", str(2**64)], "--seed: must be between 0 and 2**64 - 1"),
        (["--rows", str(10**15)], "use at most"),
        (["--plot", "/nonexistent-folder/bs.png"], "does not exist"),
        (["--plot", "bs.csv"], "image extension"),
    ],
)
def test_bad_options_exit_2(capsys, argv, needle):
    assert main(["batch-size", "--rows", "300", *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_cli_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")
    out = tmp_path / "bs.png"
    assert main([*_ARGS, "--quiet", "--plot", str(out)]) == 0
    assert out.stat().st_size > 1000 and "B_crit" in capsys.readouterr().out


# ------------------------------------------------------------------ review fixes
def test_settled_waits_while_an_even_median_can_still_fall():
    """Two seeds: lr 0 has both at step 10; lr 1 has one seed at step 2 and one still running. Its median
    (2 + h)/2 is below 10 for any h < 18, so stopping at step 10 could change the answer (and the bootstrap)."""
    h = np.array([[[10, 2], [10, -1]]])  # (J, S, L)
    assert not hits.settled(h, 10, [1000])
    assert hits.settled(h, 17, [1000])  # (2 + 18)/2 = 10: no later hit can beat lr 0
    odd = np.array([[[10, 2], [10, 3], [10, -1]]])  # three seeds: lr 1's median (3) is already final
    assert hits.settled(odd, 10, [1000])


def test_next_cap_scales_with_the_gap_to_the_next_batch_size():
    """S(B') ≤ (B/B')·S(B) under S = S_min(1 + B_crit/B): from B = 8 to B = 1 the cap must allow 8× the steps."""
    h = np.full((2, 1), 13)  # median 13 steps at B = 8
    assert hits.next_cap(h, 8, 10**6, 4) == 4 * 13  # a halving: CAP_FACTOR × S
    assert hits.next_cap(h, 8, 10**6, 1) >= 8 * 13


def test_batch_sizes_are_sorted_and_unique_for_the_default_level_rule():
    assert study.validate(CFG._replace(batch_sizes=(64, 4, 4, 16)), 600) == (4, 16, 64)


@pytest.mark.parametrize(("change", "arg"), [({"learning_rates": ()}, "learning_rates"),
                                        ({"learning_rates": (1.0, float("nan"))}, "learning_rates"),
                                        ({"learning_rates": (0.0,)}, "learning_rates"),
                                        ({"learning_rates": (1e-320,)}, "learning_rates"),
                                        ({"learning_rates": (1e300,)}, "learning_rates"),
                                        ({"bootstrap": 0}, "bootstrap"),
                                        ({"seeds": 2.5}, "seeds"),
                                        ({"max_steps": 1.5}, "max_steps")])
def test_study_refuses_more_settings_by_name(small, change, arg):
    with pytest.raises(InputError) as e:
        study.run_study(*small, CFG._replace(**change))
    assert str(e.value).startswith(arg)


def test_study_refuses_non_finite_or_mismatched_data(small):
    x, y = small
    bad = np.array(x, copy=True)
    bad[5, 0] = np.nan
    with pytest.raises(ValueError, match="x"):
        study.run_study(bad, y, CFG)
    with pytest.raises(ValueError, match="y"):
        study.run_study(x, y[:-1], CFG)


def test_a_flat_steps_curve_has_no_b_crit():
    assert np.isnan(critical_batch.fit_critical_batch([1, 2], [2.0, 2.0])[1])
    assert np.isnan(critical_batch.fit_critical_batch([1, 2, 4], [5.0, 5.0, 5.0])[1])


def test_an_interrupt_cancels_the_compiles_not_yet_started(small, monkeypatch):
    """Ctrl-C during the study: the programs queued for later batch sizes are not compiled first."""
    import threading
    import time

    compile_ = hits.compile_programs
    interrupted = threading.Event()
    after = []

    def slow(*args):
        if interrupted.is_set():
            after.append(args[2])
        out = compile_(*args)
        time.sleep(0.4)
        return out

    def progress(done, total, message):
        interrupted.set()
        raise KeyboardInterrupt

    monkeypatch.setattr(hits, "compile_programs", slow)
    cfg = CFG._replace(batch_sizes=(1, 2, 4, 8, 16, 32, 64, 128), fractions=(0.1,), max_steps=50)
    with pytest.raises(KeyboardInterrupt):
        study.run_study(*small, cfg, progress=progress)
    assert after == []
    assert not [t for t in threading.enumerate() if t.name.startswith("jaxsgd-compile")]


def test_advice_check_runs_take_any_64_bit_seed(small):
    from jaxsgd import study as advice

    x, y = (jnp.asarray(a[:64]) for a in small)
    lrs = np.array([1.0], np.float32)
    big = advice.final_losses(x, y, 8, lrs, 1, 2**32)
    assert np.all(np.isfinite(big)) and big[0] != advice.final_losses(x, y, 8, lrs, 1, 0)[0]
    assert advice.final_losses(x, y, 8, lrs, 1, 2**64 - 1).shape == (1,)


def test_cli_levels_error_names_levels(capsys):
    assert main(["batch-size", "--levels", "0"]) == 2
    err = capsys.readouterr().err
    assert "levels" in err and "learning rates" not in err and err.count("\n") == 1


def test_cli_says_when_no_level_was_reached(capsys):
    assert main([*_ARGS, "--lrs", "1e6", "--quiet"]) == 0
    out = capsys.readouterr()
    assert "deepest level reached" not in out.out and "no batch size reached" in out.out
    assert out.err == ""


def test_cli_plot_with_nothing_reached_writes_no_warning(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")
    out = tmp_path / "none.png"
    assert main([*_ARGS, "--lrs", "1e6", "--quiet", "--plot", str(out)]) == 0
    assert out.stat().st_size > 1000 and capsys.readouterr().err == ""


def test_advise_names_a_bad_budget_or_seed(small, result):
    from jaxsgd import study as advice

    for kwargs, needle in (({"budget_epochs": 0}, "budget_epochs"), ({"seed": -1}, "seed must be")):
        with pytest.raises(ValueError, match=needle):
            advice.advise(result, *small, **kwargs)
