"""Every exception jaxsgd raises: errors a user can fix, one family rooted at :class:`InputError`, worded in
the caller's terms.

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

__all__ = ["CheckpointError", "DataError", "ExpressionError", "InputError", "ModelError", "Namer", "OutputError",
           "StudyError", "TrainingStopped", "python_name"]

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


class CheckpointError(InputError):
    """A file that is not a jaxsgd checkpoint, or one that does not fit the run."""


class OutputError(InputError):
    """An output path that cannot be written, or whose writing would replace something not ours."""


class StudyError(InputError):
    """A study setting out of range: ``argument`` names the field, ``problem`` says what is wrong.

    >>> str(StudyError("seeds", "at least one seed is needed, got 0"))
    'seeds: at least one seed is needed, got 0'
    """

    def __init__(self, argument: str, problem: str):
        super().__init__(lambda name: f"{name(argument)}: {problem}")
        self.argument, self.problem = argument, problem


class TrainingStopped(InputError):
    """A non-finite loss stopped the run; the last good checkpoint is kept."""


class ExpressionError(InputError):
    """A person's answer that cannot be read or checked: a one-line reason."""


class ModelError(InputError):
    """A model that cannot be used: a spec that names none, or a user's model whose ``init`` or ``loss`` fails
    or does not give what training needs (a pytree of floats; a differentiable scalar)."""
