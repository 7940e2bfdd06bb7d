"""jaxsgd: SGD on the sigmoid neuron h(x) = σ(b + w·x), exact and compiled with JAX."""

from jaxsgd.derivatives import sigmoid_derivative as sigmoid_derivative
from jaxsgd.exercise_step import worked_step as worked_step
from jaxsgd.model import Params as Params
from jaxsgd.model import batch_grad as batch_grad
from jaxsgd.model import batch_loss as batch_loss
from jaxsgd.model import example_loss as example_loss
from jaxsgd.model import init_params as init_params
from jaxsgd.model import per_example_grads as per_example_grads
from jaxsgd.model import predict as predict
from jaxsgd.model import predict_batch as predict_batch
from jaxsgd.model import sgd_step as sgd_step
from jaxsgd.model import sigmoid as sigmoid
from jaxsgd.model import sigmoid_prime as sigmoid_prime
from jaxsgd.polynomials import sigmoid_polynomial as sigmoid_polynomial
from jaxsgd.polynomials import tanh_polynomial as tanh_polynomial
from jaxsgd.sgd import TrainState as TrainState
from jaxsgd.sgd import fit as fit
from jaxsgd.sgd import run_epochs as run_epochs
from jaxsgd.sgd import train as train

__version__ = "0.1.0"

__all__ = [
    "Params",
    "batch_grad",
    "batch_loss",
    "example_loss",
    "init_params",
    "per_example_grads",
    "predict",
    "predict_batch",
    "sgd_step",
    "sigmoid",
    "sigmoid_prime",
    "worked_step",
    "sigmoid_derivative",
    "sigmoid_polynomial",
    "tanh_polynomial",
    "TrainState",
    "fit",
    "run_epochs",
    "train",
]
