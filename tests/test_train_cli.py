"""``jaxsgd train`` and ``jaxsgd predict`` as a user types them: results that are never a silent NaN or inf,
predictions that do not depend on the other rows, checkpoints that are never lost nor put over another file,
and ``--resume`` that remembers its run."""

import errno
import json
import os

import jax
import mpmath
import numpy as np
import pytest

from jaxsgd import data, paths, train
from jaxsgd.cli import main
from jaxsgd.model import Params
from jaxsgd.train import _job as job

FAST = ["--epochs", "2", "--batch-size", "16", "--val-fraction", "0.25"]


def _csv(path, *, x_scale=1.0, y_scale=1.0, n=160, seed=0):
    """Two features and a σ-shaped target with noise; features and target scaled as asked."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    y = (1 / (1 + np.exp(-(3 * a - 2 * b))) + rng.normal(0, 0.05, n)) * y_scale
    with open(path, "w") as f:
        f.write("a,b,y\n")
        for i in range(n):
            f.write(f"{float(a[i] * x_scale)!r},{float(b[i] * x_scale)!r},{float(y[i])!r}\n")
    return path


def _run(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def _json(capsys, argv):
    code, out, err = _run(capsys, argv)
    assert code == 0, err
    return json.loads(out), err


def _one_line_error(capsys, argv, *needles):
    code, out, err = _run(capsys, argv)
    assert code == 2 and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err
    return out, err


# ---------------------------------------------------------------- item 8: no silent NaN or inf
def test_predict_a_row_whose_terms_cancel_beyond_float32(tmp_path, capsys):
    # w·x = 2·1e300 − 2·1e300: in float32 both terms are inf and the score NaN; the score is b exactly
    ck = tmp_path / "c.npz"
    state = train.TrainState.create(Params.from_theta(np.array([0.75, 2.0, -2.0], np.float32)),
                                    optimizer=train.make_optimizer("sgd"), key=jax.random.key(0), learning_rate=0.5)
    meta = {"features": ["a", "b"], "target": "y", "optimizer": "sgd", "lr": 0.5, "batch_size": 16, "seed": 0,
            "source": "test"}
    train.save_checkpoint(ck, state, data.Transform(np.zeros(2), np.ones(2), 100.0, 300.0), meta)
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n1,1\n1e300,1e300\n")
    code, out, err = _run(capsys, ["predict", "--checkpoint", str(ck), "--data", str(rows)])
    assert code == 0, err
    want = 100 + 200 * (1 / (1 + mpmath.exp(-mpmath.mpf(0.75))))  # σ(0.75 + 2 − 2) and σ(0.75 + 0)
    assert out.splitlines() == ["line,prediction", f"2,{float(want):.2f}", f"3,{float(want):.2f}"]


def test_predict_refuses_a_row_beyond_float64_in_training_units(tmp_path, capsys):
    ck = tmp_path / "c.npz"
    state = train.TrainState.create(Params.from_theta(np.array([0.0, 1.0], np.float32)),
                                    optimizer=train.make_optimizer("sgd"), key=jax.random.key(0), learning_rate=0.5)
    meta = {"features": ["a"], "target": "y", "optimizer": "sgd", "source": "test"}
    train.save_checkpoint(ck, state, data.Transform(np.zeros(1), np.array([1e-10]), 0.0, 1.0), meta)
    rows = tmp_path / "rows.csv"
    rows.write_text("a\n1\n1e300\n")
    out, _ = _one_line_error(capsys, ["predict", "--checkpoint", str(ck), "--data", str(rows)],
                             "line 3, column a", "overflows")
    assert out == ""


def test_subnormal_features_are_refused_by_column(tmp_path, capsys):
    tiny = _csv(tmp_path / "tiny.csv", x_scale=1e-310)
    _one_line_error(capsys, ["train", "--data", str(tiny), "--features", "a,b", "--target", "y", *FAST],
                    "feature a varies by only", "multiply it by 1e300")


def test_huge_features_and_prices_report_the_same_effects(tmp_path, capsys):
    # features and prices both × 1e307: θ in scaled units, R² and the price change per unit are unchanged
    plain, _ = _json(capsys, ["train", "--data", str(_csv(tmp_path / "a.csv")), "--features", "a,b",
                              "--target", "y", *FAST, "--json"])
    huge, err = _json(capsys, ["train", "--data", str(_csv(tmp_path / "b.csv", x_scale=1e307, y_scale=1e307)),
                               "--features", "a,b", "--target", "y", *FAST, "--json"])
    assert "warning" not in err
    np.testing.assert_allclose(huge["params"], plain["params"], rtol=1e-4, atol=1e-6)
    # float32 training differs from the plain run by rounding only: 1e-4 relative covers it
    np.testing.assert_allclose(huge["price_per_unit"], plain["price_per_unit"], rtol=1e-4)
    assert all(abs(v) > 0.05 for v in huge["price_per_unit"])


def test_raw_units_of_huge_features_match_an_mpmath_reference():
    mpmath.mp.dps = 50
    tr = data.Transform(np.array([3e306, -2e306]), np.array([1e306, 4e305]), 1e306, 5e307)
    theta = np.array([0.25, 1.5, -0.75], np.float32)
    raw = train.raw_units(Params.from_theta(theta), tr, np.array([[3e306, -2e306], [3e306, -2e306]]))
    t = [mpmath.mpf(float(v)) for v in theta]
    span = mpmath.mpf(tr.y_hi) - mpmath.mpf(tr.y_lo)
    slope = mpmath.exp(-t[0]) / (1 + mpmath.exp(-t[0])) ** 2  # the average row is the mean: z̄ = b
    for j in range(2):
        want = span * slope * t[j + 1] / mpmath.mpf(float(tr.std[j]))
        assert raw["price_per_unit"][j] == pytest.approx(float(want), rel=1e-13)
        assert raw["raw_params"][j + 1] == pytest.approx(float(t[j + 1] / mpmath.mpf(float(tr.std[j]))), rel=1e-15)


# ---------------------------------------------------------------- item 12: the same prediction for the same row
def test_a_rows_prediction_does_not_depend_on_the_other_rows(tmp_path, capsys, california_csv):
    ck = tmp_path / "cal.npz"
    assert main(["train", "--data", str(california_csv), "--features",
                 "median_income,housing_median_age,longitude,latitude,total_rooms", "--target",
                 "median_house_value", "--epochs", "1", "--save", str(ck), "--quiet", "--json"]) == 0
    capsys.readouterr()
    with open(california_csv) as f:
        head = [next(f) for _ in range(9)]
    few = tmp_path / "few.csv"
    few.write_text("".join(head))
    assert main(["predict", "--checkpoint", str(ck), "--data", str(few)]) == 0
    small = capsys.readouterr().out.splitlines()
    assert main(["predict", "--checkpoint", str(ck), "--data", str(california_csv)]) == 0
    full = capsys.readouterr().out.splitlines()
    assert small == full[:len(small)]


def test_predictions_are_float64_sums_of_the_rows_own_terms():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1000, 5)) * 100
    tr = data.Transform(x.mean(axis=0), x.std(axis=0), 10.0, 1e6)
    p = Params.from_theta(rng.normal(size=6).astype(np.float32))
    every = train.predict_prices(p, tr, x)
    alone = np.concatenate([train.predict_prices(p, tr, x[i:i + 1]) for i in range(0, 1000, 97)])
    np.testing.assert_array_equal(every[::97], alone)
    mpmath.mp.dps = 40
    theta = [mpmath.mpf(float(v)) for v in np.asarray(p.to_theta())]
    for i in (0, 500, 999):
        z = theta[0] + sum(theta[j + 1] * (mpmath.mpf(x[i, j]) - mpmath.mpf(tr.mean[j])) / mpmath.mpf(tr.std[j])
                           for j in range(5))
        want = 10 + (mpmath.mpf(1e6) - 10) / (1 + mpmath.exp(-z))
        assert every[i] == pytest.approx(float(want), rel=1e-13)  # float64 rounding of a few terms


def test_missing_values_name_only_the_columns_with_blanks(capsys, california_csv):
    _, err = _one_line_error(capsys, ["train", "--data", str(california_csv), "--features",
                                      "longitude,latitude,total_bedrooms", "--target", "median_house_value"],
                             "missing values in total_bedrooms (", "--drop-missing")
    assert "longitude" not in err


def test_a_text_column_gets_a_hint(capsys, california_csv):
    _one_line_error(capsys, ["train", "--data", str(california_csv), "--features", "ocean_proximity",
                             "--target", "median_house_value"],
                    "not a number: 'NEAR BAY'", "leave ocean_proximity out of --features", "0/1 columns")


def test_a_text_column_as_the_target_gets_the_targets_hint(capsys, california_csv):
    _, err = _one_line_error(capsys, ["train", "--data", str(california_csv), "--features", "median_income",
                                      "--target", "ocean_proximity"],
                             "not a number: 'NEAR BAY'", "the target must be numbers: choose another --target")
    assert "out of --features" not in err


# ---------------------------------------------------------------- item 9: files
def _someone_writes_first(monkeypatch, write):
    """``write()`` runs after start-up's checks, as training starts: a file put at an output path meanwhile."""
    real_fit = job.fit

    def fit(*args, **kw):
        write()
        return real_fit(*args, **kw)

    monkeypatch.setattr(job, "fit", fit)


def test_a_file_put_at_save_after_start_up_is_not_replaced(tmp_path, capsys, monkeypatch):
    ck = tmp_path / "run.npz"
    _someone_writes_first(monkeypatch, lambda: ck.write_text("someone else's notes\n"))
    code, out, err = _run(capsys, ["train", "--rows", "300", *FAST, "--save", str(ck)])
    assert code == 2 and ck.read_text() == "someone else's notes\n"
    assert "trained 2 epochs" in out  # the finished run is reported all the same
    assert err.strip().splitlines()[-1].startswith(f"error: jaxsgd train: --save {ck}: a file appeared there")
    assert sorted(os.listdir(tmp_path)) == ["run.npz"]  # no temporary file left behind


def test_a_file_put_at_plot_after_start_up_is_not_replaced(tmp_path, capsys, monkeypatch):
    png = tmp_path / "loss.png"
    _someone_writes_first(monkeypatch, lambda: png.write_bytes(b"\x89PNG someone else's picture"))
    code, out, err = _run(capsys, ["train", "--rows", "300", *FAST, "--plot", str(png), "--quiet"])
    assert code == 2 and png.read_bytes() == b"\x89PNG someone else's picture"
    assert "trained 2 epochs" in out and "a file appeared there" in err and err.count("\n") == 1


def test_the_plot_of_a_rerun_replaces_its_own_old_plot(tmp_path, capsys):
    png = tmp_path / "loss.png"
    for _ in range(2):
        code, _, err = _run(capsys, ["train", "--rows", "300", *FAST, "--plot", str(png), "--quiet"])
        assert code == 0, err
    assert paths.is_image(png)


def test_a_full_disk_keeps_the_report_and_names_the_path(tmp_path, capsys, monkeypatch):
    ck = tmp_path / "run.npz"

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(paths.os, "fsync", full)
    code, out, err = _run(capsys, ["train", "--rows", "300", *FAST, "--save", str(ck), "--json"])
    assert code == 2 and json.loads(out)["epochs"] == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: jaxsgd train: --save {ck}: cannot write: No space left on device; free space")
    assert "choose another --save" in last and not ck.exists() and os.listdir(tmp_path) == []


def test_resume_says_what_changed_and_refuses_another_seed(tmp_path, capsys):
    ck = tmp_path / "run.npz"
    _json(capsys, ["train", "--rows", "300", *FAST, "--save", str(ck), "--json"])
    obj, err = _json(capsys, ["train", "--rows", "300", "--epochs", "3", "--batch-size", "32", "--lr", "0.25",
                              "--resume", str(ck), "--json"])
    assert obj["epochs"] == 3
    assert "--batch-size 16 → 32" in err and "--lr 0.5 → 0.25" in err
    _, silent = _json(capsys, ["train", "--rows", "300", "--epochs", "3", "--resume", str(ck), "--json"])
    assert "→" not in silent  # the checkpoint's own settings: nothing to say
    _one_line_error(capsys, ["train", "--rows", "300", "--epochs", "3", "--seed", "7", "--resume", str(ck)],
                    "trained with --seed 0", "resume with --seed 0")


def test_resume_remembers_the_data_of_its_checkpoint(tmp_path, capsys, monkeypatch):
    csv = _csv(tmp_path / "d.csv")
    ck = tmp_path / "run.npz"
    first, _ = _json(capsys, ["train", "--data", str(csv), "--features", "a,b", "--target", "y", *FAST,
                              "--save", str(ck), "--json"])
    straight, _ = _json(capsys, ["train", "--data", str(csv), "--features", "a,b", "--target", "y",
                                 "--epochs", "3", "--batch-size", "16", "--val-fraction", "0.25", "--json"])
    monkeypatch.chdir(tmp_path.parent)  # the checkpoint keeps the file's absolute path
    resumed, _ = _json(capsys, ["train", "--epochs", "3", "--val-fraction", "0.25", "--resume", str(ck), "--json"])
    assert resumed["source"] == str(csv) and resumed["feature_names"] == ["a", "b"]
    assert resumed["params"] == straight["params"]
    # a new file with the checkpoint's columns needs neither --features nor --target
    again, _ = _json(capsys, ["train", "--data", str(csv), "--epochs", "3", "--val-fraction", "0.25",
                              "--resume", str(ck), "--json"])
    assert again["params"] == straight["params"]
    assert first["epochs"] == 2


def test_a_checkpoint_whose_history_holds_text_is_refused_before_training(tmp_path, capsys):
    ck = tmp_path / "run.npz"
    _json(capsys, ["train", "--rows", "300", *FAST, "--save", str(ck), "--json"])
    with np.load(ck) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    meta["history"]["train_loss"] = ["x", "y"]
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(ck, **arrays)
    out, _ = _one_line_error(capsys, ["train", "--epochs", "3", "--resume", str(ck)],
                             "not a jaxsgd checkpoint", "history")
    assert out == ""


def test_resuming_on_other_rows_says_so_and_a_refusal_stays_one_line(tmp_path, capsys):
    from jaxsgd.cli import main

    ck = tmp_path / "r.npz"
    assert main(["train", "--rows", "500", "--epochs", "1", "--save", str(ck), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(ck), "--epochs", "2", "--rows", "1000", "--quiet"]) == 0
    assert "on other data or another split than it was trained on (--rows 500 → 1000" in capsys.readouterr().err
    assert main(["train", "--resume", str(ck), "--epochs", "3", "--rows", "1000", "--val-fraction", "0.5",
                 "--quiet"]) == 0
    assert "--val-fraction 0.2 → 0.5" in capsys.readouterr().err
    assert main(["train", "--rows", "1", "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--batch-size 32 is larger than the 1 training rows" in err


def test_prices_near_the_top_of_float64_give_finite_price_changes(tmp_path, capsys):
    import json

    import numpy as np

    from jaxsgd.cli import main

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2))
    t = 1 + np.tanh(x @ [1.0, -1.0])
    out = {}
    for scale in (1.0, 1e307):
        p = tmp_path / f"y{scale:g}.csv"
        p.write_text("a,b,y\n" + "".join(f"{float(a)!r},{float(b)!r},{float(v * scale)!r}\n"
                                         for (a, b), v in zip(x, t, strict=True)))
        assert main(["train", "--data", str(p), "--features", "a,b", "--target", "y", "--epochs", "2", "--quiet",
                     "--json"]) == 0
        out[scale] = json.loads(capsys.readouterr().out)
    assert out[1e307]["warnings"] == []
    np.testing.assert_allclose(np.asarray(out[1e307]["price_per_unit"]) / 1e307, out[1.0]["price_per_unit"],
                               rtol=1e-6)


def test_a_save_that_keeps_failing_is_warned_of_once(tmp_path, capsys, monkeypatch):
    ck = tmp_path / "run.npz"
    _someone_writes_first(monkeypatch, lambda: ck.write_text("someone else's notes\n"))
    code, out, err = _run(capsys, ["train", "--rows", "300", "--epochs", "6", "--save", str(ck), "--quiet"])
    assert code == 2 and ck.read_text() == "someone else's notes\n" and "trained 6 epochs" in out
    assert err.count("warning: epoch") == 1, err  # the same reason at every epoch is said once


def test_resuming_when_the_remembered_data_file_is_gone_says_where_it_came_from(tmp_path, capsys):
    csv, ck = tmp_path / "houses.csv", tmp_path / "run.npz"
    rng = np.random.default_rng(0)
    csv.write_text("area,price\n" + "".join(f"{a:.3f},{2 * a + 1:.3f}\n" for a in rng.uniform(50, 200, 200)))
    code, _, err = _run(capsys, ["train", "--data", str(csv), "--features", "area", "--target", "price",
                                 "--epochs", "1", "--save", str(ck), "--quiet"])
    assert code == 0, err
    csv.unlink()
    code, _, err = _run(capsys, ["train", "--resume", str(ck), "--epochs", "1", "--quiet"])
    assert code == 2 and err.count("\n") == 1
    assert f"{csv} (as the checkpoint remembers it), is not there" in err and "--data PATH" in err
