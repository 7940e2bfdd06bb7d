"""Which batch size, measured: steps and examples to loss levels against B, the noise scale, advice, claims.

:func:`run_study` trains every (seed × learning rate) run of each batch size B
and records the steps ``S(B)`` to each loss level ``L* + f·(L₀ − L*)`` at the
best learning rate; :func:`fit_critical_batch` fits ``S = S_min(1 + B_crit/B)``
(McCandlish et al., 2018) with bootstrap intervals over seeds, beside the noise
scales ``B_simple = tr Σ/|G|²`` and ``B_noise = tr(HΣ)/(GᵀHG)`` (:func:`noise_scales`). :func:`advise` turns the
study into settings checked by training; :func:`run_claims` tests two textbook
claims about mini-batch gradients, and :func:`network_claims` the network claims (generalisation, sharpness,
learning-rate scaling) for any model. :func:`run_study_job` is the
``jaxsgd batch-size`` job.

>>> s_min, b_crit = fit_critical_batch([1, 2, 4, 8], [130.0, 70.0, 40.0, 25.0])
>>> round(s_min), round(b_crit)
(10, 12)
"""

from jaxsgd.study._advice import Advice, Choice, advise, certainty, final_losses, verdict, warm_up
from jaxsgd.study._claims import (
    ALPHA,
    ClaimRow,
    Claims,
    bias_test,
    chi2_sf,
    run_claims,
    step_seconds,
    step_timings,
    with_timings,
)
from jaxsgd.study._critical_batch import MIN_DEFAULT_STEPS, LevelResult, Row, fit_critical_batch
from jaxsgd.study._hits import BatchRuns, chunk_costs
from jaxsgd.study._job import StudyJob, StudyReport, run_study_job
from jaxsgd.study._network import GapRow, NetworkClaims, Verdict, network_claims
from jaxsgd.study._noise import (
    NoiseScale,
    NoiseScales,
    bootstrap_noise_scales,
    hessian,
    hessian_vector_product,
    noise_scale,
    noise_scale_of,
    noise_scale_two_batch,
    noise_scales,
    noise_scales_of,
    per_example_gradients,
)
from jaxsgd.study._study import FRACTIONS, LEARNING_RATES, StudyConfig, StudyResult, run_study, subsample, validate

__all__ = [
    "ALPHA",
    "FRACTIONS",
    "LEARNING_RATES",
    "MIN_DEFAULT_STEPS",
    "Advice",
    "BatchRuns",
    "Choice",
    "ClaimRow",
    "Claims",
    "GapRow",
    "LevelResult",
    "NetworkClaims",
    "NoiseScale",
    "NoiseScales",
    "Row",
    "StudyConfig",
    "StudyJob",
    "StudyReport",
    "StudyResult",
    "Verdict",
    "advise",
    "bias_test",
    "bootstrap_noise_scales",
    "certainty",
    "chi2_sf",
    "chunk_costs",
    "final_losses",
    "fit_critical_batch",
    "hessian",
    "hessian_vector_product",
    "network_claims",
    "noise_scale",
    "noise_scale_of",
    "noise_scale_two_batch",
    "noise_scales",
    "noise_scales_of",
    "per_example_gradients",
    "run_claims",
    "run_study",
    "run_study_job",
    "step_seconds",
    "step_timings",
    "subsample",
    "validate",
    "verdict",
    "warm_up",
    "with_timings",
]
