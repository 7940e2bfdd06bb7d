"""What every subcommand shares: the parser, argument types, the flag names of library arguments,
turning library errors into one-line usage errors, JSON output and progress on stderr."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import unicodedata

from jaxsgd.errors import InputError


class UsageError(ValueError):
    """Bad input from the command line: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # argparse takes "-1e38" for an option (its pattern has no exponent); a number it is, and so are
        # "-inf" and "-nan", which the number types then refuse by name
        # and so is "-1000,0,0", the exercise's way of writing θ with a negative first entry
        number = r"((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf|infinity|nan)"
        self._negative_number_matcher = re.compile(rf"^-{number}(\s*,\s*-?{number})*$", re.IGNORECASE)

    def error(self, message):  # one line, not usage + message
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


# library argument → the flag that sets it, where the flag is not simply --argument-name
_FLAGS = {"csv": "--data", "n_rows": "--rows", "fractions": "--levels", "learning_rates": "--lrs",
          "learning_rate": "--lr", "drop_last": "leave out --keep-last-batch"}


def flag(argument: str) -> str:
    """The command line's name for a library argument (a :data:`jaxsgd.errors.Namer`)."""
    return _FLAGS.get(argument, "--" + argument.replace("_", "-"))


def guard(fn, command: str):
    """Runs ``fn``; a library :class:`~jaxsgd.errors.InputError` or an OS error becomes a one-line usage
    error, its arguments named by their flags."""
    try:
        return fn()
    except InputError as e:
        raise UsageError(f"jaxsgd {command}: {e.render(flag)}") from None
    except OSError as e:
        raise UsageError(f"jaxsgd {command}: {e.filename or ''}: {e.strerror}") from None


# ---------------------------------------------------------------- argument types
# numbers as a person types them in ASCII: Python's int() and float() also take "1_000" and fullwidth "１",
# which a CSV cell may not hold (jaxsgd.data), so a flag refuses them too, with the fix
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|infinity|nan)",
                    re.ASCII | re.IGNORECASE)
_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)


def _ascii_digits(text: str) -> str:
    """Every decimal digit of any script (fullwidth ``１``, Arabic-Indic ``٣``) as its ASCII digit."""
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in unicodedata.normalize("NFKC", text))


def _plain_number(text: str, pattern, what: str) -> str:
    """``text`` stripped, if ``pattern`` matches it; else an ``ArgumentTypeError`` saying what to write."""
    t = text.strip()
    if pattern.fullmatch(t):
        return t
    plain = _ascii_digits(t).replace("_", "")
    if plain != t and pattern.fullmatch(plain):
        raise argparse.ArgumentTypeError(f"not {what}: {text[:40]!r}; write {plain}")
    raise argparse.ArgumentTypeError(f"not {what}: {text[:40]!r}")


def path(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; name a file")
    return text


def finite_float(text: str) -> float:
    v = float(_plain_number(text.replace("−", "-"), _FLOAT, "a number"))
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return v


class NumberList(argparse.Action):
    """``nargs="+"`` numbers that may also come as the exercise writes them: ``4,5,6`` or ``(4, 5, 6)``."""

    def __call__(self, parser, namespace, values, option_string=None):
        out = []
        for value in values:
            inner = value.strip().strip("()[]").strip().strip(",")  # "4," "5," "6" as the shell splits 4, 5, 6
            if "," in inner and any(not p.strip() for p in inner.split(",")):
                parser.error(f"argument {option_string}: an empty entry in {value!r}: write every number, e.g. "
                             "4,5,6")
            for part in inner.replace(",", " ").split():
                try:
                    out.append(finite_float(part))
                except argparse.ArgumentTypeError as e:
                    parser.error(f"argument {option_string}: {e}")
        if not out:
            parser.error(f"argument {option_string}: expected at least one number")
        setattr(namespace, self.dest, out)


def positive_float(text: str) -> float:
    v = finite_float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return v


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    v = finite_float(text)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return v


def int_between(lo: int, hi: int | None = None):
    """An argparse type for a whole number from ``lo`` to ``hi`` (no upper bound when ``None``)."""

    def whole(text: str) -> int:
        digits = _plain_number(text, _INT, "a whole number")
        if len(digits.lstrip("+-0")) > 30:  # before int(): thousands of digits would not convert
            bound = f"between {lo} and {hi}" if hi is not None else "a count of ordinary size"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {digits[:12]}… ({len(digits)} digits)")
        v = int(digits)
        if hi is None and v < lo:
            raise argparse.ArgumentTypeError(f"must be > {lo - 1}, got {v}" if lo == 1 else
                                             f"must be at least {lo}, got {v}")
        if hi is not None and not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, got {v}")
        return v

    return whole


positive_int = int_between(1)


def seed(text: str) -> int:
    digits = _plain_number(text, _INT, "a whole number")
    if len(digits.lstrip("+-0")) > 30:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**64 - 1, got {digits[:12]}… ({len(digits)} digits)")
    v = int(digits)
    if not 0 <= v < 2**64:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**64 - 1, got {v}")
    return v


def columns(text: str) -> tuple[str, ...]:
    cols = tuple(c.strip() for c in text.split(","))
    if not all(cols):
        raise argparse.ArgumentTypeError(f"empty column name in {text!r}; give names separated by commas")
    return cols


def int_list(text: str) -> tuple[int, ...]:
    if not all(_INT.fullmatch(v.strip()) for v in text.split(",")):
        raise argparse.ArgumentTypeError(f"expected whole numbers (ASCII digits, no separators) separated by "
                                         f"commas, got {text[:60]!r}")
    vals = tuple(int(v) for v in text.split(","))
    if not vals or min(vals) <= 0:
        raise argparse.ArgumentTypeError(f"batch sizes must be > 0, got {text!r}")
    return tuple(sorted(set(vals)))


def float_list(text: str, what: str = "learning rates") -> tuple[float, ...]:
    if not all(_FLOAT.fullmatch(v.strip()) for v in text.split(",")):
        raise argparse.ArgumentTypeError(f"expected numbers (ASCII digits, no separators) separated by commas, "
                                         f"got {text[:60]!r}")
    vals = tuple(float(v) for v in text.split(","))
    if not vals or not all(math.isfinite(v) and v > 0 for v in vals):
        raise argparse.ArgumentTypeError(f"{what} must be finite and > 0, got {text!r}")
    return vals


def fraction_list(text: str) -> tuple[float, ...]:
    vals = float_list(text, "levels")
    if not all(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"levels are fractions between 0 and 1, got {text!r}")
    return tuple(sorted(set(vals), reverse=True))


def order_type(cap: int, what: str):
    """An argparse type for a derivative order from 0 to ``cap``."""

    def order(text: str) -> int:
        t = text.strip()
        if not _INT.fullmatch(t):
            plain = _ascii_digits(t).replace("_", "")
            fix = f"; write {plain}" if plain != t and _INT.fullmatch(plain) else ""
            raise argparse.ArgumentTypeError(f"the order must be a whole number, got {text[:40]!r}{fix}")
        digits = t.removeprefix("+").removeprefix("-").lstrip("0")
        if len(digits) > len(str(cap)):  # before int(): 5,000 digits would not convert
            raise argparse.ArgumentTypeError(f"the order must be between 0 and {cap} for {what}, got "
                                             f"{t[:12]}… ({len(digits)} digits)")
        k = int(t)
        if not 0 <= k <= cap:
            raise argparse.ArgumentTypeError(f"the order must be between 0 and {cap} for {what}, got {k}")
        return k

    return order


# ---------------------------------------------------------------- output
def jsonable(obj):
    """NamedTuples as objects, tuples as lists, non-finite floats as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "_asdict"):
        return {k: jsonable(v) for k, v in obj._asdict().items()}
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return jsonable(obj.tolist())
    return obj


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(jsonable(obj), allow_nan=False) + "\n")


def table(header: list[str], rows: list[list[str]], widths: list[int]) -> list[str]:
    """Columns, right-aligned (a negative width aligns left): the header line, then one line per row."""
    def line(cells):
        return " ".join(f"{c:<{-w}}" if w < 0 else f"{c:>{w}}" for c, w in zip(cells, widths, strict=False)).rstrip()

    return [line(header), *(line(r) for r in rows)]


class Progress:
    """Progress of long work on stderr: a bar with an ETA on a terminal, one line per step elsewhere
    (a log file, a pipe), nothing when ``quiet``. Call :meth:`update` after each of ``total`` steps."""

    WIDTH = 24

    def __init__(self, total: int | None = None, *, quiet: bool = False, stream=None):
        self.total, self.quiet = total, quiet
        self.stream = sys.stderr if stream is None else stream
        self.start = time.perf_counter()
        self.bar = bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn = False
        self._first = None  # steps done before the first update (a resumed run's epochs): not in the rate

    def __call__(self, done: int, total: int, message: str, eta: float | None = None) -> None:
        self.total = total
        self.update(done, message, eta)

    def update(self, done: int, message: str = "", eta: float | None = None) -> None:
        """``eta``: the caller's own estimate of the seconds left (else: the rate so far times the steps left)."""
        if self.quiet:
            return
        total = self.total or done
        if self._first is None:
            self._first = done - 1
        elapsed = time.perf_counter() - self.start
        ran = done - self._first
        if eta is None:
            eta = elapsed / ran * (total - done) if ran > 0 else math.nan
        left = "" if done >= total or not math.isfinite(eta) else f", about {eta:.0f} s left"
        if self.bar:
            filled = round(self.WIDTH * done / total) if total else self.WIDTH
            text = f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total} {message} ({elapsed:.1f} s{left})"
            self.stream.write(text + "\033[K" + ("\n" if done >= total else ""))
            self._drawn = done < total
        else:
            self.stream.write(f"[{done}/{total}] {message}  ({elapsed:.1f} s{left})\n")
        self.stream.flush()

    def clear(self) -> None:
        """Erases an unfinished bar, so that a line printed next starts clean (the next update redraws it)."""
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False

    def note(self, line: str) -> None:
        """A line that is not progress (a warning, a dropped-rows note): printed even with ``quiet``,
        below an unfinished bar."""
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False
        self.stream.write(line + "\n")
        self.stream.flush()


# ---------------------------------------------------------------- the model
def add_model_option(p, *, resumable: bool = False) -> None:
    default = "default: sigmoid, or the --resume checkpoint's" if resumable else "default: sigmoid"
    p.add_argument("--model", default=None if resumable else "sigmoid", metavar="MODEL",
                   help="sigmoid (the neuron σ(b + w·x)), mlp:H[,H…] (tanh hidden layers of widths H, a sigmoid "
                        "output, e.g. mlp:16 or mlp:32,16; initialised from --seed), or your own: package.module:name "
                        "(an object with loss(params, x, y) for one example, init(key, d) and, for predictions, "
                        f"predict(params, x)) or package.module (a module with those functions) ({default})")


def model_of(a, command: str):
    """The :class:`jaxsgd.model.Model` that ``--model`` names (``None`` for the default neuron)."""
    if a.model == "sigmoid":
        return None
    from jaxsgd import model

    return guard(lambda: model.from_spec(a.model), command)
