"""Errors name Python arguments in the library and flags on the command line, from one message."""

import pytest

from jaxsgd import train
from jaxsgd.cli import main
from jaxsgd.errors import DataError, InputError


def test_one_message_two_spellings():
    e = InputError(lambda name: f"{name('batch_size')} {7} is larger than {name('n_rows')}")
    assert str(e) == "batch_size 7 is larger than n_rows"
    assert e.render(lambda a: a.upper()) == "BATCH_SIZE 7 is larger than N_ROWS"
    assert isinstance(e, ValueError) and issubclass(DataError, InputError)


def test_a_plain_message_is_the_same_either_way():
    e = DataError("data.csv, line 3: not a number")
    assert str(e) == e.render(lambda a: "--" + a) == "data.csv, line 3: not a number"


def test_a_hostile_path_in_a_message_is_kept_as_it_is():
    path = "{batch_size}%s{0}.csv"
    e = DataError(lambda name: f"{path}: set {name('drop_missing')}")
    assert str(e) == "{batch_size}%s{0}.csv: set drop_missing"
    assert e.render(lambda a: "--drop-missing") == "{batch_size}%s{0}.csv: set --drop-missing"


def test_library_and_command_line_name_the_same_argument_their_own_way(capsys):
    x, y = [[0.0], [1.0]], [0.2, 0.8]
    with pytest.raises(InputError, match=r"^batch_size 3 is larger than the 2 training rows"):
        train.fit(x, y, batch_size=3, epochs=1)
    assert main(["train", "--rows", "10", "--batch-size", "9", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "--batch-size 9 is larger than the 8 training rows" in err and "batch_size" not in err
