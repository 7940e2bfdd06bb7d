"""Shared fixtures. JAX refuses implicit rank broadcasting so shape bugs fail loudly."""

import pathlib

import jax
import jax.numpy as jnp
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_CSV = ROOT.parent / "shared" / "data" / "california_housing.csv"


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    """Runs the test once per dtype; float64 with x64 enabled locally."""
    with jax.enable_x64(request.param == "float64"):
        yield jnp.dtype(request.param)


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


@pytest.fixture
def california_csv():
    if not SHARED_CSV.exists():
        pytest.skip(f"the California Housing CSV is not at {SHARED_CSV} (shared data folder absent)")
    return SHARED_CSV
