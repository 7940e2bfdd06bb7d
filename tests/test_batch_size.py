"""The batch-size study: one program per B, steps against B, the fit, the CLI contract."""

import json

import jax
import numpy as np
import pytest

from jaxsgd import batch_size as bs
from jaxsgd import data, runs
from jaxsgd.cli import main


@pytest.fixture(scope="module")
def small():
    ds = data.synthetic_house_prices(1024, seed=3)
    tr = data.fit_transform(ds)
    return tr.features(ds.x), tr.target(ds.y)


@pytest.fixture(scope="module")
def report(small):
    x, y = small
    cfg = bs.StudyConfig(batch_sizes=(1, 4, 16, 64, 256), learning_rates=(0.5, 2.0, 8.0, 32.0), seeds=2,
                         target_fraction=0.02, max_rows=1024, max_steps=4000)
    return bs.run_study(x, y, cfg)


def test_steps_non_increasing_within_noise(report):
    s = [v for v in report["steps"] if v is not None]
    assert len(s) == 5
    for a, b in zip(s, s[1:], strict=False):
        assert b <= 1.5 * a + 2  # fewer (or about as many) steps for a larger batch
    assert s[-1] < s[0]
    e = report["examples"]
    assert e[-1] > e[0]  # but more examples


def test_one_compiled_program_per_batch_size(report):
    assert report["compiled_programs"] <= len(report["batch_sizes"])


def test_fit_recovers_a_known_curve():
    b = np.array([1, 2, 4, 8, 16, 64, 256])
    s = 100 * (1 + 12 / b)
    s_min, b_crit = bs.fit_critical_batch(b, s)
    assert s_min == pytest.approx(100) and b_crit == pytest.approx(12)


def test_steps_to_target_checks_every_step(small):
    """Hits are counted per step: an unreachable target is never hit, a trivial one at step 1,
    and a lower target never takes fewer steps than a higher one on the same run."""
    x, y = small

    def steps(target, epochs=50):
        res = runs.steps_to_target(x, y, batch_size=8, learning_rates=[4.0], seeds=1, target=target,
                                   max_epochs=epochs, key=jax.random.key(0))
        return int(res.steps[0]), int(res.steps_run)

    never, ran = steps(-1.0, epochs=1)
    assert never == -1 and ran == x.shape[0] // 8
    assert steps(1.0)[0] == 1
    s = [steps(t)[0] for t in (0.01, 0.003, 0.001)]
    assert 1 <= s[0] <= s[1] <= s[2]
    assert steps(0.003)[0] == s[1]  # reproducible


def test_train_many_equals_single_runs(small):
    from jaxsgd.sgd import train

    x, y = small
    keys = jax.random.split(jax.random.key(5), 3)
    lrs = np.array([0.5, 1.0, 2.0], np.float32)
    many = runs.train_many(x, y, lrs, keys, batch_size=32, epochs=2)
    for i in range(3):
        p, _ = train(x, y, batch_size=32, epochs=2, learning_rate=float(lrs[i]), key=keys[i])
        run_i = np.concatenate([[many.b[i]], many.w[i]])
        np.testing.assert_allclose(run_i, np.asarray(p.to_theta()), rtol=1e-5, atol=1e-6)


def test_cli_json_contract(capsys):
    assert main(["batch-size", "--rows", "600", "--batch-sizes", "4,64", "--lrs", "1,8", "--seeds", "1",
                 "--json"]) == 0
    out = capsys.readouterr()
    obj = json.loads(out.out)
    for k in ("batch_sizes", "best_lr", "steps", "examples", "b_simple", "b_crit", "b_simple_params"):
        assert k in obj
    assert obj["batch_sizes"] == [4, 64] and len(obj["b_simple_params"]) == 3
    assert "B=    4" in out.err and "B=   64" in out.err


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--batch-sizes", "0,4"], "batch sizes must be > 0"),
        (["--batch-sizes", "a"], "whole numbers"),
        (["--batch-sizes", "100000"], "between 1 and the"),
        (["--lrs", "-1"], "learning rates must be"),
        (["--target-fraction", "2"], "target-fraction must be in"),
        (["--seeds", "0"], "must be > 0"),
        (["--csv", "/nope.csv", "--features", "a", "--target", "b"], "no such file"),
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
    assert main(["batch-size", "--rows", "600", "--batch-sizes", "4,64", "--lrs", "1,8", "--seeds", "1",
                 "--plot", str(out)]) == 0
    assert out.stat().st_size > 1000 and "B_crit" in capsys.readouterr().out


def test_max_steps_bounds_the_steps(capsys):
    """B = 1 runs whole epochs of 600 steps; a hit after --max-steps is not a hit."""
    argv = ["batch-size", "--rows", "600", "--batch-sizes", "1,64", "--lrs", "1,8", "--seeds", "1", "--json"]
    assert main([*argv, "--max-steps", "1"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["steps"] == [None, None]
    assert "no learning rate reached the target in 1 steps" in out.err
    assert main([*argv, "--max-steps", "40"]) == 0
    steps = json.loads(capsys.readouterr().out)["steps"]
    assert all(s is None or s <= 40 for s in steps) and steps[1] is not None


def test_study_refuses_a_seed_out_of_range(small):
    x, y = small
    with pytest.raises(ValueError, match="seed must be"):
        bs.run_study(x, y, bs.StudyConfig(seed=-1))
