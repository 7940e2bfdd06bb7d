"""Tables through pyarrow: the same numbers and messages as a line-by-line read, shards that cover every row once."""

import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jaxsgd import data
from jaxsgd.errors import DataError


def _csv(tmp_path, text, name="t.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_values_lines_and_missing_cells(tmp_path):
    p = _csv(tmp_path, "a,b,c\n1, 2.5 ,x\n3,NA,y\n5,6,z\n")
    t = data.read_table(p, ["b", "a"])
    np.testing.assert_array_equal(t.values[[0, 2]], [[2.5, 1.0], [6.0, 5.0]])
    assert np.isnan(t.values[1, 0]) and t.lines.tolist() == [2, 3, 4] and t.unit == "line"


@pytest.mark.parametrize(("text", "needle"), [
    ("a,b\n1,2\n3,zz\n", "line 3, column b: not a number: 'zz'"),
    ("a,b\n1,2\n3,inf\n", "line 3, column b: not a finite number: 'inf'"),
    ("a,b\n1,2\n\n3,nan\n", "line 4, column b: not a finite number: 'nan'"),
    ("a,b\n1,2\n3,4,5\n", "line 3: 3 cells but the header has 2 columns"),
])
def test_csv_problems_are_named_by_line_and_column(tmp_path, text, needle):
    with pytest.raises(DataError, match=needle):
        data.read_table(_csv(tmp_path, text), ["a", "b"])


def test_blank_lines_and_quoted_newlines_keep_line_numbers(tmp_path):
    p = _csv(tmp_path, 'a,b,note\n1,2,x\n\n3,4,"two\nlines"\n5,6,y\n')
    t = data.read_table(p, ["a", "b"])
    assert t.values.tolist() == [[1, 2], [3, 4], [5, 6]] and t.lines.tolist() == [2, 4, 6]


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_csv_shards_cover_every_row_once_with_its_line(tmp_path, parts):
    rows = "".join(f"{i},{i * 2}\n" for i in range(1, 101))
    p = _csv(tmp_path, "a,b\n" + rows)
    got = [data.read_table(p, ["a"], shard=(i, parts)) for i in range(parts)]
    values = np.concatenate([g.values[:, 0] for g in got])
    lines = np.concatenate([g.lines for g in got])
    assert values.tolist() == list(range(1, 101)) and lines.tolist() == list(range(2, 102))


def test_parquet_by_row_group_and_its_messages(tmp_path):
    p = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": np.arange(10.0), "b": np.arange(10) * 2, "s": [str(i) for i in range(10)]}), p,
                   row_group_size=3)
    whole = data.read_table(p, ["a", "b"])
    assert whole.values[:, 1].tolist() == list(range(0, 20, 2)) and whole.lines.tolist() == list(range(1, 11))
    shards = [data.read_table(p, ["a"], shard=(i, 2)) for i in range(2)]  # row groups 0, 2 and 1, 3
    assert sorted(np.concatenate([s.values[:, 0] for s in shards]).tolist()) == list(range(10))
    assert shards[1].lines.tolist() == [4, 5, 6, 10] and shards[1].unit == "row"
    with pytest.raises(DataError, match="column s: holds string, not numbers"):
        data.read_table(p, ["a", "s"])
    with pytest.raises(DataError, match="unknown column z; available: a, b, s"):
        data.read_table(p, ["z"])


def test_parquet_missing_and_non_finite_values(tmp_path):
    p = tmp_path / "m.parquet"
    pq.write_table(pa.table({"a": [1.0, None, 3.0], "y": [1.0, 2.0, 3.0]}), p)
    with pytest.raises(DataError, match=r"1 row\(s\) with missing values .*row 2"):
        data.load_table(p, ["a"], "y")
    assert data.load_table(p, ["a"], "y", drop_missing=True).x[:, 0].tolist() == [1.0, 3.0]
    pq.write_table(pa.table({"a": [1.0, float("inf")], "y": [1.0, 2.0]}), p)
    with pytest.raises(DataError, match="row 2, column a: not a finite number"):
        data.load_table(p, ["a"], "y")


def test_not_a_parquet_file(tmp_path):
    p = tmp_path / "x.parquet"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        data.read_table(p, ["a"])


def test_the_california_housing_file_reads_as_pythons_csv_module_does(california_csv):
    import csv

    cols = ["median_income", "total_bedrooms", "median_house_value"]
    got = data.read_table(california_csv, cols)
    with open(california_csv, newline="") as f:
        want = [[float(r[c]) if r[c].strip() else np.nan for c in cols] for r in csv.DictReader(f)]
    np.testing.assert_array_equal(got.values, np.asarray(want))  # NaN where total_bedrooms is missing, in both
    assert got.lines.tolist() == list(range(2, len(want) + 2)) and np.isnan(got.values[:, 1]).sum() == 207


def test_quoted_line_breaks_keep_line_numbers_and_shards(tmp_path):
    rows = "".join(f'{i},{"" if i == 7 else i},"note\n{i}"\n' for i in range(1, 11))  # each row takes two lines
    p = _csv(tmp_path, "a,b,c\n" + rows)
    t = data.read_table(p, ["a", "b"])
    assert t.lines.tolist() == list(range(2, 22, 2)) and np.isnan(t.values[6, 1])
    with pytest.raises(DataError, match=r"first at line 14\)"):
        data.load_table(p, ["a"], "b")
    parts = [data.read_table(p, ["a"], shard=(i, 3)) for i in range(3)]  # whole rows, never half a cell
    assert np.concatenate([q.values[:, 0] for q in parts]).tolist() == list(range(1, 11))


def test_a_row_of_empty_cells_is_missing_and_a_blank_line_is_not(tmp_path):
    p = _csv(tmp_path, "a,y\n1,2\n,\n\n3,4\n")
    with pytest.raises(DataError, match=r"1 row\(s\) with missing values .*line 3\)"):
        data.load_table(p, ["a"], "y")


def test_a_pipe_is_refused_not_waited_on(tmp_path):
    import os

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="not a regular file"):
        data.read_table(fifo, ["a"])


def test_parquet_integers_beyond_float64_precision_round(tmp_path):
    p = tmp_path / "big.parquet"
    pq.write_table(pa.table({"a": pa.array([2**62 + 1, 3], pa.int64()), "y": [1.0, 2.0]}), p)
    assert data.read_table(p, ["a"]).values[:, 0].tolist() == [float(2**62), 3.0]


@pytest.mark.parametrize(("cell", "fix"), [("1_000", "write 1000 (no digit separators)"),
                                           ("１２", "write 12 (in ASCII digits)"),
                                           ("٣", "write 3 (in ASCII digits)")])
def test_python_only_number_spellings_are_refused_with_the_fix(tmp_path, cell, fix):
    # Python's float() takes each of these; pyarrow does not: the file must read the same either way
    with pytest.raises(DataError, match=re.escape(f"line 3, column b: not a number: '{cell}'; {fix}")):
        data.read_table(_csv(tmp_path, f"a,b\n1,2\n3,{cell}\n"), ["a", "b"])


def test_numbers_pyarrow_reads_are_read_alike_by_the_exact_reader(tmp_path):
    cells = ["+1", "-.5", "1.", "1E5", ".5e-3", "+.5", "1e+05"]
    fast = data.read_table(_csv(tmp_path, "a\n" + "\n".join(cells) + "\n"), ["a"])
    exact = data.read_table(_csv(tmp_path, "a\n" + "\n\n".join(cells) + "\n", "blank.csv"), ["a"])  # line by line
    assert fast.values[:, 0].tolist() == exact.values[:, 0].tolist() == [float(c) for c in cells]


def test_a_text_column_is_refused_with_a_hint(tmp_path):
    with pytest.raises(DataError, match=r"column kind: not a number: 'NEAR BAY'; the column holds text .*leave "
                                        r"kind out of features, or encode it as 0/1 columns"):
        data.read_table(_csv(tmp_path, "a,kind\n1,NEAR BAY\n2,INLAND\n"), ["a", "kind"])
    p = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0], "kind": ["NEAR BAY", "INLAND"]}), p)
    with pytest.raises(DataError, match=r"column kind: holds string, not numbers \(text: categories\?\); leave kind"):
        data.read_table(p, ["a", "kind"])


def test_a_parquet_page_damaged_after_writing_is_refused(tmp_path):
    p = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": np.arange(1000.0)}), p, write_page_checksum=True, compression="none")
    raw = bytearray(p.read_bytes())
    at = raw.find(np.float64(500.0).tobytes())
    raw[at + 3] ^= 0xFF  # one flipped byte in a value: without the checksum it reads as 500.00024…
    p.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"t\.parquet: not a readable Parquet file, damaged .*CRC.*write it again"):
        data.read_table(p, ["a"])


def test_features_given_as_one_string_are_refused_and_a_target_name_may_have_spaces(tmp_path):
    from jaxsgd import data
    from jaxsgd.errors import DataError

    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n1,2,3\n4,5,6\n")
    with pytest.raises(DataError, match="sequence of column names"):
        data.load_table(path, "ab", "y")  # not the columns a and b
    assert data.load_table(path, [" a", "b "], " y ").y.tolist() == [3.0, 6.0]
