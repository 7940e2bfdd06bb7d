"""The one epoch engine: sweeps are train's runs side by side, shuffles shared by learning rates only."""

import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsgd import train

N, B = 300, 16


def _data(n=N):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (1 / (1 + np.exp(-(x @ np.array([1.0, -0.7])))) + 0.1 * rng.normal(size=n)).astype(np.float32)
    return x, y


KEYS = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(4), 3)))
LRS = np.array([0.25, 1.0, 4.0, 16.0], np.float32)


@pytest.fixture(scope="module")
def sweep3x4():
    x, y = _data()
    return train.sweep(x, y, learning_rates=LRS, keys=KEYS, batch_size=B, epochs=2)


@pytest.mark.parametrize(("s", "j"), [(0, 0), (1, 2), (2, 3)])
def test_a_run_taken_out_of_a_sweep_is_train(sweep3x4, s, j):
    x, y = _data()
    key = jax.random.wrap_key_data(jnp.asarray(KEYS[s]))
    one = train.fit(x, y, batch_size=B, epochs=2, learning_rate=float(LRS[j]), key=key).state.params
    swept = np.asarray(jnp.concatenate([sweep3x4.params.b[s, j, None], sweep3x4.params.w[s, j]]))
    # the same batches and arithmetic, compiled for another shape: equal up to float32 rounding
    np.testing.assert_allclose(swept, np.asarray(one.to_theta()), rtol=2e-5, atol=1e-6)
    # and train is bit for bit the one-run sweep
    alone = train.sweep(x, y, learning_rates=LRS[j:j + 1], keys=KEYS[s:s + 1], batch_size=B, epochs=2)
    np.testing.assert_array_equal(np.asarray(alone.params.b[0, 0]), np.asarray(one.b))
    np.testing.assert_array_equal(np.asarray(alone.params.w[0, 0]), np.asarray(one.w))


@pytest.mark.parametrize("threads", [1, 3])
def test_seeds_stepped_by_several_threads_are_the_runs_of_one_call(sweep3x4, threads):
    """The default on a CPU splits the seeds over the cores' threads; one group or three give the same runs."""
    x, y = _data()
    split = train.sweep(x, y, learning_rates=LRS, keys=KEYS, batch_size=B, epochs=2, threads=threads)
    assert train.seed_groups(len(KEYS), threads) == threads and split.params.w.shape == sweep3x4.params.w.shape
    np.testing.assert_array_equal(np.asarray(split.key), np.asarray(sweep3x4.key))
    for got, want in ((split.params.b, sweep3x4.params.b), (split.params.w, sweep3x4.params.w)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-6, atol=1e-7)  # float32 rounding
    assert int(split.epoch) == 2 and split.opt_state.hyperparams["learning_rate"].shape == (3, 4)


def test_learning_rates_share_a_seeds_shuffle_and_seeds_do_not():
    x, y = _data()
    # with a zero learning rate nothing moves; with one learning rate the order matters. Two sweeps with the
    # same seed and different companions give the same run: its batches come from its seed alone
    a = train.sweep(x, y, learning_rates=[1.0, 2.0], keys=KEYS[:1], batch_size=B, epochs=1)
    b = train.sweep(x, y, learning_rates=[1.0, 8.0], keys=KEYS[:1], batch_size=B, epochs=1)
    np.testing.assert_array_equal(np.asarray(a.params.w[0, 0]), np.asarray(b.params.w[0, 0]))
    perms = train.permutations(KEYS, 0, N)
    assert len({p.tobytes() for p in perms}) == 3  # distinct seeds, distinct shuffles
    assert not np.array_equal(perms[0], train.permutations(KEYS, 1, N)[0])  # and a new one every epoch


def test_permutations_are_pure_functions_of_key_and_epoch():
    p = train.permutations(KEYS, 7, 1000)
    assert all(sorted(row) == list(range(1000)) for row in p)
    np.testing.assert_array_equal(p, train.permutations(KEYS, 7, 1000))


@pytest.mark.parametrize("n", [1, 2, 5, 1000, 65_537])
def test_host_permutations_are_numpys_generator_permutation(n):
    """The host method's definition: Generator(PCG64 seeded by (key, epoch)).permutation(n), whatever the
    buffers behind it (checkpoints and documented runs depend on these exact orders)."""
    got = train.permutations(KEYS, 4, n, "host")
    want = np.stack([np.random.default_rng([int(a), int(b), 4]).permutation(n) for a, b in KEYS]).astype(np.int32)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


def test_permutations_are_uniform_on_small_n():
    """All 3! = 6 orders appear about equally often (chi-square, 5 dof, p ≈ 1e-4 bound)."""
    keys = np.stack([np.arange(3000, dtype=np.uint32), np.full(3000, 9, np.uint32)], axis=1)
    perms = train.permutations(keys, 0, 3)
    codes = perms[:, 0] * 3 + perms[:, 1]
    counts = np.bincount(codes, minlength=9)[[1, 2, 3, 5, 6, 7]]
    chi2 = ((counts - 500) ** 2 / 500).sum()
    assert counts.sum() == 3000 and chi2 < 25.7


def test_device_permutations_are_permutations():
    p = train.permutations(KEYS, 3, 257, "device")
    assert p.shape == (3, 257) and all(sorted(row) == list(range(257)) for row in p)


def test_shuffler_prefetches_the_same_permutations_and_ends_its_thread():
    before = {t.name for t in threading.enumerate()}
    with train.Shuffler(KEYS, N) as sh:
        got = [sh.get(e) for e in range(3)]
        assert any(t.name.startswith("jaxsgd-shuffle") for t in threading.enumerate())
    for e, p in enumerate(got):
        np.testing.assert_array_equal(p, train.permutations(KEYS, e, N))
    after = {t.name for t in threading.enumerate() if t.name.startswith("jaxsgd-shuffle")}
    assert not (after - before)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"learning_rates": []}, "learning_rates"),
        ({"learning_rates": [1.0, float("nan")]}, "learning_rates"),
        ({"learning_rates": [-1.0]}, "learning_rates"),
        ({"learning_rates": [1e300]}, "learning_rates"),
        ({"learning_rates": [[1.0]]}, "learning_rates"),
        ({"keys": np.array([0, 1], np.uint32)}, "keys"),
        ({"keys": np.zeros((2, 3), np.uint32)}, "keys"),
        ({"keys": np.zeros((0, 2), np.uint32)}, "keys"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": -1}, "batch_size"),
        ({"batch_size": N + 1}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": -1}, "epochs"),
        ({"threads": 0}, "threads"),
        ({"threads": 1.5}, "threads"),
    ],
)
def test_sweep_names_a_bad_argument(change, needle):
    x, y = _data()
    args = {"learning_rates": LRS, "keys": KEYS, "batch_size": B, "epochs": 1, **change}
    with pytest.raises(ValueError, match=needle):
        train.sweep(x, y, **args)


def test_sweep_refuses_non_finite_or_mismatched_data():
    x, y = _data()
    bad = x.copy()
    bad[7, 1] = np.inf
    for args, needle in (((bad, y), "x"), ((x, np.where(np.arange(N) == 3, np.nan, y)), "y"), ((x, y[:-1]), "y"),
                         ((x[:, 0], y), "x")):
        with pytest.raises(ValueError, match=needle):
            train.sweep(*args, learning_rates=LRS, keys=KEYS, batch_size=B, epochs=1)


def test_sweep_takes_typed_keys():
    x, y = _data()
    typed = train.sweep(x, y, learning_rates=LRS[:1], keys=jax.random.wrap_key_data(jnp.asarray(KEYS[:1])),
                         batch_size=B, epochs=1)
    raw = train.sweep(x, y, learning_rates=LRS[:1], keys=KEYS[:1], batch_size=B, epochs=1)
    np.testing.assert_array_equal(np.asarray(typed.params.w), np.asarray(raw.params.w))


def test_features_that_are_not_numbers_are_named_before_jax_sees_them():
    text = np.array([["a", "b"], ["c", "d"]])
    with pytest.raises(ValueError, match="x must hold numbers"):
        train.sweep(text, np.ones(2), learning_rates=[1.0], keys=KEYS[:1], batch_size=1, epochs=1)
    with pytest.raises(ValueError, match="x must hold floating-point numbers"):
        train.fit(text, np.ones(2), batch_size=1, epochs=1)


@pytest.mark.parametrize(("seeds", "threads"), [(6, 2.0), (0, 2), (6, 0), (6, True), (-3, 2)])
def test_seed_groups_refuses_what_is_not_a_count(seeds, threads):
    with pytest.raises(ValueError, match=r"seeds|threads"):
        train.seed_groups(seeds, threads)
