"""Checkpoints: the round trip, and every file that is not a complete checkpoint refused in one line."""

import io
import json
import zipfile

import jax
import numpy as np
import pytest

from jaxsgd import train
from jaxsgd.cli import main
from jaxsgd.data import Transform
from jaxsgd.errors import CheckpointError
from jaxsgd.model import init_params

META = {"features": ["floor_area_m2", "age_years"], "target": "price", "optimizer": "sgd", "lr": 0.5,
        "batch_size": 16, "seed": 0, "source": "test"}


def _state():
    st = train.TrainState.create(init_params(2), key=jax.random.key(3), optimizer=train.make_optimizer("sgd"),
                                 learning_rate=0.5)
    return st._replace(params=st.params._replace(b=st.params.b + 0.25, w=st.params.w - 1.5))


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.npz"
    train.save_checkpoint(path, _state(), Transform(np.array([100.0, 40.0]), np.array([60.0, 23.0]), 0.0, 1e6), META)
    return path


def _arrays(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _rewrite(good, dest, **changes):
    arrays = {k: v for k, v in _arrays(good).items() if changes.get(k, 0) is not None}
    arrays.update({k: v for k, v in changes.items() if v is not None})
    np.savez(dest, **arrays)


def _meta(good, **changes):
    meta = json.loads(str(_arrays(good)["meta"]))
    meta.update(changes)
    return np.array(json.dumps({k: v for k, v in meta.items() if v is not None}))


def _npy(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _zip(good, dest):
    with zipfile.ZipFile(dest, "w") as z:
        z.writestr("readme.txt", "hello")


BAD = {
    "empty file": lambda good, p: p.write_bytes(b""),
    "plain npy": lambda good, p: p.write_bytes(_npy(np.arange(3.0))),
    "directory": lambda good, p: p.mkdir(),
    "text": lambda good, p: p.write_text("floor_area_m2,age_years\n1,2\n"),
    "zip, not npz": _zip,
    "no theta": lambda good, p: _rewrite(good, p, theta=None),
    "no meta": lambda good, p: _rewrite(good, p, meta=None),
    "other magic": lambda good, p: _rewrite(good, p, meta=_meta(good, magic="something-else")),
    "no features": lambda good, p: _rewrite(good, p, meta=_meta(good, features=None)),
    "theta shape": lambda good, p: _rewrite(good, p, theta=np.zeros(5, np.float32)),
    "theta not finite": lambda good, p: _rewrite(good, p, theta=np.array([0.0, np.nan, 1.0], np.float32)),
    "theta as text": lambda good, p: _rewrite(good, p, theta=np.array(["a", "b", "c"])),
    "std zero": lambda good, p: _rewrite(good, p, std=np.array([1.0, 0.0])),
    "y range reversed": lambda good, p: _rewrite(good, p, y_range=np.array([1.0, 0.0])),
    "key shape": lambda good, p: _rewrite(good, p, key=np.zeros(3, np.uint32)),
    "no optimizer state": lambda good, p: _rewrite(good, p, opt_0=None),
    "negative epoch": lambda good, p: _rewrite(good, p, epoch=np.array(-1, np.int32)),
}


def test_round_trip(good):
    state, transform, meta = train.load_checkpoint(good)
    np.testing.assert_array_equal(np.asarray(state.params.to_theta()), [0.25, -1.5, -1.5])
    assert transform.y_hi == 1e6 and transform.std.tolist() == [60.0, 23.0]
    assert meta["features"] == META["features"] and meta["target"] == "price"
    assert train.is_checkpoint(good)


@pytest.mark.parametrize("kind", BAD)
def test_load_refuses_what_is_not_a_complete_checkpoint(good, tmp_path, kind):
    bad = tmp_path / "bad.npz"
    BAD[kind](good, bad)
    with pytest.raises(CheckpointError, match=r"^not a jaxsgd checkpoint: .*bad\.npz") as e:
        train.load_checkpoint(bad)
    assert "\n" not in str(e.value)
    assert not train.is_checkpoint(bad)


@pytest.mark.parametrize("kind", ["empty file", "plain npy", "directory", "no theta", "theta shape",
                                  "theta not finite", "no optimizer state"])
@pytest.mark.parametrize("command", ["train", "predict"])
def test_cli_says_not_a_checkpoint_in_one_line(good, tmp_path, capsys, kind, command):
    bad = tmp_path / "bad.npz"
    BAD[kind](good, bad)
    csv = tmp_path / "new.csv"
    csv.write_text("floor_area_m2,age_years\n120,5\n")
    argv = (["train", "--rows", "300", "--epochs", "1", "--resume", str(bad)] if command == "train"
            else ["predict", "--checkpoint", str(bad), "--csv", str(csv)])
    assert main(argv) == 2
    out = capsys.readouterr()
    assert out.err.startswith(f"error: jaxsgd {command}: not a jaxsgd checkpoint: ")
    assert out.err.count("\n") == 1 and out.out == ""


def test_dev_null_is_not_a_checkpoint():
    with pytest.raises(CheckpointError, match="not a jaxsgd checkpoint: /dev/null"):
        train.load_checkpoint("/dev/null")


def test_optimizer_state_must_fit_the_template(good):
    adam = train.TrainState.create(init_params(2), key=jax.random.key(0), optimizer=train.make_optimizer("adam"),
                                   learning_rate=0.1).opt_state
    with pytest.raises(CheckpointError, match="trained with optimizer sgd"):
        train.load_checkpoint(good, adam)


def _history_meta(good, **history):
    h = {"train_loss": [0.1], "val_loss": [0.2], "examples_per_second": [10.0], "curve": [[0, 0.3], [16, 0.1]]}
    h.update(history)
    return _meta(good, history=h)


MORE_BAD = {
    "history of text": lambda good, p: _rewrite(good, p, epoch=np.array(1, np.int32),
                                                meta=_history_meta(good, train_loss=["x"])),
    "history NaN": lambda good, p: _rewrite(good, p, epoch=np.array(1, np.int32),
                                            meta=_history_meta(good, val_loss=[float("nan")])),
    "history curve of text": lambda good, p: _rewrite(good, p, epoch=np.array(1, np.int32),
                                                      meta=_history_meta(good, curve=[["0", 0.3]])),
    "history longer than the epochs": lambda good, p: _rewrite(good, p, epoch=np.array(0, np.int32),
                                                               meta=_history_meta(good)),
    "lr as text": lambda good, p: _rewrite(good, p, meta=_meta(good, lr="0.5")),
    "lr negative": lambda good, p: _rewrite(good, p, meta=_meta(good, lr=-1.0)),
    "batch size zero": lambda good, p: _rewrite(good, p, meta=_meta(good, batch_size=0)),
    "seed a bool": lambda good, p: _rewrite(good, p, meta=_meta(good, seed=True)),
    "seed too large": lambda good, p: _rewrite(good, p, meta=_meta(good, seed=2**64)),
    "unknown optimizer": lambda good, p: _rewrite(good, p, meta=_meta(good, optimizer="lbfgs")),
    "features twice": lambda good, p: _rewrite(good, p, meta=_meta(good, features=["a", "a"])),
    "data malformed": lambda good, p: _rewrite(good, p, meta=_meta(good, data={"csv": 3})),
    "optimizer state NaN": lambda good, p: _rewrite(good, p, opt_0=np.array(np.nan, np.float32)),
}


@pytest.mark.parametrize("kind", MORE_BAD)
def test_every_metadata_field_is_checked_on_load(good, tmp_path, kind):
    bad = tmp_path / "bad.npz"
    MORE_BAD[kind](good, bad)
    with pytest.raises(CheckpointError, match=r"^not a jaxsgd checkpoint: .*bad\.npz \(") as e:
        train.load_checkpoint(bad)
    assert "\n" not in str(e.value)


def test_a_valid_history_loads(good, tmp_path):
    ok = tmp_path / "ok.npz"
    _rewrite(good, ok, epoch=np.array(1, np.int32), meta=_history_meta(good))
    assert train.load_checkpoint(ok)[2]["history"]["train_loss"] == [0.1]
