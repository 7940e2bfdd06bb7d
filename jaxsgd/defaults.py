"""Defaults, choice lists and limits, in one place that the library and the command line both read (no JAX here).

A library default and the command line's default for the same setting are one
constant here, so they cannot drift apart. Constants only.

Choice lists:
  ``OPTIMIZERS`` = ``("sgd", "momentum", "adam")``
      the optimizers :func:`jaxsgd.train.fit` and ``jaxsgd train --optimizer`` take.
  ``SHUFFLES`` = ``("auto", "host", "device")``
      where each epoch's permutations are drawn (see :func:`jaxsgd.train.permutations`).
  ``STEP_DTYPES`` = ``("float32", "float64")``
      the arithmetic of the worked step (:func:`jaxsgd.exercise.worked_step`, ``jaxsgd step --dtype``).

The batch-size study (:class:`jaxsgd.study.StudyConfig`, ``jaxsgd batch-size``):
  ``STUDY_FRACTIONS`` = ``(0.1, 0.01, 0.001, 1e-4)``
      the loss levels ``L* + f·(L0 − L*)`` the runs must arrive at, one per fraction ``f``.
  ``STUDY_LEARNING_RATES`` = ``(0.25, 0.5, …, 64.0)``
      the learning rates ``2^e`` for ``e = −2 … 6`` that the largest batch size runs first; the others
      search half-octaves around the best.
  ``STUDY_SEEDS`` = ``8``
      runs per batch size and learning rate.
  ``STUDY_WINDOW`` = ``5``
      learning rates (half-octaves) each smaller batch size starts from, around the larger's best.
  ``STUDY_MAX_ROWS`` = ``100_000``
      the most rows studied: above this many, a random subset of this many.
  ``STUDY_MAX_STEPS`` = ``20_000``
      the most steps any run takes.
  ``STUDY_ROWS`` = ``20_000``
      rows of the built-in data the study generates.
  ``MAX_BATCH`` = ``4096``
      the study's largest default batch size.
  ``BUDGET_EPOCHS`` = ``3``
      epochs of the check runs behind the study's recommendation.

One training run (:func:`jaxsgd.train.fit`, :class:`jaxsgd.train.TrainConfig`, ``jaxsgd train``):
  ``BATCH_SIZE`` = ``32``
      examples per SGD step.
  ``LEARNING_RATE`` = ``0.5``
      the step size ``α``.
  ``EPOCHS`` = ``10``
      passes over the training rows.
  ``VAL_FRACTION`` = ``0.2``
      the share of rows held out for validation.
  ``TRAIN_ROWS`` = ``100_000``
      rows of the built-in data a training run generates.

Derivatives of σ (:mod:`jaxsgd.derivatives`, ``jaxsgd check``, ``jaxsgd check-derivative``):
  ``CHECK_MAX_ORDER`` = ``12``
      ``jaxsgd check`` holds every method to orders ``1 … CHECK_MAX_ORDER`` by default.
  ``POLYNOMIAL_MAX_ORDER`` = ``1000``
      the highest order of an exact polynomial: the coefficients of ``σ⁽¹⁰⁰⁰⁾`` have 2,726 digits,
      within Python's int-to-text limit of 4,300.
  ``ANSWER_MAX_ORDER`` = ``100``
      the highest order ``check-derivative`` judges.
  ``ACCURACY_MAX_ORDER`` = ``100``
      the highest order any numerical method is held to (``jaxsgd check``).

Several processes (:func:`jaxsgd.distributed.initialize`):
  ``JOIN_TIMEOUT`` = ``60.0``
      seconds every process has to join before the others give up.
  ``MAX_JOIN_TIMEOUT`` = ``86_400.0``
      the longest ``join_timeout`` taken, a day: longer is a typo, and the runtime takes whole seconds
      in 32 bits.

Example:
  >>> from jaxsgd import defaults
  >>> defaults.BATCH_SIZE, defaults.LEARNING_RATE, defaults.OPTIMIZERS
  (32, 0.5, ('sgd', 'momentum', 'adam'))
  >>> defaults.STUDY_LEARNING_RATES[0], defaults.STUDY_LEARNING_RATES[-1], len(defaults.STUDY_LEARNING_RATES)
  (0.25, 64.0, 9)
"""

OPTIMIZERS = ("sgd", "momentum", "adam")
SHUFFLES = ("auto", "host", "device")  # see jaxsgd.train.permutations
STEP_DTYPES = ("float32", "float64")  # the worked step's arithmetic (jaxsgd.exercise)

# the batch-size study (jaxsgd.study.StudyConfig)
STUDY_FRACTIONS = (0.1, 0.01, 0.001, 1e-4)  # levels L* + f·(L0 − L*)
STUDY_LEARNING_RATES = tuple(2.0**e for e in range(-2, 7))
STUDY_SEEDS = 8
STUDY_WINDOW = 5  # learning rates (half-octaves) each smaller batch size starts from, around the larger's best
STUDY_MAX_ROWS = 100_000
STUDY_MAX_STEPS = 20_000

# one training run (jaxsgd.train.fit, jaxsgd.train.TrainConfig, jaxsgd train)
BATCH_SIZE = 32
LEARNING_RATE = 0.5
EPOCHS = 10
VAL_FRACTION = 0.2
TRAIN_ROWS = 100_000  # rows of built-in data for training
STUDY_ROWS = 20_000  # rows of built-in data for the batch-size study
MAX_BATCH = 4096  # the study's largest default batch size
BUDGET_EPOCHS = 3  # epochs of the check runs behind the study's recommendation
CHECK_MAX_ORDER = 12  # orders 1 … this that jaxsgd check holds every method to by default

# limits
POLYNOMIAL_MAX_ORDER = 1000  # coefficients of σ⁽¹⁰⁰⁰⁾ have 2,726 digits, within Python's int-to-text limit of 4,300
ANSWER_MAX_ORDER = 100  # the highest order check-derivative judges
ACCURACY_MAX_ORDER = 100  # the highest order any numerical method is held to (jaxsgd check)
JOIN_TIMEOUT = 60.0  # seconds every process has to join before the others give up
MAX_JOIN_TIMEOUT = 86_400.0  # a day: longer is a typo, and the runtime takes whole seconds in 32 bits
