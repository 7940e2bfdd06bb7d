"""Reading tables: CSV and Parquet through pyarrow, every cell checked, messages naming file, line, column.

:func:`read_table` reads the named columns as float64. CSV goes through
``pyarrow.csv`` (multi-threaded C++); Parquet through ``pyarrow.parquet``, by
row group, so that a process of a multi-process run reads only its share
(``shard=(i, n)``: row groups ``i, i + n, …``; for a CSV, the ``i``-th of ``n``
byte ranges cut at line ends). Empty cells, ``NA`` and ``N/A`` are missing;
``nan`` and ``inf`` are refused as not finite.

A number is written as CSV writers write it, in ASCII: an optional sign, digits
with an optional decimal point, an optional exponent (``-1.5e3``, ``.5``,
``+2``), the set pyarrow reads. Python's own extras are refused with the fix,
so that a file reads the same whichever reader takes it: digit separators
(``1_000``: write ``1000``) and digits of other scripts (fullwidth ``１``: write
``1``). A column of text (categories such as ``NEAR BAY``) is refused with a
hint: leave it out of the features, or encode it as 0/1 columns.

Parquet pages are read with their CRC checksums verified, so a damaged page
is refused instead of read as wrong numbers; pyarrow can check only pages
written with checksums (``pyarrow.parquet.write_table(...,
write_page_checksum=True)``); damage elsewhere shows as a page that does not
decode, also refused.

When pyarrow refuses a CSV (a cell that is not a number, a row with too many
cells, bytes that are not UTF-8) or the file has blank lines, so that rows and
lines no longer match one to one, the file is read again line by line with
Python's ``csv`` module, which names the line and column of the problem (or
returns the same numbers with the right line numbers).

pyarrow is imported only here and only when a table is read: the built-in data
and the derivative tools do not need it.
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
import math
import mmap
import os
import re
import unicodedata
from typing import NamedTuple

import numpy as np

from jaxsgd.errors import DataError

MISSING = ("", "NA", "N/A", "na", "n/a")  # cells read as missing values
# the numbers pyarrow reads, in ASCII only (Python's float() also takes 1_000 and fullwidth digits)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_NOT_FINITE = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)


def ascii_digits(text: str) -> str:
    """``text`` with every decimal digit of any script (fullwidth ``１``, Arabic-Indic ``٣``) as its ASCII digit."""
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in unicodedata.normalize("NFKC", text))


def not_a_number(where: str, col: str, cell: str) -> DataError:
    """The message for a cell that is not a number: the fix for Python-only spellings, a hint for text."""
    plain = ascii_digits(cell).replace("_", "").replace("\u2212", "-")
    if plain != cell and _NUMBER.fullmatch(plain):
        why = "no digit separators" if "_" in cell else "in ASCII digits"
        return DataError(f"{where}, column {col}: not a number: {cell!r}; write {plain} ({why})")
    if any(c.isalpha() for c in cell) and not _NOT_FINITE.fullmatch(cell):
        return DataError(lambda n: f"{where}, column {col}: not a number: {cell[:40]!r}; the column holds text "
                                   f"(categories?), which the model cannot take: leave {col} out of "
                                   f"{n('features')}, or encode it as 0/1 columns, one per category")
    return DataError(f"{where}, column {col}: not a number: {cell[:40]!r}")


class Table(NamedTuple):
    """Columns read from a file by :func:`read_table`, every cell checked.

    Attributes:
      values: the cells as numbers, a float64 array of shape ``(N, k)``, columns in the order asked, NaN
        where a cell is missing.
      lines: where each row is in the file, an int64 array of shape ``(N,)``: its line for a CSV (the
        header is line 1), its row for Parquet (the first is row 1).
      unit: what ``lines`` counts: ``"line"`` (CSV) or ``"row"`` (Parquet).

    Example:
      >>> Table(np.array([[1.0], [np.nan]]), np.array([2, 4]), "line").values.shape
      (2, 1)
    """

    values: np.ndarray
    lines: np.ndarray
    unit: str  # "line" or "row"


def _pyarrow():
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is a dependency; this names the fix if it was removed
        raise DataError("reading a table needs pyarrow: pip install pyarrow") from None
    return pa


def _check_file(path: str, kind: str) -> None:
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory, not a {kind} file")
    if not os.path.isfile(path):  # a pipe or a device: no size, no row groups, and a read could wait forever
        raise DataError(f"{path}: not a regular file; give a {kind} file")
    if not os.access(path, os.R_OK):
        raise DataError(f"{path}: cannot open: permission denied")


def _missing_columns(path, wanted, header, needed_by):
    missing_cols = [c for c in wanted if c not in header]
    if not missing_cols:
        return
    sep = next((c for c in (";", "\t", "|") if len(header) == 1 and c in header[0]), None)
    hint = f" (the header looks separated by {sep!r}: give a comma-separated file)" if sep else ""
    what = "unknown column" if needed_by is None else "missing feature column"
    need = "" if needed_by is None else f" that {needed_by} needs"
    raise DataError(f"{path}: {what} {', '.join(missing_cols)}{need}; available: {', '.join(header)}{hint}")


def read_table(path, columns, *, needed_by: str | None = None, shard: tuple[int, int] | None = None) -> Table:
    r"""Reads the named columns of a CSV or Parquet file as float64, every cell checked.

    The format is the extension's: ``.parquet`` or ``.pq`` is Parquet, anything else CSV. Cells are numbers
    as CSV writers write them, in ASCII (``-1.5e3``, ``.5``, ``+2``); empty cells, ``NA`` and ``N/A``
    (:data:`MISSING`) are missing, read as NaN; ``nan``, ``inf``, text, digit separators (``1_000``) and
    non-ASCII digits are refused, with the fix where there is one. CSV goes through ``pyarrow.csv``, and
    through Python's ``csv`` module where that must name a line; Parquet through ``pyarrow.parquet``, by row
    group, page checksums verified.

    Args:
      path: the file, a ``str`` or path-like.
      columns: the names of the columns to read, in the order wanted (each at most once).
      needed_by: who asks for the columns (e.g. ``"the checkpoint"``), named in the message for a missing
        one; default ``None``.
      shard: ``(i, n)`` reads only process ``i``'s share of ``n``: row groups ``i, i + n, …`` of a Parquet
        file (it needs at least ``n``), the ``i``-th of ``n`` byte ranges of a CSV cut at line ends;
        default ``None``, all rows.

    Returns:
      A :class:`Table` of the columns, with the line (CSV) or row (Parquet) of each row.

    Raises:
      DataError: naming the file, and the line or row and column where one is at fault: no such file, a
        missing or duplicated column, a cell that is not a finite number, a row with too many cells, bytes
        that are not UTF-8, a damaged Parquet page, too few row groups for ``shard``.

    Example:
      >>> import os, tempfile
      >>> with tempfile.TemporaryDirectory() as folder:
      ...     path = os.path.join(folder, "houses.csv")
      ...     with open(path, "w") as f:
      ...         _ = f.write("area,age,price\n100,10,300000\n150,,450000\n80,1_000,200000\n")
      ...     table = read_table(path, ["price", "area"])
      ...     read_table(path, ["age"])
      Traceback (most recent call last):
      ...
      jaxsgd.errors.DataError: ...houses.csv, line 4, column age: not a number: '1_000'; write 1000 (no digit ...
      >>> table.values.tolist(), table.lines.tolist(), table.unit
      ([[300000.0, 100.0], [450000.0, 150.0], [200000.0, 80.0]], [2, 3, 4], 'line')
    """
    path = os.fspath(path)
    wanted = list(columns)
    if len(set(wanted)) < len(wanted):
        twice = next(c for c in wanted if wanted.count(c) > 1)
        raise DataError(f"column {twice} is asked for twice (e.g. both a feature and the target)")
    if os.path.splitext(path)[1].lower() in (".parquet", ".pq"):
        return _read_parquet(path, wanted, needed_by, shard)
    return _read_csv(path, wanted, needed_by, shard)


# ---------------------------------------------------------------- Parquet
def _read_parquet(path, wanted, needed_by, shard) -> Table:
    pa = _pyarrow()
    import pyarrow.parquet as pq

    _check_file(path, "Parquet")
    try:
        f = pq.ParquetFile(path, page_checksum_verification=True)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{path}: not a readable Parquet file: {e}") from None
    header = list(f.schema_arrow.names)
    _missing_columns(path, wanted, header, needed_by)
    twice = [c for c in dict.fromkeys(wanted) if header.count(c) > 1]
    if twice:
        raise DataError(f"{path}: column {twice[0]} appears {header.count(twice[0])} times, so which one to read "
                        "is unclear: rename the copies")
    groups = list(range(f.num_row_groups))
    starts = np.concatenate([[0], np.cumsum([f.metadata.row_group(g).num_rows for g in groups])]).astype(np.int64)
    if shard is not None:
        if len(groups) < shard[1]:
            raise DataError(f"{path}: {len(groups)} row group(s) cannot be shared by {shard[1]} processes: write it "
                            f"with at least {shard[1]} (pyarrow.parquet.write_table(..., row_group_size=...)) or "
                            "use fewer processes")
        groups = groups[shard[0]::shard[1]]
    try:
        t = f.read_row_groups(groups, columns=wanted) if groups else f.schema_arrow.empty_table().select(wanted)
        t.validate(full=True)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{path}: not a readable Parquet file, damaged ({str(e).splitlines()[0][:200]}): write "
                        "it again") from None
    if shard is None:
        rows = np.arange(1, t.num_rows + 1, dtype=np.int64)
    else:
        rows = np.concatenate([np.arange(starts[g], starts[g + 1]) for g in groups] or [np.zeros(0, np.int64)]) + 1
    values = np.empty((t.num_rows, len(wanted)), np.float64)
    for j, name in enumerate(wanted):
        col = t.column(name)
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_decimal(col.type)):
            text = pa.types.is_string(col.type) or pa.types.is_large_string(col.type) \
                or pa.types.is_dictionary(col.type)
            raise DataError(lambda n, name=name, col=col, text=text: (
                f"{path}, column {name}: holds {col.type}, not numbers"
                + (f" (text: categories?); leave {name} out of {n('features')}, or encode it as 0/1 columns, one "
                   "per category" if text else "")))
        # integers beyond 2⁵³ round to the nearest float64, as a CSV cell of the same digits would
        values[:, j] = (col if col.type == pa.float64() else col.cast(pa.float64(), safe=False)).to_numpy(
            zero_copy_only=False)
        nulls = col.is_null().to_numpy(zero_copy_only=False) if col.null_count else np.zeros(t.num_rows, bool)
        bad = ~np.isfinite(values[:, j])
        if bad.any() and (bad & ~nulls).any():
            i = int(np.flatnonzero(bad & ~nulls)[0])
            raise DataError(f"{path}, row {rows[i]}, column {name}: not a finite number: {float(values[i, j])}")
        if col.null_count:
            values[nulls, j] = np.nan
    return Table(values, rows.astype(np.int64), "row")


# ---------------------------------------------------------------- CSV
def _csv_bytes(path, shard):
    """``(bytes, header line, start, end, line number at start)``: the whole file, or for ``shard=(i, n)`` only
    the ``i``-th of ``n`` byte ranges of its body cut at line ends (then ``start`` and ``end`` are 0 and the
    range's length). A shard's first line number counts the line breaks before it, read in blocks and
    not kept."""
    with open(path, "rb") as f:
        if shard is None or os.fstat(f.fileno()).st_size == 0:  # (an empty file cannot be mapped)
            data = f.read()
            end_of_header = data.find(b"\n")
            header = data if end_of_header < 0 else data[: end_of_header + 1]
            return data, header, len(header), len(data), 2
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            end_of_header = m.find(b"\n")
            header = m[:] if end_of_header < 0 else m[: end_of_header + 1]
            body_start, size = len(header), len(m) - len(header)
            i, n = shard

            def cut(k):  # the first line start at or after byte k of the body
                if k <= 0:
                    return body_start
                if k >= size:
                    return len(m)
                nl = m.find(b"\n", body_start + k - 1)
                return len(m) if nl < 0 else nl + 1

            lo, hi = cut(size * i // n), cut(size * (i + 1) // n)
            breaks = sum(m[a:min(a + _BLOCK, lo)].count(b"\n") for a in range(0, lo, _BLOCK))
            part = m[lo:hi]
    return part, header, 0, len(part), breaks + 1


_BLOCK = 1 << 24


def _has_quote(path) -> bool:
    """Whether a ``"`` occurs below the header line (a memory-mapped search: quoted cells may hold line breaks;
    a quoted header, as many writers make, is read apart)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return m.find(b'"', m.find(b"\n") + 1) >= 0


def _read_csv(path, wanted, needed_by, shard) -> Table:
    pa = _pyarrow()
    import pyarrow.csv as pc

    _check_file(path, "CSV")
    if shard is not None and os.path.getsize(path) and _has_quote(path):
        # a byte range could begin inside a quoted cell: read the whole file, keep this part of the rows
        whole = _read_csv(path, wanted, needed_by, None)
        i, n = shard
        part = slice(len(whole.lines) * i // n, len(whole.lines) * (i + 1) // n)
        return Table(whole.values[part], whole.lines[part], whole.unit)
    try:
        if shard is None:  # pyarrow reads the file itself; here only its header line
            with open(path, "rb") as f:
                header_bytes = f.readline()
            data, lo, hi, first_line = None, 0, 0, 2
        else:
            data, header_bytes, lo, hi, first_line = _csv_bytes(path, shard)
    except OSError as e:
        raise DataError(f"{path}: cannot open: {e.strerror}") from None
    if not header_bytes.strip():
        raise DataError(f"{path}: the file is empty (a header line and rows are needed)")
    try:
        header = next(csv.reader([header_bytes.decode("utf-8-sig")]))
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a readable CSV file: {e}; save it as UTF-8") from None
    except (csv.Error, StopIteration) as e:
        raise DataError(f"{path}: not a readable CSV file: {e}") from None
    header = [h.strip() for h in header]
    _missing_columns(path, wanted, header, needed_by)
    twice = [c for c in dict.fromkeys(wanted) if header.count(c) > 1]
    if twice:
        raise DataError(f"{path}: column {twice[0]} appears {header.count(twice[0])} times in the header, so which "
                        "one to read is unclear: rename the copies")
    idx = [header.index(c) for c in wanted]
    if len(header) == 1 and data is None:  # one column: a blank line would read as a missing cell, so count lines
        data, header_bytes, lo, hi, first_line = _csv_bytes(path, None)

    def exactly():
        if data is None:
            with open(path, "rb") as f:
                whole = f.read()
        else:
            whole = data
        start, stop = (lo, hi) if data is not None else (len(header_bytes), len(whole))
        return _read_csv_exactly(path, memoryview(whole)[start:stop], first_line, header, wanted, idx)

    names = [f"c{j}" for j in range(len(header))]
    quoted = None
    if data is None:  # the search for quotes runs while pyarrow parses (both outside the interpreter's lock)
        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jaxsgd-quotes")
        quoted = pool.submit(_has_quote, path)
        pool.shutdown(wait=False)
    try:
        t = pc.read_csv(
            path if data is None else pa.BufferReader(pa.py_buffer(memoryview(data)[lo:hi])),
            read_options=pc.ReadOptions(column_names=names, skip_rows=1 if data is None else 0),
            # a blank line reads as a row of nulls (seen below); a cell that is not a number, a row of too many
            # cells or bytes that are not UTF-8 fail here: the exact reader takes over in each case
            parse_options=pc.ParseOptions(newlines_in_values=False, ignore_empty_lines=False),
            convert_options=pc.ConvertOptions(include_columns=[names[j] for j in idx],
                                              column_types={names[j]: pa.float64() for j in idx},
                                              null_values=list(MISSING), strings_can_be_null=False,
                                              quoted_strings_can_be_null=True))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return exactly()  # a problem to name, line and column
    if quoted is not None and quoted.result():  # rows and lines match only if no quoted cell holds a line break
        with open(path, "rb") as f:
            data = f.read()
        lo, hi = len(header_bytes), len(data)
    if data is not None:
        n_lines = data.count(b"\n", lo, hi) + (1 if hi > lo and data[hi - 1] != 10 else 0)
        if t.num_rows != n_lines:
            return exactly()
    values = np.empty((len(wanted), t.num_rows), np.float64).T  # column by column, each contiguous
    for j in range(len(wanted)):
        col = t.column(j)
        np.concatenate([c.to_numpy(zero_copy_only=False) for c in col.chunks] or [np.zeros(0)], out=values[:, j])
        nulls = col.is_null().to_numpy(zero_copy_only=False) if col.null_count else None
        finite = np.isfinite(values[:, j])
        if not finite.all() and (nulls is None or (~finite & ~nulls).any()):
            return exactly()  # nan or inf written out: refused by name, as the exact reader does
        if nulls is not None:
            values[nulls, j] = np.nan
    if all(t.column(j).null_count for j in range(len(wanted))) and np.isnan(values).all(axis=1).any():
        return exactly()  # a blank line, or a row of empty cells? the exact reader tells them apart
    return Table(values, np.arange(first_line, first_line + t.num_rows, dtype=np.int64), "line")


def _read_csv_exactly(path, body, first_line, header, wanted, idx) -> Table:
    """Line by line with Python's ``csv`` module: the right line numbers past blank lines, and a message that
    names the line and column of the first cell at fault."""
    body = bytes(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        line = first_line + body.count(b"\n", 0, e.start)
        raise DataError(f"{path}, line {line}: not a readable CSV row: {e}; save it as UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, lines, ended = [], [], 0
    try:
        for rec in reader:
            line, ended = first_line + ended, reader.line_num  # the line a row starts on
            if not rec or (len(rec) == 1 and not rec[0].strip()):  # a blank line; ",," is a row of missing cells
                continue
            if len(rec) > len(header):
                raise DataError(f"{path}, line {line}: {len(rec)} cells but the header has {len(header)} "
                                "columns; quote cells that contain commas, or fix the header")
            vals = []
            for col, j in zip(wanted, idx, strict=True):
                cell = rec[j].strip() if j < len(rec) else ""
                if cell in MISSING or cell.upper() in ("NA", "N/A"):
                    vals.append(math.nan)
                    continue
                if not (_NUMBER.fullmatch(cell) or _NOT_FINITE.fullmatch(cell)):
                    raise not_a_number(f"{path}, line {line}", col, cell)
                v = float(cell)
                if not math.isfinite(v):
                    raise DataError(f"{path}, line {line}, column {col}: not a finite number: {cell!r}")
                vals.append(v)
            rows.append(vals)
            lines.append(line)
    except csv.Error as e:
        raise DataError(f"{path}, line {first_line + reader.line_num - 1}: not a readable CSV row: {e}") from None
    values = np.asarray(rows, np.float64).reshape(len(rows), len(wanted))
    return Table(values, np.asarray(lines, np.int64), "line")
