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

#: How a caller spells an argument: ``namer(python_name) -> text``, e.g. :func:`python_name` or
#: ``lambda arg: "--" + arg.replace("_", "-")`` for the command line's flags.
Namer = Callable[[str], str]


def python_name(argument: str) -> str:
    """The library's spelling of an argument: its Python name, unchanged (the default :data:`Namer`).

    Args:
      argument: the argument's Python name, e.g. ``"batch_size"``.

    Returns:
      ``argument`` itself.

    Example:
      >>> python_name("batch_size")
      'batch_size'
    """
    return argument


class InputError(ValueError):
    """Bad input (an argument, a file, a setting) with a one-line message that says what would fix it.

    The root of every jaxsgd exception (a :class:`ValueError`): ``except InputError``
    catches them all. ``str(e)`` names arguments by their Python names; :meth:`render`
    names them as another caller knows them.

    Args:
      message: the text, or ``message(name) -> text`` where ``name(argument)`` spells an argument
        (a :data:`Namer`).

    Example:
      >>> e = InputError(lambda name: f"{name('batch_size')} must be > 0, got 0")
      >>> str(e), isinstance(e, ValueError)
      ('batch_size must be > 0, got 0', True)
      >>> str(InputError("no data"))
      'no data'
    """

    def __init__(self, message: str | Callable[[Namer], str]):
        self._say = message if callable(message) else (lambda name: message)
        super().__init__(self._say(python_name))

    def render(self, name: Namer) -> str:
        """The message with each argument spelt by ``name``.

        Args:
          name: the :data:`Namer`, ``name(python_name) -> text``.

        Returns:
          The message, a ``str``.

        Example:
          >>> e = InputError(lambda name: f"{name('batch_size')} must be > 0, got 0")
          >>> e.render(lambda arg: "--" + arg.replace("_", "-"))
          '--batch-size must be > 0, got 0'
        """
        return self._say(name)


class DataError(InputError):
    """Bad data: a one-line message naming the file, line and column where it can.

    Args:
      message: the text, or ``message(name) -> text`` (see :class:`InputError`).

    Example:
      >>> try:
      ...     raise DataError("data.csv line 3, column 2: 'abc' is not a number")
      ... except InputError as e:
      ...     print(type(e).__name__, e)
      DataError data.csv line 3, column 2: 'abc' is not a number
    """


class CheckpointError(InputError):
    """A file that is not a jaxsgd checkpoint, or one that does not fit the run.

    Args:
      message: the text, or ``message(name) -> text`` (see :class:`InputError`).

    Example:
      >>> e = CheckpointError(lambda name: f"{name('resume')} run.ckpt: not a jaxsgd checkpoint")
      >>> e.render(lambda arg: "--" + arg)
      '--resume run.ckpt: not a jaxsgd checkpoint'
    """


class OutputError(InputError):
    """An output path that cannot be written, or whose writing would replace something not ours.

    :mod:`jaxsgd.paths` raises it before a run starts, so that a bad path costs seconds.

    Args:
      message: the text, or ``message(name) -> text`` (see :class:`InputError`).

    Example:
      >>> str(OutputError("plot out.txt: the name must end in an image extension"))
      'plot out.txt: the name must end in an image extension'
    """


class StudyError(InputError):
    """A study setting out of range: ``argument`` names the field, ``problem`` says what is wrong.

    Args:
      argument: the setting's Python name (a field of :class:`jaxsgd.study.StudyConfig`), e.g. ``"seeds"``.
      problem: what is wrong with it and what would fix it.

    Attributes:
      argument: as given.
      problem: as given.

    Example:
      >>> e = StudyError("seeds", "at least one seed is needed, got 0")
      >>> str(e)
      'seeds: at least one seed is needed, got 0'
      >>> e.render(lambda arg: "--" + arg), e.argument
      ('--seeds: at least one seed is needed, got 0', 'seeds')
    """

    def __init__(self, argument: str, problem: str):
        super().__init__(lambda name: f"{name(argument)}: {problem}")
        self.argument, self.problem = argument, problem


class TrainingStopped(InputError):
    """A non-finite loss stopped the run; the last good checkpoint is kept.

    Args:
      message: the text, or ``message(name) -> text`` (see :class:`InputError`).

    Example:
      >>> e = TrainingStopped("the loss is NaN after epoch 3: try a smaller learning_rate")
      >>> isinstance(e, InputError), str(e)
      (True, 'the loss is NaN after epoch 3: try a smaller learning_rate')
    """


class ExpressionError(InputError):
    """A person's answer that cannot be read or checked: a one-line reason.

    Args:
      message: the text, or ``message(name) -> text`` (see :class:`InputError`).

    Example:
      >>> str(ExpressionError("cannot read 's*(1-': a ( is not closed"))
      "cannot read 's*(1-': a ( is not closed"
    """


class ModelError(InputError):
    """A model that cannot be used: a spec that names none, or a user's model that fails.

    A user's model fails when its ``init`` or ``loss`` raises or does not give what
    training needs (a pytree of floats; a differentiable scalar), see
    :func:`jaxsgd.model.check_model` and :func:`jaxsgd.model.from_spec`.

    Args:
      message: the text, or ``message(name) -> text`` (see :class:`InputError`).

    Example:
      >>> str(ModelError("unknown model 'mlp16': use sigmoid or mlp:H[,H…]"))
      "unknown model 'mlp16': use sigmoid or mlp:H[,H…]"
    """
