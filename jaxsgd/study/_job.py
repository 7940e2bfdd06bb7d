"""The batch-size job: a :class:`StudyJob` in, a :class:`StudyReport` out; ``jaxsgd batch-size`` parses and
renders it.

It loads the data, scales it, runs :func:`jaxsgd.study.run_study` on the rows
studied (a random subset above ``max_rows``), advises on those same rows
(:func:`jaxsgd.study.advise`, its programs compiled on the study's compile
thread while the study runs), and, if asked, tests the claims on all rows: :func:`run_study_job`.
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
    """The batch-size job's settings: where the rows come from, the study's, the check runs' budget, claims.

    Attributes:
      data: the :class:`jaxsgd.data.DataSource` of the rows; default the built-in data,
        ``defaults.STUDY_ROWS`` (20,000) rows.
      study: the :class:`StudyConfig`; default its defaults.
      budget_epochs: the epochs of the advice's check runs (:func:`advise`); default
        ``defaults.BUDGET_EPOCHS`` (3).
      claims: also test the claims: the mini-batch gradient's (:func:`run_claims`, the neuron only), the
        step timings (:func:`with_timings`) and the network claims (:func:`network_claims`); default ``False``.
      model: a :class:`jaxsgd.model.Model`; default ``None``: the sigmoid neuron.

    Example:
      >>> from jaxsgd.data import DataSource
      >>> job = StudyJob(DataSource(n_rows=400), StudyConfig(batch_sizes=(8, 64), seeds=2), budget_epochs=1)
      >>> job.claims, job.model is None, job.study.seeds
      (False, True, 2)
    """

    data: data.DataSource = data.DataSource(n_rows=defaults.STUDY_ROWS)
    study: StudyConfig = StudyConfig()
    budget_epochs: int = defaults.BUDGET_EPOCHS
    claims: bool = False
    model: object = None


class StudyReport(NamedTuple):
    """What :func:`run_study_job` gives: the study, its recommendation, and the claims.

    Attributes:
      result: the :class:`StudyResult` of :func:`run_study`.
      advice: the :class:`Advice` of :func:`advise` on the rows studied.
      claims: the :class:`Claims` with timings and network claims (``None`` unless the job asked for them).

    Example:
      >>> from jaxsgd.study import Advice, LevelResult, Row, StudyResult
      >>> level = LevelResult(0.1, 0.02, True, None, None, None, None, None, (Row(8, None, None, None, None, None),))
      >>> result = StudyResult(400, None, 2, (0.5,), 0.2, 0.0, (level,), {8: 1e-4}, 1.0, (), {})
      >>> advice = Advice(None, (), 0.013, None, 3, "no batch size reached the level: no advice", "")
      >>> report = StudyReport(result, advice, claims=None)
      >>> report.result.default.rows[0].steps, report.advice.recommendation, report.claims
      (None, None, None)
    """

    result: StudyResult
    advice: Advice
    claims: Claims | None


def run_study_job(job: StudyJob, *, progress=None, log=None) -> StudyReport:
    """The ``jaxsgd batch-size`` job: loads, scales, studies, advises and (if ``job.claims``) tests the claims.

    The study runs on the rows studied (a random subset above ``job.study.max_rows``, :func:`subsample`), the
    advice trains on those same rows, and the claims of the mini-batch gradient use all rows; the network
    claims use the rows studied.

    Args:
      job: the :class:`StudyJob`.
      progress: ``progress(done, total, message, eta=seconds)``, called after each of the study's batch sizes
        (:func:`run_study`); default ``None``.
      log: ``log(message)``, given notes as strings (rows dropped for missing values); default ``None``.

    Returns:
      A :class:`StudyReport`.

    Raises:
      InputError: bad settings or data, each naming its argument (a :class:`~jaxsgd.errors.StudyError` for a
        study setting); a model that fails on the data's width (:class:`~jaxsgd.errors.ModelError`).

    Example:
      >>> from jaxsgd.data import DataSource
      >>> job = StudyJob(DataSource(n_rows=400), StudyConfig(batch_sizes=(8, 64), seeds=2, bootstrap=20),
      ...                budget_epochs=1)
      >>> report = run_study_job(job)
      >>> [row.batch_size for row in report.result.default.rows], report.advice.recommendation is not None
      ([8, 64], True)
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
