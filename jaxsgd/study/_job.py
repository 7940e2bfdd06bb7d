"""The batch-size job: a :class:`StudyJob` in, a :class:`StudyReport` out; ``jaxsgd batch-size`` parses and
renders it.

It loads the data, scales it, runs :func:`jaxsgd.study.run_study` on the rows
studied (a random subset above ``max_rows``), advises on those same rows
(:func:`jaxsgd.study.advise`, its programs compiled on the study's compile
thread while the study runs), and, if asked, tests the claims on all rows.

>>> from jaxsgd.data import DataSource
>>> job = StudyJob(DataSource(n_rows=400), StudyConfig(batch_sizes=(8, 64), seeds=2, bootstrap=20),
...                budget_epochs=1)
>>> report = run_study_job(job)
>>> [row.batch_size for row in report.result.default.rows], report.advice.recommendation is not None
([8, 64], True)
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from jaxsgd import data, defaults
from jaxsgd.model import check_model
from jaxsgd.study._advice import Advice, advise, warm_up
from jaxsgd.study._claims import Claims, run_claims, with_timings
from jaxsgd.study._network import network_claims
from jaxsgd.study._study import StudyConfig, StudyResult, run_study, subsample


class StudyJob(NamedTuple):
    """The batch-size job's settings: where the rows come from, the study's, the check runs' budget, claims."""

    data: data.DataSource = data.DataSource(n_rows=defaults.STUDY_ROWS)
    study: StudyConfig = StudyConfig()
    budget_epochs: int = defaults.BUDGET_EPOCHS
    claims: bool = False
    model: object = None  # a jaxsgd.model.Model; None: the sigmoid neuron


class StudyReport(NamedTuple):
    """The study, its recommendation, and the claims (``None`` unless asked for)."""

    result: StudyResult
    advice: Advice
    claims: Claims | None


def run_study_job(job: StudyJob, *, progress=None, log=None) -> StudyReport:
    """Loads, scales, studies, advises and (if ``job.claims``) tests the claims.

    ``progress(done, total, message, eta=seconds)`` follows the study's batch sizes; ``log``
    takes notes (rows dropped for missing values). Raises ``InputError`` for bad
    settings or data, each naming its argument.
    """
    ds = data.load(job.data)
    if ds.dropped_lines and log is not None:
        log(data.dropped_note(ds))
    tr = data.fit_transform(ds)
    x, y = tr.features(ds.x), tr.target(ds.y)
    if job.model is not None:  # tried once on this data's width before any work: a broken model fails here
        check_model(job.model, x.shape[1])
    cfg = job.study
    scale = tr.y_hi - tr.y_lo
    warm = functools.partial(warm_up, seed=cfg.seed) if job.model is None else None
    result = run_study(x, y, cfg, progress=progress, also_compile=warm, target_scale=scale, model=job.model)
    studied_x, studied_y, _ = subsample(x, y, cfg)  # the check runs train on the rows studied
    advice = advise(result, studied_x, studied_y, budget_epochs=job.budget_epochs, seed=cfg.seed,
                    target_scale=scale, model=job.model)
    claims = None
    if job.claims:
        # the mini-batch gradient's bias and variance are the neuron's (at a point of its path); the network
        # claims and the timings hold for any model
        claims = run_claims(x, y, seed=cfg.seed) if job.model is None else Claims((), 0, ())
        claims = with_timings(claims)._replace(network=network_claims(result, studied_x, studied_y,
                                                                      model=job.model, seed=cfg.seed))
    return StudyReport(result, advice, claims)
