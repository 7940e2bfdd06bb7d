"""Defaults and choice lists, in one place that the library and the command line both read (no jax here)."""

OPTIMIZERS = ("sgd", "momentum", "adam")
SHUFFLES = ("auto", "host", "device")  # see jaxsgd.engine.permutations

# the batch-size study (jaxsgd.study.StudyConfig)
STUDY_FRACTIONS = (0.1, 0.01, 0.001, 1e-4)  # levels L* + f·(L0 − L*)
STUDY_LEARNING_RATES = tuple(2.0**e for e in range(-2, 7))
STUDY_SEEDS = 8
STUDY_MAX_ROWS = 100_000
STUDY_MAX_STEPS = 20_000

# one training run (jaxsgd.sgd.fit, jaxsgd.run.TrainConfig, jaxsgd train)
BATCH_SIZE = 32
LEARNING_RATE = 0.5
EPOCHS = 10
VAL_FRACTION = 0.2
TRAIN_ROWS = 100_000  # rows of built-in data for training
STUDY_ROWS = 20_000  # rows of built-in data for the batch-size study
MAX_BATCH = 4096  # the study's largest default batch size
BUDGET_EPOCHS = 3  # epochs of the check runs behind the study's recommendation
CHECK_MAX_ORDER = 12  # orders 1 … this that jaxsgd check holds every method to by default
