"""Any model: a per-example loss over a pytree in fit, sweep and the noise scales; the built-in MLP.

References are independent of the library: a float64 NumPy loop for full-batch SGD on a linear model, finite
differences (``jax.test_util.check_grads``) for the MLP's gradients, and the neuron's own default path.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxsgd import model, study, train
from jaxsgd.errors import InputError, ModelError


def linear_loss(params, x, y):  # a model the library has never seen: a dict pytree, no sigmoid
    return 0.5 * (y - (params["w"] @ x + params["b"])) ** 2


def _rows(n=64, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ np.arange(1.0, d + 1) * 0.1 + 0.2).astype(np.float32)
    return x, y


def test_a_pytree_model_trains_as_a_float64_numpy_loop():
    x, y = _rows()
    p0 = {"w": np.zeros(3, np.float32), "b": np.float32(0.0)}
    state, hist = train.fit(x, y, loss=linear_loss, params=p0, batch_size=len(y), epochs=20, learning_rate=0.3)
    assert set(state.params) == {"w", "b"} and state.params["w"].shape == (3,)  # the structure it was given
    w, b = np.zeros(3), 0.0
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    for _ in range(20):  # one full batch per epoch: the shuffle does not matter
        r = x64 @ w + b - y64
        w, b = w - 0.3 * (x64.T @ r) / len(y), b - 0.3 * r.mean()
    np.testing.assert_allclose(state.params["w"], w, rtol=1e-5, atol=1e-6)  # float32 against float64
    assert float(state.params["b"]) == pytest.approx(b, rel=1e-5, abs=1e-6)
    assert hist.train_loss[-1] == pytest.approx(0.5 * np.mean((x64 @ w + b - y64) ** 2), rel=1e-3)


def test_the_neurons_loss_given_explicitly_is_the_default_bit_for_bit():
    x, y = _rows(d=2)
    y = 1 / (1 + np.exp(-y))
    a = train.fit(x, y, batch_size=8, epochs=2, key=jax.random.key(1))
    b = train.fit(x, y, batch_size=8, epochs=2, key=jax.random.key(1), loss=model.example_loss,
                  params=model.init_params(2))
    assert np.array_equal(a.state.params.to_theta(), b.state.params.to_theta())
    assert a.history.train_loss == b.history.train_loss


def test_a_loss_without_params_is_refused_by_name():
    x, y = _rows()
    with pytest.raises(InputError, match="loss was given without params"):
        train.fit(x, y, loss=linear_loss)
    with pytest.raises(InputError, match="loss was given without params"):
        train.sweep(x, y, loss=linear_loss, learning_rates=[0.1], keys=np.zeros((1, 2), np.uint32), batch_size=8,
                    epochs=1)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_the_mlps_gradients_match_finite_differences(dtype):
    with jax.enable_x64(dtype == jnp.float64):
        m = model.mlp((5, 3), dtype=dtype)
        p = m.init(jax.random.key(0), 4)
        p = jax.tree.map(lambda a: a + 0.3 * jnp.ones_like(a), p)  # off the zero output layer
        x = jnp.asarray([0.5, -1.0, 2.0, 0.1], dtype)
        eps = 1e-2 if dtype == jnp.float32 else 1e-5
        tol = 5e-2 if dtype == jnp.float32 else 1e-6
        check_grads(lambda q: m.loss(q, x, jnp.asarray(0.7, dtype)), (p,), order=2, modes=["rev"], eps=eps,
                    atol=tol, rtol=tol)


def test_the_mlp_fits_what_the_neuron_cannot():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(512, 2)).astype(np.float32)
    y = (0.1 + 0.8 * (x[:, 0] * x[:, 1] > 0)).astype(np.float32)  # XOR-like: no single neuron separates it
    neuron = train.fit(x, y, batch_size=32, epochs=30, learning_rate=2.0)
    m = model.mlp((8,))
    net = train.fit(x, y, batch_size=32, epochs=30, learning_rate=2.0, loss=m.loss,
                    params=m.init(jax.random.key(0), 2))
    assert net.history.train_loss[-1] < 0.3 * neuron.history.train_loss[-1]
    assert isinstance(net.state.params, tuple) and all(isinstance(layer, model.Layer) for layer in net.state.params)


def test_a_sweep_of_mlps_is_each_fit():
    x, y = _rows(n=96, d=2)
    y = 1 / (1 + np.exp(-y))
    m = model.mlp((4,))
    keys = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(5), 2)))
    inits = [m.init(jax.random.wrap_key_data(k), 2) for k in keys]
    runs = train.sweep(x, y, learning_rates=[0.5, 2.0], keys=keys, batch_size=8, epochs=2, loss=m.loss,
                       params=lambda i: inits[i])
    for i in range(2):
        for j, lr in enumerate([0.5, 2.0]):
            one = train.fit(x, y, batch_size=8, epochs=2, learning_rate=lr, key=jax.random.wrap_key_data(keys[i]),
                            loss=m.loss, params=inits[i])
            for got, want in zip(jax.tree.leaves(runs.run(i, j).params), jax.tree.leaves(one.state.params),
                                 strict=True):
                np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


def test_noise_scales_from_any_loss_agree_with_the_neurons_and_across_methods():
    x, y = _rows(n=200, d=2)
    y = 1 / (1 + np.exp(-y))
    p = model.Params.from_theta([0.1, 0.2, -0.3])
    ours = study.noise_scales(p, x, y)
    generic = study.noise_scales(p, x, y, loss=model.example_loss)  # the same math through ravel_pytree
    np.testing.assert_allclose(generic, ours, rtol=1e-5)
    m = model.mlp((3,))
    q = jax.tree.map(lambda a: a + 0.2, m.init(jax.random.key(2), 2))
    exact = study.noise_scales(q, x, y, loss=m.loss)
    hvp = study.noise_scales(q, x, y, loss=m.loss, method="hvp")
    hutch = study.noise_scales(q, x, y, loss=m.loss, method="hutchinson", probes=4000, key=jax.random.key(0))
    assert hvp.b_noise == pytest.approx(exact.b_noise, rel=1e-4)
    assert hutch.b_noise == pytest.approx(exact.b_noise, rel=0.15)  # 4000 Rademacher probes of 13 parameters


USER_MODEL = '''
import jax, jax.numpy as jnp

class Quadratic:  # a user's model: attributes loss and init
    @staticmethod
    def init(key, d):
        return {"w": jnp.zeros(d), "b": jnp.zeros(())}

    @staticmethod
    def loss(params, x, y):
        h = jax.nn.sigmoid(params["w"] @ x + params["b"])
        return 0.5 * (y - h) ** 2

def loss(params, x, y):  # a module whose functions are the model
    return 0.5 * (y - jnp.tanh(params @ x)) ** 2

def init(key, d):
    return jnp.zeros(d)

class Vector:
    init = staticmethod(init)
    loss = staticmethod(lambda p, x, y: p * x)  # not a scalar

class Broken:
    init = staticmethod(init)
    @staticmethod
    def loss(p, x, y):
        raise ValueError("my model is broken")
'''


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    (tmp_path / "mymodels.py").write_text(USER_MODEL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_model_spec_names_the_neuron_an_mlp_or_a_users_object(user_dir):
    assert model.from_spec("sigmoid").loss is model.example_loss
    assert model.from_spec("mlp:4,2").name == "mlp:4,2"
    m = model.from_spec("mymodels:Quadratic")
    p = model.check_model(m, 3)
    assert set(p) == {"w", "b"}
    f = model.from_spec("mymodels")  # a module's functions: mymodels.loss and mymodels.init
    assert model.check_model(f, 2).shape == (2,)


@pytest.mark.parametrize(("spec", "needle"), [
    ("mlp:0", "give 1 to 8 hidden widths"),
    ("mlp:a", "give 1 to 8 hidden widths"),
    ("resnet", "unknown model 'resnet'"),
    ("nosuchmodule:thing", "no module named 'nosuchmodule'"),
    ("mymodels:Missing", "has no 'Missing'"),
    ("mymodels:jax", "needs callable loss(params, x, y) and init(key, d)"),
])
def test_a_model_spec_that_names_nothing_usable_is_one_line(user_dir, spec, needle):
    with pytest.raises(ModelError) as e:
        model.from_spec(spec)
    assert needle in str(e.value)


@pytest.mark.parametrize(("spec", "needle"), [
    ("mymodels:Vector", "loss must return a scalar for one example"),
    ("mymodels:Broken", "loss(params, x, y) failed: ValueError: my model is broken"),
])
def test_a_model_that_fails_is_refused_before_training_in_one_line(user_dir, capsys, spec, needle):
    from jaxsgd.cli import main

    assert main(["batch-size", "--rows", "300", "--seeds", "2", "--batch-sizes", "8,32", "--model", spec]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err


def test_the_batch_size_command_studies_an_mlp_and_a_users_model(user_dir, capsys):
    import json

    from jaxsgd.cli import main

    for spec in ("mlp:4", "mymodels:Quadratic"):
        assert main(["batch-size", "--rows", "600", "--seeds", "2", "--batch-sizes", "8,64", "--levels", "0.1",
                     "--max-steps", "800", "--json", "--model", spec]) == 0
        got = json.loads(capsys.readouterr().out)
        assert got["model"] == spec and got["recommendation"] is not None


def test_the_neuron_named_as_a_model_is_the_default_study():
    x, y = _rows(n=300, d=2)
    y = 1 / (1 + np.exp(-y))
    cfg = study.StudyConfig(batch_sizes=(8, 64), seeds=2, fractions=(0.1,), max_steps=600, bootstrap=20)
    a = study.run_study(x, y, cfg)
    b = study.run_study(x, y, cfg, model=model.neuron())
    c = study.run_study(x, y, cfg, loss=model.example_loss, params=lambda key, d: model.init_params(d))
    for r in (b, c):
        assert [row.arrivals.tolist() for row in r.runs] == [row.arrivals.tolist() for row in a.runs]


def test_train_an_mlp_save_resume_and_predict_as_one_run(tmp_path, capsys):
    import json

    from jaxsgd.cli import main

    ck = tmp_path / "mlp.npz"
    base = ["train", "--rows", "2000", "--model", "mlp:4", "--json", "--quiet"]
    assert main([*base, "--epochs", "4"]) == 0
    straight = json.loads(capsys.readouterr().out)
    assert main([*base, "--epochs", "2", "--save", str(ck)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(ck), "--epochs", "4", "--json", "--quiet"]) == 0  # its model remembered
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["model"] == "mlp:4" and resumed["params"] == straight["params"]  # bit for bit
    state, _, meta = train.load_checkpoint(ck, params_template=model.mlp((4,)).init(jax.random.key(0), 2))
    assert meta["model"] == "mlp:4" and [layer.w.shape for layer in state.params] == [(4, 2), (1, 4)]
    rows = tmp_path / "rows.csv"
    rows.write_text(",".join(meta["features"]) + "\n0.5,1.0\n-1.0,2.0\n")
    assert main(["predict", "--checkpoint", str(ck), "--data", str(rows)]) == 0
    out = capsys.readouterr().out.splitlines()
    m = model.mlp((4,))
    tr = train.load_checkpoint(ck, params_template=m.init(jax.random.key(0), 2))[1]
    want = tr.price(np.asarray(jax.vmap(m.predict, in_axes=(None, 0))(state.params, jnp.asarray(
        tr.features(np.array([[0.5, 1.0], [-1.0, 2.0]])), jnp.float32)), np.float64))
    assert [float(line.split(",")[1]) for line in out[1:]] == pytest.approx(np.round(want, 2).tolist(), abs=0.006)


def test_resuming_onto_another_model_is_refused_in_one_line(tmp_path, capsys):
    from jaxsgd.cli import main

    ck = tmp_path / "neuron.npz"
    assert main(["train", "--rows", "500", "--epochs", "1", "--save", str(ck), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(ck), "--epochs", "2", "--model", "mlp:4", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checkpoint holds model sigmoid, not mlp:4" in err


def test_a_checkpoints_parameters_must_fit_its_model(tmp_path):
    m = model.mlp((4,))
    state = train.TrainState.create(m.init(jax.random.key(0), 2), optimizer=train.make_optimizer("sgd"),
                                    key=jax.random.key(0))
    from jaxsgd import data

    tr = data.Transform(np.zeros(2), np.ones(2), 0.0, 1.0)
    meta = {"model": "mlp:4", "features": ["a", "b"], "target": "y", "optimizer": "sgd", "lr": 0.5,
            "batch_size": 8, "seed": 0, "source": "test"}
    p = tmp_path / "ck.npz"
    train.save_checkpoint(p, state, tr, meta)
    with pytest.raises(InputError, match="do not fit model mlp:4"):
        train.load_checkpoint(p, params_template=model.mlp((5,)).init(jax.random.key(0), 2))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_the_mlps_batch_form_is_the_mean_of_its_per_example_loss(dtype):
    with jax.enable_x64(dtype == jnp.float64):
        m = model.mlp((6, 5), dtype=dtype)
        p = jax.tree.map(lambda a: a + 0.1, m.init(jax.random.key(3), 4))
        rng = np.random.default_rng(4)
        xt = jnp.asarray(rng.normal(size=(4, 33)), dtype)
        y = jnp.asarray(rng.uniform(size=33), dtype)
        fast = model.mean_loss_of(m.loss)
        assert fast is not model.mean_loss_of(lambda q, x, t: m.loss(q, x, t))  # the batch form, not vmap
        slow = jnp.mean(jax.vmap(m.loss, in_axes=(None, 1, 0))(p, xt, y))
        eps = float(jnp.finfo(dtype).eps)
        assert float(fast(p, xt, y)) == pytest.approx(float(slow), rel=8 * eps)
        for g1, g2 in zip(jax.tree.leaves(jax.grad(fast)(p, xt, y)),
                          jax.tree.leaves(jax.grad(lambda q: jnp.mean(jax.vmap(m.loss, in_axes=(None, 1, 0))(
                              q, xt, y)))(p)), strict=True):
            np.testing.assert_allclose(g1, g2, rtol=1e3 * eps, atol=1e2 * eps)


PY_FLOAT = '''
import jax.numpy as jnp

def init(key, d):
    return jnp.zeros(d)

def loss(params, x, y):
    return 0.5 * (float(y) - params @ x) ** 2  # fine eagerly, fails once traced
'''


def test_a_model_that_fails_only_when_compiled_or_imported_is_one_line(user_dir, capsys):
    from jaxsgd.cli import main

    (user_dir / "pyfloat.py").write_text(PY_FLOAT)
    (user_dir / "modexit.py").write_text("import sys\nsys.exit(3)\n")
    for spec, needle in (("pyfloat", "jax.grad, jax.jit or jax.vmap of loss"), ("modexit", "SystemExit"),
                         ("", "the model is empty")):
        assert main(["train", "--rows", "300", "--epochs", "1", "--quiet", "--model", spec]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err and "Traceback" not in err, err


def test_a_checkpoint_of_a_users_model_imports_its_code_only_when_asked(user_dir, capsys):
    from jaxsgd.cli import main

    ck = user_dir / "q.npz"
    assert main(["train", "--rows", "300", "--epochs", "1", "--quiet", "--model", "mymodels:Quadratic",
                 "--save", str(ck)]) == 0
    capsys.readouterr()
    rows = user_dir / "rows.csv"
    rows.write_text("x1,x2\n0.5,1.0\n")
    _, _, meta = train.load_checkpoint(ck)
    rows.write_text(",".join(meta["features"]) + "\n0.5,1.0\n")
    assert main(["predict", "--checkpoint", str(ck), "--data", str(rows)]) == 2
    assert "give --model mymodels:Quadratic" in capsys.readouterr().err
    assert main(["train", "--resume", str(ck), "--epochs", "2", "--quiet"]) == 2
    assert "give --model mymodels:Quadratic to resume it" in capsys.readouterr().err
    assert main(["predict", "--checkpoint", str(ck), "--data", str(rows), "--model", "mymodels:Quadratic"]) == 2
    assert "has no predict" in capsys.readouterr().err  # Quadratic has loss and init only


@pytest.mark.parametrize("widths", [(1.5,), 16, (), (0,), (True,), ("16",)])
def test_mlp_widths_that_are_not_whole_numbers_are_refused_in_one_line(widths):
    with pytest.raises(InputError, match="widths") as e:
        model.mlp(widths)
    assert "\n" not in str(e.value)


def test_a_cluster_takes_numpy_integers_and_refuses_bools():
    import numpy as np

    from jaxsgd import distributed

    c = distributed.check_cluster("127.0.0.1:1234", np.int64(2), np.int64(1))
    assert (c.num_processes, c.process_id) == (2, 1) and type(c.num_processes) is int
    with pytest.raises(InputError, match="num_processes"):
        distributed.check_cluster("127.0.0.1:1234", True, 0)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_the_full_loss_of_many_runs_in_row_blocks_is_the_float64_mean(dtype):
    # 72 MLPs over 3,000 rows: row blocks of 2,048 and a remainder of 952 (runs_loss's blocked path), against
    # each run's mean loss in float64 NumPy; and a generic pytree loss (the vmap path) the same way.
    with jax.enable_x64(dtype == jnp.float64):
        m = model.mlp((16,), dtype=dtype)
        keys = jax.random.split(jax.random.key(5), (8, 9))
        runs = jax.vmap(jax.vmap(lambda k: jax.tree.map(lambda a: a + 0.05, m.init(k, 3))))(keys)
        rng = np.random.default_rng(6)
        x = rng.normal(size=(3000, 3))
        y = rng.uniform(size=3000)
        assert train._engine._row_block(runs, 3000) == 2048
        got = np.asarray(jax.jit(train.runs_loss, static_argnames="loss")(
            runs, jnp.asarray(x.T, dtype), jnp.asarray(y, dtype), loss=m.loss))
        want = np.empty((8, 9))
        for s in range(8):
            for j in range(9):
                (h, out) = [jax.tree.map(lambda a, s=s, j=j: np.asarray(a[s, j], np.float64), layer) for layer in runs]
                a = np.tanh(x @ h.w.T + h.b)
                p = 1 / (1 + np.exp(-(a @ out.w[0] + out.b[0])))
                want[s, j] = np.mean(0.5 * (y - p) ** 2)
        # float32: each example's loss to a few eps, the sum of 3,000 in blocks to ~N·eps relative at worst
        np.testing.assert_allclose(got, want, rtol=2e-5 if dtype == jnp.float32 else 1e-12)

        x, y = rng.normal(size=(20000, 3)), rng.uniform(size=20000)  # blocks of 8,192 for 4 parameters a run
        lin = {"w": jnp.asarray(rng.normal(size=(8, 9, 3)), dtype), "b": jnp.zeros((8, 9), dtype)}
        assert train._engine._row_block(lin, 20000) == 8192
        got = np.asarray(train.runs_loss(lin, jnp.asarray(x.T, dtype), jnp.asarray(y, dtype), linear_loss))
        want = np.mean(0.5 * (y - np.einsum("slk,nk->sln", np.asarray(lin["w"], np.float64), x)) ** 2, axis=-1)
        np.testing.assert_allclose(got, want, rtol=2e-5 if dtype == jnp.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_the_full_batch_reference_of_an_mlp_in_row_blocks_is_plain_gradient_descent(dtype):
    # 6 step sizes of mlp:16 over 5,000 rows: blocks of 4,096 and 904 (the reference's blocked loss and gradient
    # in one pass), against full-batch descent written out with the whole-data loss, step by step
    with jax.enable_x64(dtype == jnp.float64):
        m = model.mlp((16,), dtype=dtype)
        rng = np.random.default_rng(8)
        x = rng.normal(size=(5000, 3)).astype(dtype)
        y = rng.uniform(0.1, 0.9, size=5000).astype(dtype)
        start = jax.tree.map(lambda a: a + 0.05, m.init(jax.random.key(9), 3))
        assert train._engine._row_block(jax.tree.map(lambda a: a[None].repeat(6, 0), start), 5000,
                                        run_axes=1, floats=1 << 18) == 4096
        _, losses, thetas = train.full_batch_reference(x, y, steps=20, chunk=10, loss=m.loss, params=start)
        whole = jax.jit(lambda p: jnp.mean(jax.vmap(m.loss, in_axes=(None, 0, 0))(p, x, y)))
        best = None
        for lr in (0.5, 1.0, 2.0, 4.0, 8.0, 16.0):
            p, path = start, []
            for _ in range(20):
                p = jax.tree.map(lambda a, g, lr=lr: a - lr * g, p, jax.grad(whole)(p))
                path.append(float(whole(p)))
            if best is None or path[-1] < best[-1]:
                best = path
        np.testing.assert_allclose(losses, best, rtol=1e-4 if dtype == jnp.float32 else 1e-10)
        assert thetas.shape == (20, 3 * 16 + 16 + 16 + 1)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_a_large_batchs_step_in_row_blocks_is_the_whole_batchs_step(dtype):
    # 72 runs of mlp:16 on 3 features at B = 2,000: the gradient over blocks of 512 rows and a remainder of 464,
    # against SGD written out with the per-example loss over the whole batch
    with jax.enable_x64(dtype == jnp.float64):
        m = model.mlp((16,), dtype=dtype)
        opt = train.make_optimizer("sgd")
        keys = np.stack([np.arange(8, dtype=np.uint32), np.full(8, 3, np.uint32)], axis=1)
        inits = [jax.tree.map(lambda a: a + 0.05, m.init(jax.random.wrap_key_data(k), 3)) for k in keys]
        lrs = np.linspace(0.25, 4.0, 9)
        runs = train.TrainState.create_runs(3, keys, lrs, optimizer=opt, params=lambda i: inits[i])
        assert train._engine._row_block(runs.params, 2000, floats=train._engine._GRAD_BLOCK_FLOATS) == 512
        rng = np.random.default_rng(10)
        xt = jnp.asarray(rng.normal(size=(8, 3, 2000)), dtype)
        y = jnp.asarray(rng.uniform(size=(8, 2000)), dtype)
        got, _ = jax.jit(train.runs_step(opt, m.loss))(runs.params, runs.opt_state, xt, y)

        def whole(p, xb, yb):
            return jnp.mean(jax.vmap(m.loss, in_axes=(None, 1, 0))(p, xb, yb))

        for s, j in ((0, 0), (7, 8)):
            p = jax.tree.map(lambda a, s=s, j=j: a[s, j], runs.params)
            g = jax.grad(whole)(p, xt[s], y[s])
            want = jax.tree.map(lambda a, b, j=j: a - lrs[j] * b, p, g)
            for a, b in zip(jax.tree.leaves(jax.tree.map(lambda a, s=s, j=j: a[s, j], got)),
                            jax.tree.leaves(want), strict=True):
                eps = float(jnp.finfo(dtype).eps)
                np.testing.assert_allclose(a, b, rtol=1e3 * eps, atol=1e2 * eps)


def test_a_models_study_on_two_threads_of_seeds_is_the_study_on_one(monkeypatch):
    # any model other than the neuron steps its seeds in groups side by side on a CPU; each seed's runs are the
    # same arithmetic either way, so the arrivals (the study's measurement) are the same step for step
    from jaxsgd.study import _hits as hits

    x, y = _rows(n=400, d=2)
    y = 1 / (1 + np.exp(-y))
    cfg = study.StudyConfig(batch_sizes=(8, 64), seeds=4, fractions=(0.1, 0.01), max_steps=600, bootstrap=20)
    m = model.mlp((4,))
    monkeypatch.setattr(hits, "seed_groups_of", lambda setup: 1 if setup.model is None else 2)
    two = study.run_study(x, y, cfg, model=m)
    monkeypatch.setattr(hits, "seed_groups_of", lambda setup: 1)
    one = study.run_study(x, y, cfg, model=m)
    assert [r.arrivals.tolist() for r in two.runs] == [r.arrivals.tolist() for r in one.runs]
    assert [r.learning_rates.tolist() for r in two.runs] == [r.learning_rates.tolist() for r in one.runs]
    assert any((r.arrivals > 0).any() for r in one.runs)
