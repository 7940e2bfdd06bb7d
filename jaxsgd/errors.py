"""Errors a user can fix, worded in the caller's terms.

A message may name the caller's arguments. It is given as a function of a
*namer*, which spells an argument's Python name the way the caller knows it: the
library's ``str(e)`` keeps the Python name (``batch_size``), the command line
renders the same error with its flags (``--batch-size``). No message is edited
after the fact.

>>> e = InputError(lambda name: f"{name('batch_size')} must be > 0, got 0")
>>> str(e)
'batch_size must be > 0, got 0'
>>> e.render(lambda arg: "--" + arg.replace("_", "-"))
'--batch-size must be > 0, got 0'
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["DataError", "InputError", "Namer", "python_name"]

Namer = Callable[[str], str]


def python_name(argument: str) -> str:
    """The library's spelling of an argument: its Python name."""
    return argument


class InputError(ValueError):
    """Bad input (an argument, a file, a setting) with a one-line message that says what would fix it.

    Args:
      message: the text, or ``message(name) -> text`` where ``name(argument)`` spells an argument.
    """

    def __init__(self, message: str | Callable[[Namer], str]):
        self._say = message if callable(message) else (lambda name: message)
        super().__init__(self._say(python_name))

    def render(self, name: Namer) -> str:
        """The message with each argument spelt by ``name``."""
        return self._say(name)


class DataError(InputError):
    """Bad data: a one-line message naming the file, line and column where it can."""
