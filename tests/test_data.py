"""Data: the synthetic generator, CSV loading and its errors, the transform and the split."""

import numpy as np
import pytest

from jaxsgd import data
from jaxsgd.data import _datasets as datasets
from jaxsgd.errors import DataError


def test_synthetic_is_deterministic_and_chunked(monkeypatch):
    a = data.synthetic_house_prices(3000, seed=4)
    b = data.synthetic_house_prices(3000, seed=4)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.y, data.synthetic_house_prices(3000, seed=5).y)
    monkeypatch.setattr(datasets, "_CHUNK", 1000)  # several chunks: same shapes, valid ranges
    c = data.synthetic_house_prices(3500, seed=4)
    assert c.x.shape == (3500, 2) and (c.x[:, 0] >= 40).all() and (c.x[:, 1] <= 80).all()


def test_true_theta_matches_a_direct_fit_of_the_noise_free_truth():
    ds = data.synthetic_house_prices(5000, seed=0)
    tr = data.fit_transform(ds)
    th = data.true_theta(tr)
    z_raw = data.TRUE_RAW[0] + ds.x @ np.array(data.TRUE_RAW[1:])
    z_scaled = th[0] + ((ds.x - tr.mean) / tr.std) @ th[1:]
    np.testing.assert_allclose(z_scaled, z_raw, rtol=1e-12, atol=1e-12)
    assert tr.y_lo == 0.0 and tr.y_hi == data.PRICE_CAP


def test_transform_round_trip_and_range():
    ds = data.Dataset(np.array([[1.0], [2.0], [3.0]]), np.array([10.0, 20.0, 30.0]), ("a",), "y", "t")
    tr = data.fit_transform(ds)
    t = tr.target(ds.y)
    assert (t > 0).all() and (t < 1).all()
    np.testing.assert_allclose(tr.price(t), ds.y, rtol=1e-6)
    np.testing.assert_allclose(tr.features(ds.x).ravel(), [-1.2247449, 0.0, 1.2247449], rtol=1e-6)


def test_split_is_by_seed_and_disjoint():
    tr, va = data.split(100, 0.2, seed=1)
    assert len(va) == 20 and len(tr) == 80 and not set(tr) & set(va)
    _, va2 = data.split(100, 0.2, seed=1)
    np.testing.assert_array_equal(va, va2)
    with pytest.raises(DataError, match="val_fraction"):
        data.split(10, 1.0, seed=0)


def _csv(tmp_path, text, name="d.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_loading_and_errors(tmp_path):
    good = _csv(tmp_path, "a,b,y\n1,2,3\n4,5,6\n")
    ds = data.load_table(good, ["a", "b"], "y")
    np.testing.assert_array_equal(ds.x, [[1, 2], [4, 5]])
    with pytest.raises(DataError, match=r"unknown column c; available: a, b, y"):
        data.load_table(good, ["a", "c"], "y")
    with pytest.raises(DataError, match=r"line 3, column b: not a number: 'x'"):
        data.load_table(_csv(tmp_path, "a,b,y\n1,2,3\n4,x,6\n"), ["a", "b"], "y")
    with pytest.raises(DataError, match=r"line 2, column y: not a finite number: 'inf'"):
        data.load_table(_csv(tmp_path, "a,b,y\n1,2,inf\n"), ["a", "b"], "y")
    with pytest.raises(DataError, match="the file is empty"):
        data.load_table(_csv(tmp_path, ""), ["a"], "y")
    with pytest.raises(DataError, match="no such file"):
        data.load_table(tmp_path / "nope.csv", ["a"], "y")
    with pytest.raises(DataError, match="no data rows"):
        data.load_table(_csv(tmp_path, "a,y\n"), ["a"], "y")


def test_missing_values_reported_or_dropped(tmp_path):
    p = _csv(tmp_path, "a,y\n1,2\n,3\n4,\n5,6\n")
    with pytest.raises(DataError, match=r"2 row\(s\) with missing values .*line 3, 4.*with drop_missing"):
        data.load_table(p, ["a"], "y")
    ds = data.load_table(p, ["a"], "y", drop_missing=True)
    assert ds.y.tolist() == [2.0, 6.0] and ds.dropped_lines == (3, 4)


def test_california_housing(california_csv):
    with pytest.raises(DataError, match=r"207 row\(s\) with missing values"):
        data.load_table(california_csv, ["median_income", "total_bedrooms"], "median_house_value")
    ds = data.load_table(california_csv, ["median_income", "total_bedrooms"], "median_house_value", drop_missing=True)
    assert len(ds.y) == 20640 - 207
    full = data.load_table(california_csv, ["median_income", "housing_median_age"], "median_house_value")
    assert full.x.shape == (20640, 2) and full.y.max() == 500001.0


def test_row_with_more_cells_than_the_header_names_its_line(tmp_path):
    p = _csv(tmp_path, "a,b,y\n1,2,3\n1,000,2,3\n")
    with pytest.raises(DataError, match=r"line 3: 4 cells but the header has 3 columns"):
        data.load_table(p, ["a", "b"], "y")


def test_rows_remember_their_csv_lines(tmp_path):
    ds = data.load_table(_csv(tmp_path, "a,y\n1,2\n,3\n\n5,6\n"), ["a"], "y", drop_missing=True)
    assert ds.lines.tolist() == [2, 5] and ds.dropped_lines == (3,)
    assert data.dropped_note(ds) == "dropped 1 row(s) with missing values (line 3)"
    assert data.dropped_note(data.load_table(_csv(tmp_path, "a,y\n1,2\n"), ["a"], "y")) is None


@pytest.mark.parametrize("scale", [1e201, 1e-200, 2.0**900])
def test_standardisation_holds_at_any_scale(scale):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 2)) * [3.0, 0.5] + [1.0, -2.0]
    y = rng.uniform(size=500)
    ref = data.fit_transform(data.Dataset(x, y, ("a", "b"), "y", "t"))
    big = data.fit_transform(data.Dataset(x * scale, y, ("a", "b"), "y", "t"))
    np.testing.assert_allclose(big.std, ref.std * scale, rtol=1e-12)
    np.testing.assert_allclose(big.features(x * scale), ref.features(x), rtol=1e-6, atol=1e-6)


def test_ordinary_data_standardise_exactly_as_numpy():
    x = np.random.default_rng(1).normal(size=(300, 3)) * [1e5, 1.0, 3e-4] + [7.0, 0.0, 2.0]
    tr = data.fit_transform(data.Dataset(x, np.arange(300.0), ("a", "b", "c"), "y", "t"))
    np.testing.assert_array_equal(tr.mean, x.mean(axis=0))
    np.testing.assert_array_equal(tr.std, x.std(axis=0))


def test_ranges_that_overflow_are_refused():
    y = np.array([-1.7e308, 0.0, 1.7e308])
    with pytest.raises(DataError, match=r"target y ranges from -1.7e\+308 to 1.7e\+308.*rescale"):
        data.fit_transform(data.Dataset(np.array([[1.0], [2.0], [3.0]]), y, ("a",), "y", "t"))
    with pytest.raises(DataError, match=r"feature a spans more than float64"):
        data.fit_transform(data.Dataset(y[:, None], np.array([1.0, 2.0, 3.0]), ("a",), "y", "t"))


def test_far_out_features_saturate_without_warnings():
    tr = data.Transform(np.array([0.0]), np.array([1e-300]), 0.0, 1.0)
    assert tr.features(np.array([[1e10], [-1e300]])).tolist() == [[np.finfo(np.float32).max],
                                                                  [-np.finfo(np.float32).max]]


def test_too_many_rows_for_this_machine(monkeypatch):
    monkeypatch.setattr(datasets, "physical_memory", lambda: 1_000_000)
    with pytest.raises(DataError, match=r"10,000 rows .* use at most 7,812 rows"):
        data.synthetic_house_prices(10_000)
    assert data.synthetic_house_prices(7_812).x.shape == (7_812, 2)
    monkeypatch.undo()
    assert data.physical_memory() > 2**20  # os.sysconf answers on Linux


def test_targets_far_outside_the_fitted_scale_are_named(tmp_path):
    ds = data.load_table(_csv(tmp_path, "a,y\n1,0.2\n2,0.5\n3,1e30\n4,0.7\n"), ["a"], "y")
    tr = data.fit_transform(ds, np.array([0, 1, 3]))
    with pytest.raises(DataError, match=r"target y at line 4 is 1e\+30, too far outside"):
        data.check_targets(ds, tr)
    data.check_targets(ds._replace(y=np.array([0.2, 0.5, 9.0, 0.7])), tr)  # far-ish, but scalable


def test_a_column_named_twice_in_the_header_is_refused(tmp_path):
    p = _csv(tmp_path, "a,a,y\n1,2,3\n4,5,6\n")
    with pytest.raises(DataError, match=r"column a appears 2 times in the header"):
        data.load_table(p, ["a"], "y")
    ds = data.load_table(_csv(tmp_path, "a,a,b,y\n1,2,3,4\n"), ["b"], "y")  # unused duplicates are fine
    assert ds.x.tolist() == [[3.0]]


def test_a_file_not_separated_by_commas_or_not_utf8_says_so(tmp_path):
    with pytest.raises(DataError, match=r"separated by ';'.*comma"):
        data.load_table(_csv(tmp_path, "a;y\n1;2\n"), ["a"], "y")
    p = tmp_path / "latin1.csv"
    p.write_bytes("a,y\n1,2\n\xe9,3\n".encode("latin-1"))
    with pytest.raises(DataError, match="save it as UTF-8"):
        data.load_table(p, ["a"], "y")


def test_missing_values_name_only_the_columns_with_blanks(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("a,b,c,y\n1,2,3,4\n5,,7,8\n9,10,11,\n")
    with pytest.raises(DataError, match=r"2 row\(s\) with missing values in b, y \(first at line 3, 4\)"):
        data.load_table(p, ["a", "b", "c"], "y")


def test_a_spread_float64_cannot_invert_is_refused_by_column():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.uniform(0, 1, 50), rng.uniform(0, 1, 50) * 1e-310])
    ds = data.Dataset(x, rng.uniform(0, 1, 50), ("a", "b"), "y", "test")
    with pytest.raises(DataError, match=r"^feature b varies by only .*1/std overflows.*multiply it by 1e300$"):
        data.fit_transform(ds)
    ok = data.fit_transform(ds._replace(x=x * [1, 1e200]))  # 1e-110: small, but 1/std is a float64
    assert np.isfinite(1 / ok.std).all()
