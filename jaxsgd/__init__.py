"""jaxsgd: SGD on the sigmoid neuron h(x) = σ(b + w·x), exact and compiled with JAX.

The public names below are imported on first use, so that commands which need
no JAX (``jaxsgd derivative``, ``jaxsgd check-derivative``) start quickly.
"""

import importlib

__version__ = "0.1.0"

_WHERE = {
    "sigmoid_derivative": "jaxsgd.derivatives",
    "worked_step": "jaxsgd.exercise_step",
    "Params": "jaxsgd.model",
    "batch_grad": "jaxsgd.model",
    "batch_loss": "jaxsgd.model",
    "example_loss": "jaxsgd.model",
    "init_params": "jaxsgd.model",
    "mean_loss": "jaxsgd.model",
    "per_example_grads": "jaxsgd.model",
    "predict": "jaxsgd.model",
    "predict_batch": "jaxsgd.model",
    "sgd_step": "jaxsgd.model",
    "sigmoid": "jaxsgd.model",
    "sigmoid_prime": "jaxsgd.model",
    "sigmoid_polynomial": "jaxsgd.polynomials",
    "tanh_polynomial": "jaxsgd.polynomials",
    "TrainState": "jaxsgd.sgd",
    "fit": "jaxsgd.sgd",
    "run_epochs": "jaxsgd.sgd",
    "sweep": "jaxsgd.engine",
}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'jaxsgd' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_WHERE])
