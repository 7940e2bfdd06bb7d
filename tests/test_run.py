"""The training script: CLI contract, checkpoints and resume, predict, and its errors."""

import json

import numpy as np
import pytest

from jaxsgd import checkpoint, run
from jaxsgd.cli import main

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
    state, transform, meta = checkpoint.load(ck)
    csv = tmp_path / "new.csv"
    csv.write_text("age_years,floor_area_m2,id\n10,100,1\n50,200,2\n")
    assert main(["predict", "--checkpoint", str(ck), "--csv", str(csv)]) == 0
    lines = capsys.readouterr().out.split()
    assert lines[0] == "prediction"
    got = np.array(lines[1:], float)
    ref = run.predict_prices(state.params, transform, np.array([[100.0, 10.0], [200.0, 50.0]]))
    np.testing.assert_allclose(got, ref, atol=0.01)
    assert 0 < got[0] < got[1] < 1e6
    bad = tmp_path / "bad.csv"
    bad.write_text("floor_area_m2,x\n1,2\n")
    assert main(["predict", "--checkpoint", str(ck), "--csv", str(bad)]) == 2
    assert "missing feature column age_years" in capsys.readouterr().err


def test_checkpoint_is_atomic_and_kept_on_nonfinite_loss(tmp_path, monkeypatch, capsys):
    ck = tmp_path / "good.npz"
    real_fit = run.fit

    def fit_then_blow_up(*args, on_epoch, **kw):
        out = real_fit(*args, on_epoch=on_epoch, **{**kw, "epochs": 1})
        on_epoch(out[2]._replace(epoch=out[2].epoch + 1), float("nan"), float("nan"), 1.0)
        return out

    monkeypatch.setattr(run, "fit", fit_then_blow_up)
    assert main([*TINY, "--epochs", "3", "--save", str(ck)]) == 2
    err = capsys.readouterr().err
    assert "non-finite loss at epoch 2" in err and "smaller learning rate" in err and str(ck) in err
    state, _, _ = checkpoint.load(ck)
    assert int(state.epoch) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["good.npz"]  # no temporary file left


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--csv", "/nonexistent.csv", "--features", "a", "--target", "b"], "no such file"),
        (["--batch-size", "0"], "--batch-size must be > 0"),
        (["--batch-size", "100000"], "larger than the 480 training rows"),
        (["--lr", "0"], "--lr must be a finite number > 0"),
        (["--lr", "nan"], "not a finite number"),
        (["--epochs", "0"], "--epochs must be > 0"),
        (["--optimizer", "sgdx"], "invalid choice"),
        (["--resume", "/nonexistent.npz"], "no such checkpoint"),
    ],
)
def test_bad_input_one_line_exit_2(capsys, extra, needle):
    assert main([*TINY, *extra]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


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
    assert main([*TINY, "--epochs", "2", "--plot", str(out)]) == 0
    assert out.stat().st_size > 1000


def test_predict_from_feature_columns_only(tmp_path, capsys):
    ck = tmp_path / "m.npz"
    _json(capsys, [*TINY, "--epochs", "1", "--json", "--save", str(ck)])
    csv = tmp_path / "only.csv"
    csv.write_text("floor_area_m2,age_years\n120,5\n")
    assert main(["predict", "--checkpoint", str(ck), "--csv", str(csv)]) == 0
    assert len(capsys.readouterr().out.split()) == 2
    assert main(["predict", "--checkpoint", str(ck), "--csv", str(tmp_path / "none.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
