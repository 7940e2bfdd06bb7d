"""Defaults, choice lists and limits, in one place that the library and the command line both read (no JAX here)."""

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
