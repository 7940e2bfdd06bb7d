"""Training runs, one or many: the SGD step, the epoch, ``fit``, ``sweep``, checkpoints and the train job.

One definition of each piece: :func:`step` is the update every run takes
(``θ ← θ − α·(1/B) Σᵢ ∇Lᵢ`` with the default optimizer); :func:`epoch` is one
compiled pass over shuffled batches for ``S`` seeds × ``L`` learning rates at
once; :func:`fit` is one run (``S = L = 1``) with its :class:`History`, and
:func:`sweep` many; :class:`TrainState` holds either. :func:`run_training` is
the ``jaxsgd train`` job.

>>> import jax, numpy as np
>>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
>>> state, history = fit(x, (x[:, 0] > 0).astype(np.float32), batch_size=8, epochs=2, key=jax.random.key(0))
>>> int(state.epoch), len(history.train_loss)
(2, 2)
"""

from jaxsgd.train._checkpoint import is_checkpoint, load_checkpoint, save_checkpoint
from jaxsgd.train._engine import (
    TrainState,
    cpu_threads,
    epoch,
    epoch_of_batches,
    rows_of,
    runs_loss,
    runs_step,
    seed_groups,
    set_learning_rate,
    shuffled_batches,
    step,
    sweep,
)
from jaxsgd.train._fit import FitResult, History, check_divisible, data_mesh, examples_per_epoch, fit
from jaxsgd.train._job import SATURATED_Z, TrainConfig, TrainReport, diagnose, run_training
from jaxsgd.train._metrics import Metrics, metrics, predict_prices, raw_units, shared_transform
from jaxsgd.train._native import status as native_status
from jaxsgd.train._optimizers import RuntimeSGDState, make_optimizer, runtime_sgd
from jaxsgd.train._reference import evaluate_loss, full_batch_reference
from jaxsgd.train._shuffles import Shuffler, part_keys, permutations, seed_key

__all__ = [
    "SATURATED_Z",
    "FitResult",
    "History",
    "Metrics",
    "RuntimeSGDState",
    "Shuffler",
    "TrainConfig",
    "TrainReport",
    "TrainState",
    "check_divisible",
    "cpu_threads",
    "data_mesh",
    "diagnose",
    "epoch",
    "epoch_of_batches",
    "evaluate_loss",
    "examples_per_epoch",
    "fit",
    "full_batch_reference",
    "is_checkpoint",
    "load_checkpoint",
    "make_optimizer",
    "metrics",
    "native_status",
    "part_keys",
    "permutations",
    "predict_prices",
    "raw_units",
    "rows_of",
    "run_training",
    "runs_loss",
    "runs_step",
    "runtime_sgd",
    "save_checkpoint",
    "seed_groups",
    "seed_key",
    "set_learning_rate",
    "shared_transform",
    "shuffled_batches",
    "step",
    "sweep",
]
