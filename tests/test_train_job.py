"""The training script: CLI contract, checkpoints and resume, predict, and its errors."""

import json

import numpy as np
import pytest

from jaxsgd import data, train
from jaxsgd.cli import main
from jaxsgd.train import _job as job

TINY = ["train", "--rows", "600", "--batch-size", "16"]


def _json(capsys, argv):
    assert main(argv) == 0
    out = capsys.readouterr()
    return json.loads(out.out), out.err


def test_json_contract_and_progress(capsys):
    obj, err = _json(capsys, [*TINY, "--epochs", "2", "--json"])
    for k in ("params", "train_loss", "val_loss", "train_r2", "val_r2", "train_rmse", "val_rmse", "epochs",
              "examples_per_second", "true_params"):
        assert k in obj
    assert obj["epochs"] == 2 and len(obj["params"]) == 3
    assert err.count("examples/s") == 2 and "epoch    2" in err


def test_text_report_shows_truth(capsys):
    assert main([*TINY, "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "true" in out and "R²" in out and "RMSE" in out


def test_resume_is_bit_identical(tmp_path, capsys):
    ck = tmp_path / "run.npz"
    straight, _ = _json(capsys, [*TINY, "--epochs", "4", "--json"])
    _json(capsys, [*TINY, "--epochs", "2", "--json", "--save", str(ck)])
    resumed, err = _json(capsys, [*TINY, "--epochs", "4", "--json", "--resume", str(ck)])
    assert resumed["params"] == straight["params"] and resumed["epochs"] == 4
    assert "epoch    3" in err and "epoch    1" not in err
    # the history goes back to θ = 0 across the resume: what the plot draws is the whole run
    assert resumed["history"]["train_loss"] == straight["history"]["train_loss"]
    assert resumed["history"]["curve"][0] == straight["history"]["curve"][0] and resumed["history"]["curve"][0][0] == 0
    assert [e for e, _ in resumed["history"]["curve"]][-4:] == [e for e, _ in straight["history"]["curve"]][-4:]


def test_quiet_silences_progress_but_not_warnings(capsys):
    _, err = _json(capsys, [*TINY, "--epochs", "2", "--json", "--quiet"])
    assert err == ""
    _, err = _json(capsys, [*TINY, "--epochs", "1", "--json", "--quiet", "--lr", "3e4"])
    assert err.startswith("warning:") and "try --lr" in err


@pytest.mark.parametrize("opt", ["momentum", "adam"])
def test_resume_other_optimizers(tmp_path, capsys, opt):
    ck = tmp_path / "run.npz"
    straight, _ = _json(capsys, [*TINY, "--epochs", "2", "--json", "--optimizer", opt, "--lr", "0.05"])
    _json(capsys, [*TINY, "--epochs", "1", "--json", "--optimizer", opt, "--lr", "0.05", "--save", str(ck)])
    resumed, _ = _json(capsys, [*TINY, "--epochs", "2", "--json", "--optimizer", opt, "--lr", "0.05",
                                "--resume", str(ck)])
    assert resumed["params"] == straight["params"]


def test_predict_in_price_units(tmp_path, capsys):
    ck = tmp_path / "m.npz"
    _json(capsys, [*TINY, "--epochs", "2", "--json", "--save", str(ck)])
    state, transform, _ = train.load_checkpoint(ck)
    csv = tmp_path / "new.csv"
    csv.write_text("age_years,floor_area_m2,id\n10,100,1\n50,200,2\n")
    assert main(["predict", "--checkpoint", str(ck), "--csv", str(csv)]) == 0
    lines = capsys.readouterr().out.split()
    assert lines[0] == "line,prediction"
    assert [int(v.split(",")[0]) for v in lines[1:]] == [2, 3]
    got = np.array([v.split(",")[1] for v in lines[1:]], float)
    ref = train.predict_prices(state.params, transform, np.array([[100.0, 10.0], [200.0, 50.0]]))
    np.testing.assert_allclose(got, ref, atol=0.01)
    assert 0 < got[0] < got[1] < 1e6
    bad = tmp_path / "bad.csv"
    bad.write_text("floor_area_m2,x\n1,2\n")
    assert main(["predict", "--checkpoint", str(ck), "--csv", str(bad)]) == 2
    assert "missing feature column age_years" in capsys.readouterr().err


def test_checkpoint_is_atomic_and_kept_on_nonfinite_loss(tmp_path, monkeypatch, capsys):
    ck = tmp_path / "good.npz"
    real_fit = job.fit

    def fit_then_blow_up(*args, on_epoch, **kw):
        out = real_fit(*args, on_epoch=on_epoch, **{**kw, "epochs": 1})
        h = out.history
        on_epoch(out.state._replace(epoch=out.state.epoch + 1),
                 h._replace(train_loss=[*h.train_loss, float("nan")], val_loss=[*h.val_loss, float("nan")],
                            examples_per_second=[*h.examples_per_second, 1.0]))
        return out

    monkeypatch.setattr(job, "fit", fit_then_blow_up)
    assert main([*TINY, "--epochs", "3", "--save", str(ck)]) == 2
    err = capsys.readouterr().err
    assert "non-finite loss at epoch 2" in err and "smaller learning rate" in err and str(ck) in err
    state, _, _ = train.load_checkpoint(ck)
    assert int(state.epoch) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["good.npz"]  # no temporary file left


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--csv", "/nonexistent.csv", "--features", "a", "--target", "b"], "--rows sets the size of the built-in"),
        (["--batch-size", "0"], "argument --batch-size: must be > 0"),
        (["--batch-size", "100000"], "larger than the 480 training rows"),
        (["--lr", "0"], "argument --lr: must be > 0"),
        (["--lr", "nan"], "not a finite number"),
        (["--epochs", "0"], "argument --epochs: must be > 0"),
        (["--optimizer", "sgdx"], "invalid choice"),
        (["--resume", "/nonexistent.npz"], "no such checkpoint"),
    ],
)
def test_bad_input_one_line_exit_2(capsys, extra, needle):
    assert main([*TINY, *extra]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_a_missing_file_is_named(capsys):
    assert main(["train", "--data", "/nonexistent.csv", "--features", "a", "--target", "b"]) == 2
    assert "/nonexistent.csv: no such file" in capsys.readouterr().err


def test_plot_paths_that_would_lose_something_are_refused_before_the_run(tmp_path, capsys):
    image = tmp_path / "old.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    image.chmod(0o444)
    link = tmp_path / "link.png"
    link.symlink_to(image)
    for path, needle in ((image, "read-only"), (link, "symbolic link"), (tmp_path / ("x" * 300 + ".png"), "longer")):
        assert main([*TINY, "--epochs", "1", "--plot", str(path)]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1
    assert image.read_bytes() == b"\x89PNG\r\n\x1a\n" and link.is_symlink()


def test_bad_csv_inputs(tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main(["train", "--csv", str(empty), "--features", "a", "--target", "b"]) == 2
    assert "empty" in capsys.readouterr().err
    text = tmp_path / "t.csv"
    text.write_text("a,b\n1,2\nx,3\n")
    assert main(["train", "--csv", str(text), "--features", "a", "--target", "b"]) == 2
    assert "line 3, column a: not a number" in capsys.readouterr().err
    assert main(["train", "--csv", str(text), "--features", "zz", "--target", "b"]) == 2
    assert "unknown column zz; available: a, b" in capsys.readouterr().err


def test_resume_rejects_non_checkpoint_and_feature_mismatch(tmp_path, capsys):
    junk = tmp_path / "junk.npz"
    junk.write_text("not a checkpoint")
    assert main([*TINY, "--resume", str(junk)]) == 2
    assert "not a jaxsgd checkpoint" in capsys.readouterr().err
    ck = tmp_path / "c.npz"
    _json(capsys, [*TINY, "--epochs", "1", "--json", "--save", str(ck)])
    csv = tmp_path / "d.csv"
    csv.write_text("a,y\n" + "".join(f"{i},{i % 7}\n" for i in range(50)))
    assert main(["train", "--csv", str(csv), "--features", "a", "--target", "y", "--resume", str(ck)]) == 2
    assert "checkpoint has features floor_area_m2,age_years" in capsys.readouterr().err


def test_california_quality_bar(california_csv, capsys):
    obj, _ = _json(capsys, ["train", "--csv", str(california_csv), "--features",
                            "median_income,housing_median_age", "--target", "median_house_value", "--json"])
    assert obj["train_r2"] >= 0.50


def test_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")
    out = tmp_path / "loss.png"
    obj, _ = _json(capsys, [*TINY, "--epochs", "2", "--plot", str(out), "--json"])
    assert out.read_bytes().startswith(b"\x89PNG")
    # L*, the line drawn, is the full-batch optimum: no training loss lies below it by more than rounding
    assert 0 < obj["l_star"] <= min(v for _, v in obj["history"]["curve"]) * (1 + 1e-5)


def test_predict_from_feature_columns_only(tmp_path, capsys):
    ck = tmp_path / "m.npz"
    _json(capsys, [*TINY, "--epochs", "1", "--json", "--save", str(ck)])
    csv = tmp_path / "only.csv"
    csv.write_text("floor_area_m2,age_years\n120,5\n")
    assert main(["predict", "--checkpoint", str(ck), "--csv", str(csv)]) == 0
    assert len(capsys.readouterr().out.split()) == 2
    assert main(["predict", "--checkpoint", str(ck), "--csv", str(tmp_path / "none.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def _one_line_error(capsys, argv, *needles):
    assert main(argv) == 2
    out = capsys.readouterr()
    assert out.err.count("\n") == 1 and "Traceback" not in out.err, out.err
    for needle in needles:
        assert needle in out.err
    return out.err


def _curve_csv(path, n=300, x_scale=1.0, y_scale=1.0, y_shift=0.0):
    """``y = σ(2a) + noise`` (and a second target column ``y2``), features and targets scaled as asked."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=n)
    y = 1 / (1 + np.exp(-2 * a)) + 0.02 * rng.normal(size=n)
    rows = "".join(f"{float(u) * x_scale!r},{(float(t) - y_shift) * y_scale!r},{float(t)!r}\n"
                   for u, t in zip(a, y, strict=True))
    path.write_text("a,y,y2\n" + rows)
    return path


CURVE = ["--features", "a", "--target", "y", "--batch-size", "16", "--epochs", "2", "--json"]


def test_resume_onto_another_target_is_refused(tmp_path, capsys):
    csv = _curve_csv(tmp_path / "d.csv")
    ck = tmp_path / "c.npz"
    _json(capsys, ["train", "--csv", str(csv), *CURVE, "--save", str(ck)])
    _one_line_error(capsys, ["train", "--csv", str(csv), "--features", "a", "--target", "y2", "--epochs", "3",
                             "--batch-size", "16", "--resume", str(ck)],
                    "trained on target y, not y2", "--target y")


def test_save_never_replaces_the_input_or_a_file_not_ours(tmp_path, capsys):
    csv = _curve_csv(tmp_path / "d.csv")
    before = csv.read_text()
    _one_line_error(capsys, ["train", "--csv", str(csv), *CURVE, "--save", str(csv)], "is the file given as --data")
    notes = tmp_path / "notes.npz"
    notes.write_text("my notes")
    _one_line_error(capsys, [*TINY, "--epochs", "1", "--save", str(notes)], "not a jaxsgd checkpoint", "left alone")
    _one_line_error(capsys, [*TINY, "--epochs", "1", "--save", "/dev/null"], "not a regular file")
    _one_line_error(capsys, [*TINY, "--epochs", "1", "--save", str(tmp_path)], "is a directory")
    assert csv.read_text() == before and notes.read_text() == "my notes"
    ck = tmp_path / "ck.npz"  # a checkpoint of ours may be replaced by the next run
    _json(capsys, [*TINY, "--epochs", "1", "--json", "--save", str(ck)])
    _json(capsys, [*TINY, "--epochs", "1", "--json", "--save", str(ck)])


def test_output_paths_are_checked_before_training(tmp_path, capsys):
    """One line and no epoch run: the path is refused before any work."""
    _one_line_error(capsys, [*TINY, "--epochs", "1", "--save", str(tmp_path / "no" / "x.npz")], "does not exist")
    _one_line_error(capsys, [*TINY, "--epochs", "1", "--plot", str(tmp_path / "no" / "x.png")], "does not exist")
    _one_line_error(capsys, [*TINY, "--epochs", "1", "--plot", str(tmp_path / "x.txt")], "image extension")
    ck = tmp_path / "x.png"
    _one_line_error(capsys, [*TINY, "--epochs", "1", "--plot", str(ck), "--save", str(ck)], "the file given as --save")
    csv = _curve_csv(tmp_path / "d.png")  # an input that happens to have an image's name
    _one_line_error(capsys, ["train", "--csv", str(csv), *CURVE, "--plot", str(csv)], "the file given as --data")
    assert csv.read_text().startswith("a,y,y2")


def test_predict_rows_keep_their_line_numbers(tmp_path, capsys):
    ck = tmp_path / "m.npz"
    _json(capsys, [*TINY, "--epochs", "1", "--json", "--save", str(ck)])
    csv = tmp_path / "gaps.csv"
    csv.write_text("floor_area_m2,age_years\n100,10\n,20\n150,30\n\n200,\n250,5\n")
    assert main(["predict", "--checkpoint", str(ck), "--csv", str(csv), "--drop-missing"]) == 0
    out = capsys.readouterr()
    rows = out.out.splitlines()
    assert rows[0] == "line,prediction"
    assert [r.split(",")[0] for r in rows[1:]] == ["2", "4", "7"]  # lines 3 and 6 dropped, 5 is blank
    assert out.err.count("\n") == 1 and "dropped 2 row(s) with missing values (line 3, 6)" in out.err
    state, transform, _ = train.load_checkpoint(ck)
    ref = train.predict_prices(state.params, transform, np.array([[100.0, 10], [150, 30], [250, 5]]))
    np.testing.assert_allclose([float(r.split(",")[1]) for r in rows[1:]], ref, atol=0.01)


@pytest.mark.parametrize("seed", ["-1", str(2**64), "1.5"])
def test_seed_out_of_range(capsys, seed):
    _one_line_error(capsys, [*TINY, "--epochs", "1", "--seed", seed], "--seed")


def test_largest_seed_trains(capsys):
    obj, _ = _json(capsys, [*TINY, "--epochs", "1", "--json", "--seed", str(2**64 - 1)])
    assert obj["epochs"] == 1


def test_rows_beyond_memory_are_refused(capsys):
    err = _one_line_error(capsys, ["train", "--rows", str(10**15)], "use at most", "GB")
    assert "1,000,000,000,000,000 rows" in err


def test_huge_features_train_like_ordinary_ones(tmp_path, capsys):
    plain, _ = _json(capsys, ["train", "--csv", str(_curve_csv(tmp_path / "a.csv")), *CURVE])
    huge, err = _json(capsys, ["train", "--csv", str(_curve_csv(tmp_path / "b.csv", x_scale=1e201)), *CURVE])
    np.testing.assert_allclose(huge["params"], plain["params"], rtol=1e-4, atol=1e-6)
    assert huge["train_r2"] > 0.5 and "warning" not in err


def test_huge_targets_report_in_their_units(tmp_path, capsys):
    plain, _ = _json(capsys, ["train", "--csv", str(_curve_csv(tmp_path / "a.csv")), *CURVE])
    huge, _ = _json(capsys, ["train", "--csv", str(_curve_csv(tmp_path / "b.csv", y_scale=1e300)), *CURVE])
    assert huge["train_rmse"] == pytest.approx(plain["train_rmse"] * 1e300, rel=1e-4)
    assert huge["train_r2"] == pytest.approx(plain["train_r2"], rel=1e-4)


def test_targets_whose_range_overflows_are_refused(tmp_path, capsys):
    csv = _curve_csv(tmp_path / "d.csv", y_scale=1.75e308, y_shift=0.5)
    _one_line_error(capsys, ["train", "--csv", str(csv), *CURVE], "target y ranges from", "rescale")


def test_runaway_learning_rate_is_named(capsys):
    obj, err = _json(capsys, [*TINY, "--epochs", "1", "--json", "--lr", "1e30"])
    assert "θ grew to" in err and "learning rate is probably too large; try --lr 0.5" in err
    assert len(obj["warnings"]) == 1
    ok, err = _json(capsys, [*TINY, "--epochs", "1", "--json"])
    assert ok["warnings"] == [] and "warning" not in err


def test_resume_onto_targets_far_outside_the_fitted_scale(tmp_path, capsys):
    ck = tmp_path / "c.npz"
    _json(capsys, ["train", "--csv", str(_curve_csv(tmp_path / "a.csv")), *CURVE, "--save", str(ck)])
    far = _curve_csv(tmp_path / "b.csv", y_scale=1e300)
    _one_line_error(capsys, ["train", "--csv", str(far), *CURVE, "--epochs", "3", "--resume", str(ck)],
                    "too far outside the range", "line ")


@pytest.mark.parametrize("lr", ["1e300", "1e-320"])
def test_train_names_an_lr_float32_cannot_hold(capsys, lr):
    from jaxsgd.cli import main

    assert main(["train", "--rows", "200", "--epochs", "1", "--lr", lr]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--lr must be a number float32 holds" in err and "Warning" not in err


def test_raw_unit_parameters_reproduce_the_predictions():
    import math

    r = train.run_training(train.TrainConfig(data.DataSource(n_rows=600), epochs=1), log=lambda s: None)
    ds = data.synthetic_house_prices(600, seed=0)
    b, *w = r.raw_params
    lo, hi = r.price_scale
    x = ds.x[:5]
    mine = lo + (hi - lo) / (1 + np.exp(-(b + x @ np.array(w))))
    tr = data.Transform(np.array(r.transform["mean"]), np.array(r.transform["std"]), r.transform["y_lo"],
                        r.transform["y_hi"])
    from jaxsgd.model import Params

    theirs = train.predict_prices(Params.from_theta(np.asarray(r.params, np.float32)), tr, x)
    np.testing.assert_allclose(mine, theirs, rtol=2e-5)
    # the price effect of one unit is the slope of that curve at the average row
    z = b + ds.x[data.split(600, 0.2, seed=0)[0]].mean(axis=0) @ np.array(w)
    slope = (hi - lo) * math.exp(-z) / (1 + math.exp(-z)) ** 2 * w[0]
    assert r.price_per_unit[0] == pytest.approx(slope, rel=1e-9)
