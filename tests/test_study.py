"""The batch-size study: arrivals against a step-by-step reference, windows, noise scales, intervals that
cover, the recommendation, the command line's contract."""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxsgd import data, study, train
from jaxsgd.cli import main
from jaxsgd.errors import InputError, StudyError
from jaxsgd.model import init_params, mean_loss
from jaxsgd.study import _critical_batch as critical_batch
from jaxsgd.study import _hits as hits

CFG = study.StudyConfig(batch_sizes=(1, 4, 16, 64), learning_rates=(0.5, 2.0, 8.0), seeds=8,
                        fractions=(0.1, 0.01, 0.001), max_rows=600, max_steps=3000, bootstrap=200)


@pytest.fixture(scope="module")
def small():
    ds = data.synthetic_house_prices(600, seed=3)
    tr = data.fit_transform(ds)
    return tr.features(ds.x), tr.target(ds.y)


@pytest.fixture(scope="module")
def result(small):
    return study.run_study(*small, CFG)


@functools.cache
def _losses_program(opt):
    """One run's full-data loss after every step, by a plain scan of the engine's step (not the study's)."""
    step = functools.partial(train.step, opt)

    @jax.jit
    def run(p, s, xs, ys, xt, y):
        def body(carry, batch):
            p, s = step(*carry, *batch)
            return (p, s), mean_loss(p, xt, y)

        return lax.scan(body, (p, s), (xs, ys))

    return run


def _reference_losses(x, y, b, lr, key, steps):
    """The loss after each of ``steps`` steps of one run (seed ``key``, rate ``lr``), step by step."""
    opt = train.make_optimizer("sgd")
    one = train.TrainState.create(init_params(x.shape[1]), optimizer=opt, key=jax.random.key(0), learning_rate=lr)
    p, s = one.params, one.opt_state
    xt, yj = jnp.asarray(x).T, jnp.asarray(y)
    nb, out, e = len(y) // b, [], 0
    while len(out) < steps:
        perm = train.permutations(np.asarray(key)[None], e, len(y))[0][: nb * b].reshape(nb, b)
        (p, s), losses = _losses_program(opt)(p, s, xt[:, perm].transpose(1, 0, 2), yj[perm], xt, yj)
        out.extend(np.asarray(losses).tolist())
        e += 1
    return np.asarray(out[:steps])


def _arrival(losses, level) -> int:
    """The definition, on the evaluation schedule: the first evaluated step S from which every evaluated step
    through max(2S, S + 16) is at or below the level (−1: none within the losses)."""
    looked = np.flatnonzero(hits.schedule(0, len(losses))) + 1
    for s_ in looked:
        end = max(2 * s_, s_ + hits.MIN_STAY)
        if end > looked[-1]:
            return -1
        # the study confirms at the first evaluation at or past the end
        last = looked[looked >= end][0]
        window = looked[(looked >= s_) & (looked <= last)]
        if np.all(losses[window - 1] <= level):
            return int(s_)
    return -1


@pytest.mark.parametrize(("b", "s", "j"), [(4, 0, 1), (16, 2, 2), (64, 1, 0)])
def test_arrivals_are_those_of_a_step_by_step_reference(small, result, b, s, j):
    x, y = small
    runs = next(r for r in result.runs if r.batch_size == b)
    losses = _reference_losses(x, y, b, float(runs.learning_rates[j]), runs.keys[s], int(runs.steps_run[j]))
    for lv, got, lb in zip(result.levels, runs.arrivals[:, s, j], runs.lower[:, s, j], strict=True):
        if got < 0 and lb == 0:
            continue  # this rate came in an extension window that did not run this level
        want = _arrival(losses, lv.loss)
        assert got == want or (got < 0 and want < 0), (lv.fraction, got, want)


def test_every_reported_row_is_an_arrival(small, result):
    """For every reported row, the seeds' runs at its learning rate are at or below the level for at least 90%
    of the steps in [S, 2S] (step by step, not only on the schedule; for S < 16 the definition's window
    [S, S + 16]): the number means 'got there and stayed'."""
    x, y = small
    checked = 0
    for lv in result.levels:
        for row, runs in zip(lv.rows, result.runs, strict=True):
            if row.steps is None:
                continue
            s_ = int(np.ceil(row.steps))
            end = max(2 * s_, s_ + hits.MIN_STAY)
            below = []
            for seed in range(result.seeds):
                losses = _reference_losses(x, y, row.batch_size, row.best_lr, runs.keys[seed], end)
                below.append(losses[s_ - 1:end] <= lv.loss)
            frac = float(np.mean(np.concatenate(below)))
            print(lv.fraction, row.batch_size, row.steps, round(frac, 3))
            assert frac >= 0.9, (lv.fraction, row.batch_size, frac)
            checked += 1
    assert checked >= 6


def test_deeper_levels_take_more_steps_and_larger_batches_fewer(result):
    """Arrival at a deeper level comes later; S(B) does not rise with B beyond its intervals (tuning settled).
    Examples need not rise with B: a small batch's noise keeps its best rate low (the fewest examples are often
    at a middling B)."""
    for shallow, deep in zip(result.levels, result.levels[1:], strict=False):
        for a, b in zip(shallow.rows, deep.rows, strict=True):
            if b.steps is not None:
                assert a.steps is not None and a.steps <= b.steps
    deep = [lv.rows for lv in result.levels if lv.rows[0].steps and lv.rows[-1].steps][-1]
    assert deep[-1].steps < deep[0].steps
    assert all(lv.monotone for lv in result.levels)
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
        runs = []
        for b in bs:
            mean = 40 * (1 + 24 / b) * np.array([1.6, 1.0, 1.3])  # lr 1.0 is best
            a = np.maximum(1, np.round(mean * rng.lognormal(0, 0.25, (8, 3)))).astype(int)[None]
            runs.append(hits.BatchRuns(b, np.zeros((8, 2), np.uint32), lrs, a, a, np.full(3, 10**4),
                                       np.zeros(1, bool), 0.0, 0))
        boot = rng.integers(0, 8, (300, 8))
        _, _, _, ci, _ = critical_batch.summarize_level(runs, 0, boot)
        covered += ci is not None and ci[0] <= 24 <= ci[1]
    assert covered >= 30


def test_max_steps_bounds_the_steps(small):
    r = study.run_study(*small, CFG._replace(batch_sizes=(1, 64), max_steps=5, fractions=(0.001,)))
    assert all(run.steps_run.max() <= 5 for run in r.runs)
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
    assert sum(t["default"] for t in obj["targets"]) == 1
    assert {"b_noise", "b_noise_ci", "rmse", "fitted_batch_sizes"} <= set(t) and "capped" in t["rows"][0]
    assert {"batch_size", "learning_rate", "goal", "check_loss", "default_loss"} <= set(obj["recommendation"])


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
def test_settled_waits_while_an_unfinished_run_could_still_win():
    """lr 0 has both seeds arrived at step 10; lr 1 has one at step 2 and one still running. Any statistic of
    lr 1's seeds that takes in the running one is at least its lower bound, so the study may stop only once
    that bound is past 10 (and a run whose loss has stayed below since step 4 may still arrive at 4)."""
    h = np.array([[[10, 2], [10, -1]]])  # (J, S, L)
    none = h * 0 - 1
    assert not hits.settled(h, hits.lower_bounds(h, none, 9), [1000], 9)  # the running seed could arrive at 10
    assert hits.settled(h, hits.lower_bounds(h, none, 10), [1000], 10)  # not before 11 now: cannot beat lr 0
    cand = np.array([[[-1, -1], [-1, 4]]])
    lb = hits.lower_bounds(h, cand, 30)
    assert lb[0, 1, 1] == 4 and not hits.settled(h, lb, [1000], 30)
    assert hits.settled(h, lb, [20], 30)  # past the level's step limit: stopped, not settled
    assert hits.arrival_steps(np.array([[1], [2], [3], [4], [5], [6], [7], [8]]))[0] == 6  # 3 in 4 of 8 seeds


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

    def slow(setup):
        if interrupted.is_set():
            after.append(setup.batch_size)
        out = compile_(setup)
        time.sleep(0.4)
        return out

    def progress(done, total, message, eta=None):
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
    assert main([*_ARGS, "--lrs", "1e6", "--quiet", "--max-steps", "200"]) == 0
    out = capsys.readouterr()
    assert "deepest level reached" not in out.out and "no batch size reached" in out.out
    assert out.err == ""


def test_cli_plot_with_nothing_reached_writes_no_warning(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")
    out = tmp_path / "none.png"
    assert main([*_ARGS, "--lrs", "1e6", "--quiet", "--max-steps", "200", "--plot", str(out)]) == 0
    assert out.stat().st_size > 1000 and capsys.readouterr().err == f"wrote {out}\n"  # and no warning


def test_advise_names_a_bad_budget_or_seed(small, result):
    from jaxsgd import study as advice

    for kwargs, needle in (({"budget_epochs": 0}, "budget_epochs"), ({"seed": -1}, "seed must be")):
        with pytest.raises(ValueError, match=needle):
            advice.advise(result, *small, **kwargs)


def test_a_best_rate_at_the_grid_edge_extends_the_grid(small):
    """Given only rates far too large, the study extends the grid downwards by half-octaves until the best
    rate is inside what it ran, and says which rates each batch size ran."""
    cfg = CFG._replace(batch_sizes=(4,), learning_rates=(32.0, 64.0, 128.0, 256.0), fractions=(0.1,), adapt=False)
    r = study.run_study(*small, cfg)
    runs, row = r.runs[0], r.levels[0].rows[0]
    assert runs.learning_rates.min() < 32 and row.best_lr is not None and row.best_lr < 32
    assert runs.learning_rates.min() < row.best_lr and not row.edge
    assert np.all(np.diff(np.log2(runs.learning_rates[runs.learning_rates < 32])) == pytest.approx(0.5))


def test_the_same_seed_gives_the_same_recommendation(small):
    job = study.StudyJob(data.DataSource(n_rows=600, seed=3),
                         CFG._replace(batch_sizes=(4, 16, 64), fractions=(0.1, 0.01)), budget_epochs=1)
    a, b = study.run_study_job(job).advice, study.run_study_job(job).advice
    assert a.recommendation is not None
    strip = ("step_seconds",)  # measured here at run time: printed, never used to choose
    assert {k: v for k, v in a.recommendation._asdict().items() if k not in strip} == \
        {k: v for k, v in b.recommendation._asdict().items() if k not in strip}
    assert a.certainty == b.certainty and a.verdict == b.verdict


def test_certainty_follows_the_seeds_and_the_interval():
    lv = critical_batch.LevelResult(0.01, 0.1, True, 100.0, (90.0, 120.0), 1.0, None, None, ())
    assert "well determined" in study.certainty(lv, 8)
    assert "well determined" not in study.certainty(lv, 2) and "only 2 seeds" in study.certainty(lv, 2)
    assert "factor of 2.5" in study.certainty(lv._replace(b_crit_ci=(80.0, 200.0)), 8)
    assert "only that bound" in study.certainty(lv._replace(b_crit=float("inf"), b_crit_ci=(300.0, float("inf"))), 8)


def test_the_profile_splits_each_batch_sizes_runs_into_steps_evaluations_and_host_work(capsys):
    assert main([*_ARGS, "--json", "--profile"]) == 0
    obj = json.loads(capsys.readouterr().out)
    by_batch = obj["profile"]["by_batch"]
    assert sorted(int(b) for b in by_batch) == [4, 64]
    for b, p in by_batch.items():
        assert p["steps"] > 0 and p["evaluations"] == obj["profile"]["evaluations_per_run"][b]
        assert p["step_seconds"] > 0 and p["evaluation_seconds"] >= 0 and p["compile"] > 0
        assert p["steps_total"] == pytest.approx(p["steps"] * p["step_seconds"])
        parts = p["steps_total"] + p["evaluations_total"] + p["host"]
        assert parts == pytest.approx(p["runs"]) or (p["host"] == 0 and parts >= p["runs"])
    assert main([*_ARGS, "--profile"]) == 0
    out = capsys.readouterr().out
    assert "Where the runs' time went" in out and out.rstrip().splitlines()[-1].lstrip().startswith("all")


def test_where_no_rate_arrived_the_window_follows_the_lowest_loss():
    """Nothing arrived anywhere: the next window goes towards the rate with the lowest loss at the last look,
    down when that is the smallest rate or nothing is finite (diverged), up when it is the largest, and nowhere
    when it is inside (the best rate only needed more steps than the cap allowed)."""
    lrs = hits.lattice(range(-4, 1))  # 2^-2 … 1, half-octaves
    none, caps = [None, None], [100, 100]
    down, _ = hits._extension(lrs, none, caps, 5, np.array([0.1, 0.2, 0.3, 0.4, 0.5]))
    up, _ = hits._extension(lrs, none, caps, 5, np.array([0.5, 0.4, 0.3, 0.2, 0.1]))
    diverged, _ = hits._extension(lrs, none, caps, 5, np.full(5, np.nan))
    assert down.max() < lrs.min() and up.min() > lrs.max() and diverged.max() < lrs.min()
    assert hits._extension(lrs, none, caps, 5, np.array([0.5, 0.2, 0.1, 0.3, np.inf])) is None
    assert hits._extension(lrs, none, caps, 5)[0].max() < lrs.min()  # no losses known: down, as before
