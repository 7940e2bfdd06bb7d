"""Benchmarks: one SGD epoch (shuffle included) and a 64-run sweep against the fastest honest C loop.

    python scripts/bench.py              # tables with ratios
    python scripts/bench.py --json       # one JSON object on stdout
    python scripts/bench.py --quick      # smaller N, for a smoke run
    python scripts/bench.py --only sweep # the sweep row alone
    python scripts/bench.py --only load  # loading a 2,000,000-row table against bare pyarrow
    python scripts/bench.py --only processes  # train in one process and in two (jaxsgd launch)
    python scripts/bench.py --only startup    # derivative and check-derivative from a cold process (no JAX)
    python scripts/bench.py --only mlp        # 64 MLPs (8 → 32 → 32 → 1) against optax, PyTorch, matmul limit

Every implementation does the same work per epoch: a uniformly random
permutation of the N rows, then for each mini-batch of B rows
``z = b + w·x``, ``h = σ(z)``, ``g = (1/B) Σ (h − y)·σ′(z)·(1, x)``, ``θ ← θ − α g``
in float32. The C loop is compiled here with the system C compiler
(``-O3 -march=native``, IEEE arithmetic): Fisher–Yates with xorshift64 and
multiply-shift bounded integers, the feature count d a compile-time constant,
accumulators in registers (local scalars), the row 128 places ahead prefetched, one ``expf`` per example for both σ
and σ′ (``e = exp(−|z|)``, ``σ′ = e/(1 + e)²``). The sweep row runs 64 runs as the
batch-size study does (8 seeds, each with its own shuffles, × 8 learning rates
sharing them), one epoch each, shuffles included, and is compared with one C
run at the same N and B. ``c-simd`` is a stronger C loop still: each batch copied
out and summed in one vectorised pass (``-ffast-math -fopenmp-simd``, glibc's
vector ``expf``), the same math summed in another order. numpy and the optax pattern (jitted step, Python loop
over batches) run on a prefix of the epoch when a full one would take too long.
"""

from __future__ import annotations

import argparse
import ctypes
import inspect
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsgd import train
from jaxsgd.model import Params, batch_loss

UNROLL = inspect.signature(train.epoch).parameters["unroll"].default  # the engine's choice

C_SOURCE = r"""
#include <math.h>
#include <stddef.h>
#include <stdint.h>
static inline uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s; x ^= x << 13; x ^= x >> 7; x ^= x << 17; return *s = x;
}
#define AHEAD 128
void epoch(const float *restrict x, const float *restrict y, int n, int bsz, float lr, float *restrict theta,
           int32_t *restrict perm, uint64_t seed) {
    uint64_t s = seed ? seed : 88172645463325252ULL;
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {                                   /* Fisher-Yates */
        int j = (int)(((xorshift(&s) >> 32) * (uint64_t)(i + 1)) >> 32);  /* Lemire multiply-shift */
        int32_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
#ifdef SIMD
    /* the batch copied out, then one vectorised pass: -ffast-math lets gcc reassociate the sums and call
       glibc's vector expf (libmvec); the same math, summed in another order */
    float b = theta[0], w[D], xb[D][4096], yb[4096];
    for (int k = 0; k < D; k++) w[k] = theta[k + 1];
    const float scale = lr / (float)bsz;
    for (int start = 0; start + bsz <= n; start += bsz) {
        for (int r = 0; r < bsz; r++) {
            const int ahead = perm[start + r + AHEAD < n ? start + r + AHEAD : n - 1];
            __builtin_prefetch(x + (size_t)ahead * D);                 /* the row AHEAD places on, early */
            __builtin_prefetch(y + ahead);
            const int i = perm[start + r];
            for (int k = 0; k < D; k++) xb[k][r] = x[(size_t)i * D + k];
            yb[r] = y[i];
        }
        float gb = 0.f, gw0 = 0.f, gw1 = 0.f;
        #pragma omp simd reduction(+:gb, gw0, gw1)
        for (int r = 0; r < bsz; r++) {
            float z = b;
            for (int k = 0; k < D; k++) z += w[k] * xb[k][r];
            const float e = expf(-fabsf(z));
            const float inv = 1.f / (1.f + e);
            const float h = z >= 0.f ? inv : e * inv;
            const float dz = (h - yb[r]) * e * inv * inv;
            gb += dz; gw0 += dz * xb[0][r]; gw1 += dz * xb[D - 1][r];
        }
        b -= scale * gb; w[0] -= scale * gw0; w[D - 1] -= scale * gw1;
    }
#else
    float b = theta[0], w[D];
    for (int k = 0; k < D; k++) w[k] = theta[k + 1];
    const float scale = lr / (float)bsz;
    for (int start = 0; start + bsz <= n; start += bsz) {
        float gb = 0.f, gw[D];                                          /* accumulators in registers */
        for (int k = 0; k < D; k++) gw[k] = 0.f;
        for (int r = start; r < start + bsz; r++) {
            const int ahead = perm[r + AHEAD < n ? r + AHEAD : n - 1];
            __builtin_prefetch(x + (size_t)ahead * D);                 /* the row AHEAD places on, early */
            __builtin_prefetch(y + ahead);
            const int i = perm[r];
            const float *xi = x + (size_t)i * D;
            float z = b;
            for (int k = 0; k < D; k++) z += w[k] * xi[k];
            const float e = expf(-fabsf(z));                            /* one exp for sigma and sigma' */
            const float inv = 1.f / (1.f + e);
            const float h = z >= 0.f ? inv : e * inv;
            const float dz = (h - y[i]) * e * inv * inv;
            gb += dz;
            for (int k = 0; k < D; k++) gw[k] += dz * xi[k];
        }
        b -= scale * gb;
        for (int k = 0; k < D; k++) w[k] -= scale * gw[k];
    }
#endif
    theta[0] = b;
    for (int k = 0; k < D; k++) theta[k + 1] = w[k];
}
"""


C_SWEEP_SOURCE = r"""
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
static inline uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s; x ^= x << 13; x ^= x >> 7; x ^= x << 17; return *s = x;
}
void set_threads(int t) { omp_set_num_threads(t); }
/* S seeds x L learning rates, one epoch each, the batch-size study's layout: each seed its own Fisher-Yates
   permutation, the L rates of a seed updated side by side (the inner loop, vectorised over the rates) on a
   batch gathered once, the seeds split over the cores (OpenMP). theta: S*L*(D+1), as [s][l][b, w...]. */
void sweep_epoch(const float *restrict x, const float *restrict y, int n, int bsz, const float *restrict lrs,
                 int S, float *restrict theta, int32_t *restrict perms, uint64_t seed) {
    #pragma omp parallel for schedule(static)
    for (int s = 0; s < S; s++) {
        int32_t *perm = perms + (size_t)s * n;
        uint64_t st = seed * 0x9E3779B97F4A7C15ULL + (uint64_t)s + 1;
        for (int i = 0; i < n; i++) perm[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = (int)(((xorshift(&st) >> 32) * (uint64_t)(i + 1)) >> 32);
            int32_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
        }
        float b[L], w[D][L], scale[L];
        for (int l = 0; l < L; l++) {
            const float *t = theta + ((size_t)s * L + l) * (D + 1);
            b[l] = t[0];
            for (int k = 0; k < D; k++) w[k][l] = t[k + 1];
            scale[l] = lrs[l] / (float)bsz;
        }
        float *xb = malloc(sizeof(float) * (size_t)D * bsz), *yb = malloc(sizeof(float) * (size_t)bsz);
        for (int start = 0; start + bsz <= n; start += bsz) {
            for (int r = 0; r < bsz; r++) {                       /* the batch, gathered once for the L rates */
                const int i = perm[start + r];
                for (int k = 0; k < D; k++) xb[(size_t)r * D + k] = x[(size_t)i * D + k];
                yb[r] = y[i];
            }
            float gb[L], gw[D][L];
            for (int l = 0; l < L; l++) { gb[l] = 0.f; for (int k = 0; k < D; k++) gw[k][l] = 0.f; }
            for (int r = 0; r < bsz; r++) {
                const float *xr = xb + (size_t)r * D;
                #pragma omp simd
                for (int l = 0; l < L; l++) {
                    float z = b[l];
                    for (int k = 0; k < D; k++) z += w[k][l] * xr[k];
                    const float e = expf(-fabsf(z));
                    const float inv = 1.f / (1.f + e);
                    const float h = z >= 0.f ? inv : e * inv;
                    const float dz = (h - yb[r]) * e * inv * inv;
                    gb[l] += dz;
                    for (int k = 0; k < D; k++) gw[k][l] += dz * xr[k];
                }
            }
            for (int l = 0; l < L; l++) {
                b[l] -= scale[l] * gb[l];
                for (int k = 0; k < D; k++) w[k][l] -= scale[l] * gw[k][l];
            }
        }
        free(xb); free(yb);
        for (int l = 0; l < L; l++) {
            float *t = theta + ((size_t)s * L + l) * (D + 1);
            t[0] = b[l];
            for (int k = 0; k < D; k++) t[k + 1] = w[k][l];
        }
    }
}
"""


def build_c_sweep(d: int = 2, n_lr: int = 8):
    """The C sweep: every seed's own shuffle, its learning rates side by side in the vectorised inner loop, the
    seeds over the cores (``-O3 -march=native -ffast-math -fopenmp``)."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        return None, "no C compiler found (set CC)"
    tmp = tempfile.mkdtemp(prefix="jaxsgd-bench-")
    src, lib = os.path.join(tmp, "sweep.c"), os.path.join(tmp, "sweep.so")
    with open(src, "w") as f:
        f.write(C_SWEEP_SOURCE)
    r = subprocess.run([cc, "-O3", "-march=native", "-ffast-math", "-fopenmp", f"-DD={d}", f"-DL={n_lr}", "-shared",
                        "-fPIC", src, "-o", lib, "-lm"], capture_output=True, text=True)
    if r.returncode != 0:
        return None, f"C compile failed: {r.stderr.strip()[:200]}"
    so = ctypes.CDLL(lib)
    fp = ctypes.POINTER(ctypes.c_float)
    so.sweep_epoch.argtypes = [fp, fp, ctypes.c_int, ctypes.c_int, fp, ctypes.c_int, fp,
                               ctypes.POINTER(ctypes.c_int32), ctypes.c_uint64]
    so.set_threads.argtypes = [ctypes.c_int]
    return so, None


def bench_c_sweep(so, x, y, bsz, repeats, seeds=8, n_lr=8, threads=None):
    """Run-examples/s of the C sweep on ``threads`` OpenMP threads (default: every core)."""
    n, d = x.shape
    theta = np.zeros(seeds * n_lr * (d + 1), np.float32)
    perms = np.empty(seeds * n, np.int32)
    lrs = (2.0 ** np.arange(-3, n_lr - 3)).astype(np.float32)
    fp = ctypes.POINTER(ctypes.c_float)
    so.set_threads(int(threads or os.cpu_count() or 1))
    args = (x.ctypes.data_as(fp), y.ctypes.data_as(fp), n, bsz, lrs.ctypes.data_as(fp), seeds,
            theta.ctypes.data_as(fp), perms.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)))
    so.sweep_epoch(*args, 1)
    return seeds * n_lr * (n // bsz * bsz) / _best(lambda: so.sweep_epoch(*args, 7), repeats)


def build_c(d: int = 2, simd: bool = False):
    """The IEEE loop, or with ``simd`` the vectorised one (``-ffast-math -fopenmp-simd``; written for d = 2,
    batches up to 4096)."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        return None, "no C compiler found (set CC)"
    tmp = tempfile.mkdtemp(prefix="jaxsgd-bench-")
    src, lib = os.path.join(tmp, "epoch.c"), os.path.join(tmp, "epoch_simd.so" if simd else "epoch.so")
    with open(src, "w") as f:
        f.write(C_SOURCE)
    extra = ["-DSIMD", "-ffast-math", "-fopenmp-simd"] if simd else []
    r = subprocess.run([cc, "-O3", "-march=native", f"-DD={d}", *extra, "-shared", "-fPIC", src, "-o", lib, "-lm"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, f"C compile failed: {r.stderr.strip()[:200]}"
    so = ctypes.CDLL(lib)
    fp = ctypes.POINTER(ctypes.c_float)
    so.epoch.argtypes = [fp, fp, ctypes.c_int, ctypes.c_int, ctypes.c_float, fp, ctypes.POINTER(ctypes.c_int32),
                         ctypes.c_uint64]
    return so, None


def _best(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_c(so, x, y, bsz, repeats):
    n, d = x.shape
    theta = np.zeros(d + 1, np.float32)
    perm = np.empty(n, np.int32)
    fp = ctypes.POINTER(ctypes.c_float)
    args = (x.ctypes.data_as(fp), y.ctypes.data_as(fp), n, bsz, 0.1, theta.ctypes.data_as(fp),
            perm.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)))
    so.epoch(*args, 1)
    return n / _best(lambda: so.epoch(*args, 7), repeats)


def bench_numpy(x, y, bsz, budget_batches):
    n, d = x.shape
    budget_examples = budget_batches * bsz
    theta = np.zeros(d + 1, np.float32)
    m = min(n, max(bsz, budget_examples))
    t0 = time.perf_counter()
    perm = np.random.default_rng(0).permutation(n)
    for start in range(0, m - bsz + 1, bsz):
        idx = perm[start:start + bsz]
        xb, yb = x[idx], y[idx]
        z = theta[0] + xb @ theta[1:]
        h = 1 / (1 + np.exp(-z))
        e = np.exp(-np.abs(z))
        dz = (h - yb) * e / (1 + e) ** 2
        theta -= np.float32(0.1) * np.concatenate([[dz.mean()], dz @ xb / bsz]).astype(np.float32)
    return (m // bsz * bsz) / (time.perf_counter() - t0)


def bench_optax_loop(x, y, bsz, budget_batches):
    n, d = x.shape
    budget_examples = budget_batches * bsz
    opt = optax.sgd(0.1)
    params = Params(jnp.zeros((), jnp.float32), jnp.zeros((d,), jnp.float32))
    state = opt.init(params)

    @jax.jit
    def step(params, state, xb, yb):
        g = jax.grad(batch_loss)(params, xb, yb)
        u, state = opt.update(g, state, params)
        return optax.apply_updates(params, u), state

    step(params, state, x[:bsz], y[:bsz])
    m = min(n, max(bsz, budget_examples))
    t0 = time.perf_counter()
    perm = np.random.default_rng(0).permutation(n)
    for start in range(0, m - bsz + 1, bsz):
        idx = perm[start:start + bsz]
        params, state = step(params, state, x[idx], y[idx])
    jax.block_until_ready(params)
    return (m // bsz * bsz) / (time.perf_counter() - t0)


def bench_jaxsgd(x, y, bsz, repeats, shuffle="auto", native=None):
    """One run through the engine (what ``jaxsgd.train`` runs): examples/s of the best epoch, compile seconds.
    ``native=False``: the XLA scan, where the engine would take the native epoch."""
    n, d = x.shape
    rows = train.rows_of(x, y)
    opt = train.make_optimizer("sgd")
    keys = np.zeros((1, 2), np.uint32)
    runs = train.TrainState.create_runs(d, keys, [0.1], optimizer=opt)
    with train.Shuffler(keys, n, shuffle) as shuffler:
        t0 = time.perf_counter()
        runs = train.epoch(runs, shuffler.get(0), rows, optimizer=opt, batch_size=bsz, native=native)
        jax.block_until_ready(runs.params)
        compile_s = time.perf_counter() - t0
        e = 1

        def one():
            nonlocal runs, e
            runs = train.epoch(runs, shuffler.get(e), rows, optimizer=opt, batch_size=bsz, native=native)
            jax.block_until_ready(runs.params)
            e += 1

        return n / _best(one, repeats), compile_s


def bench_sweep(x, y, bsz, repeats, seeds=8, n_lr=8):
    """``seeds × n_lr`` runs, one epoch each, as the batch-size study runs them, shuffles included.

    ``cold``: the permutations computed, then the epoch; ``steady``: epoch after epoch with the next
    permutations computed on the shuffler's thread meanwhile (the study's loop). Run-examples/s.
    """
    n, d = x.shape
    rows = train.rows_of(x, y)
    opt = train.make_optimizer("sgd")
    keys = np.stack([np.arange(seeds, dtype=np.uint32), np.full(seeds, 11, np.uint32)], axis=1)
    lrs = (2.0 ** np.arange(-3, n_lr - 3)).astype(np.float32)
    runs = train.TrainState.create_runs(d, keys, lrs, optimizer=opt)
    jax.block_until_ready(train.epoch(runs, train.permutations(keys, 0, n), rows, optimizer=opt, batch_size=bsz))
    e = 0

    def cold():
        nonlocal e
        e += 1
        jax.block_until_ready(train.epoch(runs, train.permutations(keys, e, n), rows, optimizer=opt,
                                           batch_size=bsz).params)

    cold_s = _best(cold, repeats)
    epochs = max(3, repeats)
    with train.Shuffler(keys, n) as shuffler:
        r = train.epoch(runs, shuffler.get(0), rows, optimizer=opt, batch_size=bsz)
        jax.block_until_ready(r.params)
        t0 = time.perf_counter()
        for k in range(1, epochs + 1):
            r = train.epoch(r, shuffler.get(k), rows, optimizer=opt, batch_size=bsz)
        jax.block_until_ready(r.params)
        steady_s = (time.perf_counter() - t0) / epochs
    total = seeds * n_lr * (n // bsz * bsz)
    return total / cold_s, total / steady_s


def bench_sweep_call(x, y, bsz, repeats, threads, seeds=8, n_lr=8, epochs=4):
    """``train.sweep`` as a user calls it (``epochs`` epochs, shuffles included, the first not prefetched), with
    the seeds stepped by ``threads`` host threads: run-examples/s of the best of ``repeats`` calls."""
    keys = np.stack([np.arange(seeds, dtype=np.uint32), np.full(seeds, 11, np.uint32)], axis=1)
    lrs = (2.0 ** np.arange(-3, n_lr - 3)).astype(np.float32)

    def call():
        jax.block_until_ready(train.sweep(x, y, learning_rates=lrs, keys=keys, batch_size=bsz, epochs=epochs,
                                          threads=threads).params)

    call()
    return seeds * n_lr * (x.shape[0] // bsz * bsz) * epochs / _best(call, repeats)


ROUNDS = 3  # the one-run table's fast implementations are measured in turn this many times


def sgd_benchmarks(n, batch_sizes, repeats, budget, log):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = rng.uniform(size=n).astype(np.float32)
    so, why = build_c()
    simd, _ = build_c(simd=True)
    if so is None:
        log(f"c-loop skipped: {why}")
    rows = []
    for bsz in batch_sizes:
        row, compile_s = {}, None
        # the fast ones measured in turn, ROUNDS times, each at its best round: a slow spell of a shared machine
        # then falls on all of them alike, not on whichever ran during it
        for _ in range(ROUNDS):
            got = {}
            if so is not None:
                got["c-loop"] = bench_c(so, x, y, bsz, repeats)
            if simd is not None:
                got["c-simd"] = bench_c(simd, x, y, bsz, repeats)
            got["jaxsgd"], first = bench_jaxsgd(x, y, bsz, repeats)
            got["jaxsgd-scan"], _ = bench_jaxsgd(x, y, bsz, repeats, native=False)
            compile_s = first if compile_s is None else compile_s
            row = {k: max(v, row.get(k, 0.0)) for k, v in got.items()}
        row["numpy"] = bench_numpy(x, y, bsz, budget)
        row["optax-loop"] = bench_optax_loop(x, y, bsz, budget)
        for impl, eps in row.items():
            rows.append({"impl": impl, "batch_size": bsz, "examples_per_second": eps, "n": n, "dtype": "float32",
                         **({"compile_seconds": compile_s} if impl == "jaxsgd" else {})})
        log(f"B={bsz}: " + ", ".join(f"{k} {v / 1e6:.2f}M/s" for k, v in row.items()))
    return rows


def sweep_benchmarks(n, bsz, repeats, log):
    """The 64-run sweep row and one C run at the same N and B, measured in this run."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = rng.uniform(size=n).astype(np.float32)
    so, why = build_c()
    c = bench_c(so, x, y, bsz, max(repeats, 7)) if so is not None else None
    simd, _ = build_c(simd=True)
    cs = bench_c(simd, x, y, bsz, max(repeats, 7)) if simd is not None else None
    csw, csw_why = build_c_sweep()
    c_sweep_1 = bench_c_sweep(csw, x, y, bsz, max(repeats, 5), threads=1) if csw is not None else None
    c_sweep = bench_c_sweep(csw, x, y, bsz, max(repeats, 5)) if csw is not None else None
    cold, steady = bench_sweep(x, y, bsz, repeats)
    cores = train.cpu_threads()
    call_1 = bench_sweep_call(x, y, bsz, max(repeats, 3), threads=1)
    call_n = bench_sweep_call(x, y, bsz, max(repeats, 3), threads=cores) if cores > 1 else call_1
    log(f"sweep() 64 runs, 4 epochs: {call_1 / 1e6:.0f}M run-examples/s in one thread, {call_n / 1e6:.0f}M with "
        f"the seeds over {cores} threads")
    log(f"sweep 64 runs, N={n}, B={bsz}: {steady / 1e6:.0f}M run-examples/s steady, {cold / 1e6:.0f}M cold; "
        + (f"one C run {c / 1e6:.0f}M examples/s" if c else f"C skipped: {why}")
        + (f"; C sweep {c_sweep_1 / 1e6:.0f}M on one core, {c_sweep / 1e6:.0f}M on {os.cpu_count()}" if c_sweep
           else f"; C sweep skipped: {csw_why}"))
    out = [{"impl": "jaxsgd-sweep", "runs": 64, "seeds": 8, "learning_rates": 8, "batch_size": bsz, "n": n,
            "run_examples_per_second": steady, "cold_run_examples_per_second": cold,
            **({"ratio_to_c_loop": steady / c, "cold_ratio_to_c_loop": cold / c} if c else {}),
            **({"ratio_to_c_simd": steady / cs, "cold_ratio_to_c_simd": cold / cs} if cs else {}),
            "sweep_call_one_thread": call_1, "sweep_call_threads": call_n, "threads": cores,
            **({"sweep_call_ratio_to_c_sweep": call_n / c_sweep, "sweep_call_one_thread_ratio_to_c_sweep_one_core":
                call_1 / c_sweep_1} if c_sweep else {}),
            **({"ratio_to_c_sweep": steady / c_sweep, "ratio_to_c_sweep_one_core": steady / c_sweep_1,
                "c_sweep_run_examples_per_second": c_sweep, "c_sweep_one_core_run_examples_per_second": c_sweep_1}
               if c_sweep else {})}]
    if c:
        out.append({"impl": "c-loop", "runs": 1, "batch_size": bsz, "n": n, "examples_per_second": c})
    if cs:
        out.append({"impl": "c-simd", "runs": 1, "batch_size": bsz, "n": n, "examples_per_second": cs})
    return out


MLP_WIDTHS = (32, 32)


def mlp_flops_per_example(d: int, widths=MLP_WIDTHS) -> int:
    """Multiply-adds ×2 of one example's forward pass, ×3 with the backward pass (weights and inputs)."""
    sizes = (d, *widths, 1)
    return 3 * 2 * sum(a * b for a, b in itertools.pairwise(sizes))


def matmul_rate(repeats: int = 5, size: int = 1024) -> float:
    """The machine's float32 matmul rate (FLOP/s) through XLA, measured now: the limit an MLP sweep tends to."""
    a = jnp.asarray(np.random.default_rng(0).normal(size=(size, size)), jnp.float32)
    mm = jax.jit(lambda u, v: u @ v)
    jax.block_until_ready(mm(a, a))
    return 2 * size**3 / _best(lambda: jax.block_until_ready(mm(a, a)), repeats)


def bench_mlp_sweep(x, y, bsz, repeats, seeds=8, n_lr=8):
    """``seeds × n_lr`` MLPs, one epoch each, shuffles included (the study's layout): run-examples/s."""
    from jaxsgd import model as model_mod

    n, d = x.shape
    m = model_mod.mlp(MLP_WIDTHS)
    rows = train.rows_of(x, y)
    opt = train.make_optimizer("sgd")
    keys = np.stack([np.arange(seeds, dtype=np.uint32), np.full(seeds, 11, np.uint32)], axis=1)
    inits = [m.init(jax.random.wrap_key_data(k), d) for k in keys]
    lrs = (2.0 ** np.arange(-3, n_lr - 3)).astype(np.float32)
    runs = train.TrainState.create_runs(d, keys, lrs, optimizer=opt, params=lambda i: inits[i])
    place = _runs_placement(seeds)  # the seeds split over this process's devices, as train.sweep does
    runs = train.TrainState(jax.tree.map(place, runs.params), jax.tree.map(place, runs.opt_state), runs.key,
                            runs.epoch)
    jax.block_until_ready(train.epoch(runs, place(jnp.asarray(train.permutations(keys, 0, n))), rows,
                                      optimizer=opt, batch_size=bsz, loss=m.loss).params)
    epochs = max(2, repeats)
    with train.Shuffler(keys, n) as shuffler:
        t0 = time.perf_counter()
        for k in range(1, epochs + 1):
            runs = train.epoch(runs, place(jnp.asarray(shuffler.get(k))), rows, optimizer=opt, batch_size=bsz,
                               loss=m.loss)
        jax.block_until_ready(runs.params)
    return seeds * n_lr * (n // bsz * bsz) * epochs / (time.perf_counter() - t0)


def _runs_placement(seeds: int):
    n_dev = jax.local_device_count()
    if n_dev == 1 or seeds % n_dev:
        return lambda a: a
    sharding = jax.sharding.NamedSharding(jax.sharding.Mesh(np.asarray(jax.local_devices()), ("runs",)),
                                          jax.sharding.PartitionSpec("runs"))
    return lambda a: jax.device_put(a, sharding)


def bench_mlp_optax_loop(x, y, bsz, budget_batches):
    """One MLP at a time, the optax pattern: a jitted step, a Python loop over shuffled batches."""
    from jaxsgd import model as model_mod

    n, d = x.shape
    m = model_mod.mlp(MLP_WIDTHS)
    opt = optax.sgd(0.1)
    params = m.init(jax.random.key(0), d)
    state = opt.init(params)
    batch = jax.vmap(m.loss, in_axes=(None, 0, 0))

    @jax.jit
    def step(params, state, xb, yb):
        g = jax.grad(lambda p: jnp.mean(batch(p, xb, yb)))(params)
        u, state = opt.update(g, state, params)
        return optax.apply_updates(params, u), state

    step(params, state, x[:bsz], y[:bsz])
    mm = min(n, budget_batches * bsz)
    perm = np.random.default_rng(0).permutation(n)
    t0 = time.perf_counter()
    for start in range(0, mm - bsz + 1, bsz):
        idx = perm[start:start + bsz]
        params, state = step(params, state, x[idx], y[idx])
    jax.block_until_ready(params)
    return (mm // bsz * bsz) / (time.perf_counter() - t0)  # one model at a time: run-examples/s


def bench_mlp_torch(x, y, bsz, repeats, models=64):
    """The same 64 MLPs trained at once in PyTorch (batched matmuls over a models axis, autograd, a shuffle per
    seed), float32 on this CPU's threads; ``None`` and the reason where torch is absent."""
    try:
        import torch
    except ImportError:
        return None, "torch is not installed (pip install torch; a benchmark-only peer)"
    n, d = x.shape
    g = torch.Generator().manual_seed(0)
    sizes = (d, *MLP_WIDTHS, 1)
    ws = [(torch.randn(models, o, i, generator=g) / i**0.5).requires_grad_() for i, o in itertools.pairwise(sizes)]
    bs = [torch.zeros(models, o, 1, requires_grad=True) for o in sizes[1:]]
    lr = torch.tensor(2.0 ** np.arange(-3, 5), dtype=torch.float32).repeat(models // 8)[:, None, None]
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))
    seeds = 8

    def epoch():
        perms = torch.stack([torch.randperm(n, generator=g) for _ in range(seeds)])  # (8, N)
        per_model = perms.repeat_interleave(models // seeds, dim=0)  # each seed's order for its 8 rates
        for start in range(0, n - bsz + 1, bsz):
            idx = per_model[:, start:start + bsz]  # (M, B)
            a = xt[idx].transpose(1, 2)  # (M, d, B)
            yb = yt[idx]
            for k, (w, b) in enumerate(zip(ws, bs, strict=True)):
                a = torch.baddbmm(b, w, a)
                a = torch.tanh(a) if k < len(ws) - 1 else torch.sigmoid(a)
            loss = (0.5 * (yb - a[:, 0]) ** 2).mean(dim=1).sum()
            grads = torch.autograd.grad(loss, ws + bs)
            with torch.no_grad():
                for p, gr in zip(ws + bs, grads, strict=True):
                    p -= lr * gr

    epoch()
    note = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    return models * (n // bsz * bsz) / _best(epoch, repeats), note


def mlp_benchmarks(n, bsz, repeats, log, quick=False):
    """The MLP sweep row: jaxsgd against a jitted optax step per model, PyTorch (if installed) and the matmul limit.

    PyTorch uses every core through its threads; XLA:CPU runs a scan on one thread, so the jaxsgd sweep splits
    its runs over one host device per core, in a child process with ``XLA_FLAGS`` set to that (unless
    ``XLA_FLAGS`` is set already), and says so."""
    cores = os.cpu_count() or 1
    if jax.local_device_count() == 1 and cores > 1 and "XLA_FLAGS" not in os.environ:
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={cores}"}
        argv = [sys.executable, os.path.abspath(__file__), "--only", "mlp", "--json"] + (["--quick"] if quick else [])
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800)
        if r.returncode == 0:
            rows = json.loads(r.stdout)["mlp"]
            for row in rows:
                row["host_devices"] = f"XLA_FLAGS=--xla_force_host_platform_device_count={cores}"
            log(f"MLP group ran with {cores} host devices (one per core): " + r.stderr.strip().splitlines()[-1])
            return rows
        log(f"MLP group with {cores} host devices failed ({r.stderr.strip()[-200:]}); measuring with one")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = rng.uniform(0.1, 0.9, size=n).astype(np.float32)
    rate = matmul_rate()
    flops = mlp_flops_per_example(8)
    ours = bench_mlp_sweep(x, y, bsz, repeats)
    loop = bench_mlp_optax_loop(x, y, bsz, budget_batches=200)
    torch_rate, torch_note = bench_mlp_torch(x, y, bsz, max(2, repeats // 2))
    limit = rate / flops
    log(f"MLP sweep 64 runs, N={n}, B={bsz}: {ours / 1e6:.2f}M run-examples/s; optax loop {loop / 1e6:.2f}M; "
        + (f"torch {torch_rate / 1e6:.2f}M" if torch_rate else f"torch skipped: {torch_note}")
        + f"; matmul limit {limit / 1e6:.1f}M ({rate / 1e9:.1f} GFLOP/s ÷ {flops} FLOPs per example)")
    return [{"impl": "jaxsgd-mlp-sweep", "runs": 64, "batch_size": bsz, "n": n, "widths": list(MLP_WIDTHS),
             "run_examples_per_second": ours, "optax_loop_run_examples_per_second": loop,
             "torch_run_examples_per_second": torch_rate, "torch": torch_note, "matmul_flops": rate,
             "flops_per_example": flops, "limit_run_examples_per_second": limit,
             "ratio_to_optax_loop": ours / loop, "ratio_to_torch": ours / torch_rate if torch_rate else None,
             "share_of_matmul_limit": ours / limit}]


def print_mlp_table(rows):
    r = rows[0]
    print(f"\nMLP sweep: 64 MLPs 8 → {' → '.join(map(str, r['widths']))} → 1 (8 seeds × 8 learning rates), one epoch "
          f"each, N = {r['n']:,}, B = {r['batch_size']}, shuffles included, float32")
    where = (f", seeds split over {jax.local_device_count()} host devices" if "host_devices" not in r else
             f", seeds split over one host device per core ({r['host_devices']})")
    print(f"  jaxsgd sweep (one compiled epoch for all 64{where})")
    print(f"  {'':<62}{r['run_examples_per_second']:>14,.0f} run-examples/s")
    loop = r["optax_loop_run_examples_per_second"]
    print(f"  optax pattern, one model at a time (jitted step, Python loop) {loop:>10,.0f} run-examples/s: "
          f"jaxsgd is {r['ratio_to_optax_loop']:.1f}×")
    if r["torch_run_examples_per_second"]:
        print(f"  PyTorch, the 64 at once (batched matmuls, {r['torch']}) {r['torch_run_examples_per_second']:>12,.0f} "
              f"run-examples/s: jaxsgd is {r['ratio_to_torch']:.2f}× (goal ≥ 2×)")
    else:
        print(f"  PyTorch peer skipped: {r['torch']}")
    print(f"  limit: float32 matmul {r['matmul_flops'] / 1e9:.1f} GFLOP/s ÷ {r['flops_per_example']} FLOPs per "
          f"example = {r['limit_run_examples_per_second']:,.0f} run-examples/s: jaxsgd reaches "
          f"{r['share_of_matmul_limit']:.0%} (goal ≥ 30%)")


def print_sweep_table(rows):
    sw = next(r for r in rows if r["impl"] == "jaxsgd-sweep")
    c = next((r for r in rows if r["impl"] == "c-loop"), None)
    print(f"\nSweep: {sw['runs']} runs (8 seeds × 8 learning rates), one epoch each, N = {sw['n']:,}, "
          f"B = {sw['batch_size']}, shuffles included")
    for label, key in (("steady (next shuffles on the shuffler's thread)", ""), ("cold (shuffles first)", "cold_")):
        ratio = f"  = {sw[key + 'ratio_to_c_loop']:.2f}× one C run" if c else ""
        print(f"  jaxsgd sweep, {label:<48} {sw[key + 'run_examples_per_second']:>14,.0f} run-examples/s{ratio}")
    if c:
        print(f"  {'one C run (IEEE, -O3 -march=native)':<62} {c['examples_per_second']:>14,.0f} examples/s")
    if "c_sweep_run_examples_per_second" in sw:
        print(f"  {'C sweep, one core (own shuffles, rates side by side, SIMD)':<62} "
              f"{sw['c_sweep_one_core_run_examples_per_second']:>14,.0f} run-examples/s: the sweep is "
              f"{sw['ratio_to_c_sweep_one_core']:.2f}× it")
        print(f"  {f'C sweep, {os.cpu_count()} cores (OpenMP over seeds)':<62} "
              f"{sw['c_sweep_run_examples_per_second']:>14,.0f} run-examples/s: the sweep is "
              f"{sw['ratio_to_c_sweep']:.2f}× it (goal ≥ 0.5×)")
    threads = sw["threads"]
    for label, key, against in (("train.sweep(), 4 epochs, one thread", "sweep_call_one_thread",
                                 "sweep_call_one_thread_ratio_to_c_sweep_one_core"),
                                (f"train.sweep(), 4 epochs, seeds over {threads} threads (default)",
                                 "sweep_call_threads", "sweep_call_ratio_to_c_sweep")):
        ratio = (f": {sw[against]:.2f}× the C sweep on {'one core' if 'one' in against else f'{threads} cores'}"
                 if against in sw else "")
        print(f"  {label:<62} {sw[key]:>14,.0f} run-examples/s{ratio}")
    cs = next((r for r in rows if r["impl"] == "c-simd"), None)
    if cs:
        print(f"  {'one C run, vectorised (-ffast-math, libmvec expf)':<62} {cs['examples_per_second']:>14,.0f} "
              f"examples/s: the sweep is {sw['ratio_to_c_simd']:.2f}× it (cold {sw['cold_ratio_to_c_simd']:.2f}×)")


def print_sgd_table(rows):
    by = {}
    for r in rows:
        by.setdefault(r["batch_size"], {})[r["impl"]] = r["examples_per_second"]
    print(f"\nOne SGD epoch, N = {rows[0]['n']:,}, d = 2, float32, shuffle included (examples/s); "
          f"jaxsgd's epoch: {train.native_status()}")
    print(f"{'B':>6} {'jaxsgd':>12} {'XLA scan':>12} {'c-loop':>12} {'c-simd':>12} {'numpy':>12} {'optax-loop':>12} "
          f"{'÷ c-loop':>9} {'÷ c-simd':>9} {'÷ scan':>7} {'÷ optax':>9}")
    nan = float("nan")
    for bsz, r in by.items():
        c, cs, scan = r.get("c-loop"), r.get("c-simd"), r.get("jaxsgd-scan", nan)
        print(f"{bsz:>6} {r['jaxsgd']:>12,.0f} {scan:>12,.0f} {c or nan:>12,.0f} {cs or nan:>12,.0f} "
              f"{r['numpy']:>12,.0f} {r['optax-loop']:>12,.0f} {r['jaxsgd'] / c if c else nan:>9.2f} "
              f"{r['jaxsgd'] / cs if cs else nan:>9.2f} {r['jaxsgd'] / scan:>7.2f} "
              f"{r['jaxsgd'] / r['optax-loop']:>9.1f}")


def _time_call(fn, x, repeats):
    jax.block_until_ready(fn(x))
    return _best(lambda: jax.block_until_ready(fn(x)), repeats)


def derivative_benchmarks(n, k, repeats, log):
    """Each method's time for σ⁽ᵏ⁾ on n float32 points, against jax.nn.sigmoid on the same points."""
    from jaxsgd.derivatives import sigmoid_derivative

    x = jnp.linspace(-40.0, 40.0, n, dtype=jnp.float32)
    repeats = max(repeats, 20)
    base = _time_call(jax.jit(jax.nn.sigmoid), x, repeats)
    rows = [{"impl": "jax.nn.sigmoid", "order": 0, "seconds": base, "n": n, "dtype": "float32", "ratio": 1.0}]
    for method in ("auto", "closed_form", "pole", "taylor", "nested_grad"):
        t = _time_call(jax.jit(lambda v, m=method: sigmoid_derivative(v, k, method=m)), x, repeats)
        rows.append({"impl": method, "order": k, "seconds": t, "n": n, "dtype": "float32", "ratio": t / base})
        log(f"sigma^({k}) {method}: {t * 1e3:.1f} ms ({t / base:.1f}x sigmoid)")
    return rows


_COMPILE_SNIPPET = """
import sys, time, jax, jax.numpy as jnp
jax.jit(lambda v: v + 1)(1.0).block_until_ready()
from jaxsgd.derivatives import sigmoid_derivative
t = time.perf_counter()
jax.jit(lambda v: sigmoid_derivative(v, int(sys.argv[1]), method=sys.argv[2]))(jnp.float32(0.3)).block_until_ready()
print(time.perf_counter() - t)
"""


def compile_benchmarks(orders, naive_orders, log, timeout=120):
    """Trace + compile + run time of k nested jax.grad calls, each in a fresh process."""
    rows = []
    for method, ks in (("nested_grad", orders), ("naive_grad", naive_orders)):
        for k in ks:
            try:
                r = subprocess.run([sys.executable, "-c", _COMPILE_SNIPPET, str(k), method], capture_output=True,
                                   text=True, timeout=timeout)
                secs = float(r.stdout.strip().splitlines()[-1])
            except (subprocess.TimeoutExpired, ValueError, IndexError):
                secs = None
            rows.append({"impl": method, "order": k, "compile_seconds": secs})
            log(f"{method} order {k}: " + (f"{secs:.2f} s" if secs is not None else f"> {timeout} s"))
    return rows


def accelerator_benchmarks(large: bool, log):
    """The figures that compare backends: one run at B = 32 and B = 4096, many vmapped runs,
    σ⁽²⁰⁾ on many points, and the default batch-size study's wall time."""
    from jaxsgd.derivatives import sigmoid_derivative

    rows = []
    n = 1_000_000 if large else 200_000
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = rng.uniform(size=n).astype(np.float32)
    for b in (32, 4096):
        eps, _ = bench_jaxsgd(x, y, b, 3)
        rows.append({"impl": "jaxsgd", "what": "one run, one epoch", "batch_size": b, "n": n,
                     "examples_per_second": eps})
        log(f"one run B={b}: {eps / 1e6:.1f}M examples/s")
    n_runs, n_many = (4096, 65_536) if large else (64, 16_384)
    seeds = 64 if large else 8
    keys = np.stack([np.arange(seeds, dtype=np.uint32), np.zeros(seeds, np.uint32)], axis=1)
    lrs = np.geomspace(0.05, 5.0, n_runs // seeds).astype(np.float32)
    xm, ym = x[:n_many], y[:n_many]

    def sweep():
        r = train.sweep(xm, ym, learning_rates=lrs, keys=keys, batch_size=32, epochs=1)
        jax.block_until_ready(r.params)

    sweep()
    t = _best(sweep, 2)
    rows.append({"impl": "jaxsgd", "what": "vmapped runs, one epoch each", "batch_size": 32, "n": n_many,
                 "runs": n_runs, "run_examples_per_second": n_runs * n_many / t})
    log(f"{n_runs} runs × {n_many} rows at B=32: {n_runs * n_many / t:.3g} run-examples/s")
    npts = 100_000_000 if large else 10_000_000
    xs = jnp.linspace(-40.0, 40.0, npts, dtype=jnp.float32)
    f = jax.jit(lambda v: sigmoid_derivative(v, 20))
    t = _time_call(f, xs, 3)
    rows.append({"impl": "auto", "what": "sigma^(20) evaluation", "n": npts, "seconds": t})
    log(f"σ⁽²⁰⁾ on {npts:.0e} points: {t:.3f} s")
    del xs
    r = subprocess.run([sys.executable, "-m", "jaxsgd", "batch-size", "--json"], capture_output=True, text=True)
    try:
        study = json.loads(r.stdout)["wall_seconds"]
    except (ValueError, KeyError):
        study = None
    rows.append({"impl": "jaxsgd batch-size", "what": "default study wall time", "seconds": study})
    log(f"default batch-size study: {study} s")
    return rows


def load_benchmarks(n_rows, repeats, log):
    """Loading an ``n_rows`` × 3 table: ``jaxsgd.data.load_table`` against bare pyarrow on the same file, and the
    line-by-line Python reader it keeps for naming errors (what loading was before pyarrow)."""
    import tempfile

    import pyarrow as pa
    import pyarrow.csv as pc
    import pyarrow.parquet as pq

    from jaxsgd import data
    from jaxsgd.data import _tables as tables  # the internal line-by-line reader, benchmarked as a baseline

    rng = np.random.default_rng(0)
    cols = {"a": rng.uniform(40, 250, n_rows), "b": rng.uniform(0, 80, n_rows), "y": rng.normal(5e5, 2e5, n_rows)}
    out = []
    with tempfile.TemporaryDirectory() as d:
        csv_path, pq_path = os.path.join(d, "t.csv"), os.path.join(d, "t.parquet")
        t = pa.table(cols)
        pc.write_csv(t, csv_path)
        pq.write_table(t, pq_path, row_group_size=max(1, n_rows // 16))
        log(f"load: {n_rows:,} rows × 3 columns, CSV {os.path.getsize(csv_path) / 1e6:.0f} MB")

        def old_reader():
            with open(csv_path, "rb") as f:
                body = f.read()
            start = body.find(b"\n") + 1
            return tables._read_csv_exactly(csv_path, memoryview(body)[start:], 2, ["a", "b", "y"], ["a", "b", "y"],
                                            [0, 1, 2])

        typed = pc.ConvertOptions(column_types={c: pa.float64() for c in cols})
        cases = [
            ("pyarrow.csv.read_csv", "csv", lambda: pc.read_csv(csv_path), repeats),
            ("pyarrow.csv, float64 given", "csv", lambda: pc.read_csv(csv_path, convert_options=typed), repeats),
            ("jaxsgd load_table", "csv", lambda: data.load_table(csv_path, ["a", "b"], "y"), repeats),
            ("line-by-line reader", "csv", old_reader, 1),
            ("pyarrow.parquet.read_table", "parquet", lambda: pq.read_table(pq_path), repeats),
            ("jaxsgd load_table", "parquet", lambda: data.load_table(pq_path, ["a", "b"], "y"), repeats),
        ]
        for impl, fmt, fn, reps in cases:
            secs = _best(fn, reps)
            out.append({"impl": impl, "format": fmt, "rows": n_rows, "seconds": secs})
            log(f"  {impl:<28} {fmt:<8} {secs:.3f} s")
    return out


def print_load_table(rows):
    bare = {r["format"]: r["seconds"] for r in rows if r["impl"] in ("pyarrow.csv.read_csv",
                                                                      "pyarrow.parquet.read_table")}
    best = {f: min(r["seconds"] for r in rows if r["format"] == f and r["impl"].startswith("pyarrow")) for f in bare}
    print(f"\nLoading {rows[0]['rows']:,} rows × 3 columns (best of several; seconds / bare pyarrow's, and / the "
          "fastest pyarrow read of the format)")
    print(f"{'implementation':<28} {'format':<8} {'seconds':>8} {'× bare':>8} {'× fastest':>10}")
    for r in rows:
        f = r["format"]
        print(f"{r['impl']:<28} {f:<8} {r['seconds']:>8.3f} {r['seconds'] / bare[f]:>8.2f} "
              f"{r['seconds'] / best[f]:>10.2f}")


def process_benchmarks(quick, log):
    """``jaxsgd train`` (replicated data) in one process and as two joined over loopback (``jaxsgd launch``):
    the median epoch's examples/s and the command's wall time, on this machine."""
    import subprocess

    out = []
    rows = "20000" if quick else "100000"
    for b in ("32", "1024"):
        argv = ["train", "--rows", rows, "--epochs", "3", "--batch-size", b, "--json", "--quiet"]
        for label, cmd in (("1 process", argv), ("2 processes", ["launch", "--processes", "2", "--", *argv])):
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "jaxsgd", *cmd], capture_output=True, text=True, check=True)
            wall = time.perf_counter() - t0
            rate = json.loads(r.stdout)["examples_per_second"]
            out.append({"impl": label, "batch_size": int(b), "rows": int(rows), "examples_per_second": rate,
                        "wall_seconds": wall})
            log(f"  {label:<12} B={b:<5} {rate:,.0f} examples/s, {wall:.1f} s in all")
    return out


def print_process_table(rows):
    print(f"\njaxsgd train, {rows[0]['rows']:,} rows, 3 epochs: one process against two on this machine")
    print(f"{'':<12} {'B':>5} {'examples/s':>12} {'× 1 process':>12} {'wall s':>7}")
    one = {r["batch_size"]: r["examples_per_second"] for r in rows if r["impl"] == "1 process"}
    for r in rows:
        print(f"{r['impl']:<12} {r['batch_size']:>5} {r['examples_per_second']:>12,.0f} "
              f"{r['examples_per_second'] / one[r['batch_size']]:>12.2f} {r['wall_seconds']:>7.1f}")


STARTUP_GOAL = 0.3  # seconds: derivative and check-derivative answer this fast from a cold process


def startup_benchmarks(repeats, log):
    """Wall seconds of ``python -m jaxsgd derivative 3`` and of ``check-derivative`` (exact and interval) from
    a cold process, with JAX made unimportable, against bare ``python -c pass`` on this machine."""
    code = "import sys; sys.modules['jax'] = None; from jaxsgd.cli import main; sys.exit(main(sys.argv[1:]))"
    cases = [("python -c pass", ["-c", "pass"]),
             ("derivative 3", ["-c", code, "derivative", "3"]),
             ("check-derivative, in σ", ["-c", code, "check-derivative", "--order", "2", "σ(1−σ)(1−2σ)"]),
             ("check-derivative, in x", ["-c", code, "check-derivative", "--order", "1", "e^-x/(1+e^-x)^2"])]
    out = []
    for label, argv in cases:
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, *argv], capture_output=True, check=True)
            best = min(best, time.perf_counter() - t0)
        out.append({"impl": label, "seconds": best})
        log(f"  startup {label:<26} {best:.3f} s")
    return out


def print_startup_table(rows):
    bare = rows[0]["seconds"]
    print(f"\nStart-up from a cold process, JAX unimportable (best of several; goal ≤ {STARTUP_GOAL} s)")
    print(f"{'command':<28} {'seconds':>8} {'× python -c pass':>17} {'× goal':>7}")
    for r in rows:
        print(f"{r['impl']:<28} {r['seconds']:>8.3f} {r['seconds'] / bare:>17.1f} {r['seconds'] / STARTUP_GOAL:>7.2f}")


def unroll_benchmarks(n, batch_sizes, repeats, log, unrolls=(1, 2, 4, 8, 16)):
    """The epoch's scan unrolled ``u`` steps per iteration, for one run at each B and for the 64-run sweep at
    B = 32: the median of ``repeats`` timed epochs each (permutations drawn first, so only the scan differs),
    the configurations interleaved so that a machine's drift hits them alike."""
    rng = np.random.default_rng(0)
    opt = train.make_optimizer("sgd")
    cases = []
    for runs_label, seeds, n_lr, m, bszs in (("one run", 1, 1, n, batch_sizes), ("64-run sweep", 8, 8, 65_536, [32])):
        x = rng.normal(size=(m, 2)).astype(np.float32)
        rows = train.rows_of(x, rng.uniform(size=m).astype(np.float32))
        keys = np.stack([np.arange(seeds, dtype=np.uint32), np.full(seeds, 11, np.uint32)], axis=1)
        lrs = (2.0 ** np.arange(-3, n_lr - 3)).astype(np.float32) if n_lr > 1 else np.array([0.1], np.float32)
        state = train.TrainState.create_runs(2, keys, lrs, optimizer=opt)
        perms = train.permutations(keys, 0, m)
        for bsz in bszs:
            for u in unrolls:
                def one(state=state, perms=perms, rows=rows, bsz=bsz, u=u):
                    jax.block_until_ready(train.epoch(state, perms, rows, optimizer=opt, batch_size=bsz,
                                                      unroll=u, native=False).params)
                one()
                cases.append({"runs": runs_label, "batch_size": bsz, "unroll": u, "fn": one,
                              "examples": seeds * n_lr * (m // bsz * bsz), "times": []})
    for _ in range(repeats):
        for c in cases:
            t0 = time.perf_counter()
            c["fn"]()
            c["times"].append(time.perf_counter() - t0)
    out = []
    for c in cases:
        rate = c["examples"] / statistics.median(c["times"])
        out.append({"runs": c["runs"], "batch_size": c["batch_size"], "unroll": c["unroll"],
                    "run_examples_per_second": rate, "chosen": c["unroll"] == UNROLL})
    for (label, bsz), group in itertools.groupby(out, key=lambda r: (r["runs"], r["batch_size"])):
        group = list(group)
        log(f"unroll, {label}, B={bsz}: " + ", ".join(f"{r['unroll']}: {r['run_examples_per_second'] / 1e6:.0f}M"
                                                      for r in group))
    return out


def print_unroll_table(rows):
    print(f"\nThe epoch's scan unrolled u steps per iteration (median of interleaved epochs, run-examples/s); "
          f"chosen: u = {UNROLL}")
    unrolls = sorted({r["unroll"] for r in rows})
    print(f"  {'runs':<14}{'B':>5}" + "".join(f"{'u=' + str(u):>12}" for u in unrolls) + "   chosen ÷ best")
    for (label, bsz), group in itertools.groupby(rows, key=lambda r: (r["runs"], r["batch_size"])):
        group = {r["unroll"]: r["run_examples_per_second"] for r in group}
        chosen = group.get(UNROLL)
        print(f"  {label:<14}{bsz:>5}" + "".join(f"{group[u] / 1e6:>11.1f}M" for u in unrolls)
              + (f"   {chosen / max(group.values()):.2f}" if chosen else ""))


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ap.add_argument("--quick", action="store_true", help="N = 100,000 and fewer repeats (smoke run)")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--batch-sizes", default="1,32,256")
    ap.add_argument("--only", choices=["sgd", "sweep", "unroll", "mlp", "derivatives", "accelerator", "load",
                                       "processes", "startup"],
                    help="run one group")
    ap.add_argument("--large", action="store_true",
                    help="accelerator group at full size: N = 10⁶, 4096 runs, 10⁸ points (for a GPU)")
    a = ap.parse_args(argv)
    n = 100_000 if a.quick else a.n
    repeats = 2 if a.quick else 5
    batch_sizes = [int(b) for b in a.batch_sizes.split(",")]
    rows = []
    if a.only in (None, "sweep"):
        rows += sweep_benchmarks(16_384 if a.quick else 65_536, 32, repeats, log)
    mlp = []
    if a.only in (None, "mlp"):
        mlp = mlp_benchmarks(16_384 if a.quick else 65_536, 256, repeats, log, quick=a.quick)
    if a.only in (None, "sgd"):
        rows += sgd_benchmarks(n, batch_sizes, repeats, budget=2000 if a.quick else 20_000, log=log)
    unroll = []
    if a.only in (None, "unroll"):
        unroll = unroll_benchmarks(n, batch_sizes, 3 if a.quick else 7, log)
    deriv, compiles = [], []
    if a.only in (None, "derivatives"):
        deriv = derivative_benchmarks(n, 20, repeats, log)
        compiles = compile_benchmarks([4, 8, 12, 20, 40] if not a.quick else [8], [2, 4, 6, 8] if not a.quick
                                      else [4], log)
    load = []
    if a.only in (None, "load"):
        load = load_benchmarks(200_000 if a.quick else 2_000_000, 2 if a.quick else 3, log)
    procs = []
    if a.only in (None, "processes"):
        procs = process_benchmarks(a.quick, log)
    startup = []
    if a.only in (None, "startup"):
        startup = startup_benchmarks(3 if a.quick else 7, log)
    accel = []
    if a.only in (None, "accelerator"):
        accel = accelerator_benchmarks(a.large, log)
    meta = {"device": jax.devices()[0].device_kind, "backend": jax.default_backend(), "jax_version": jax.__version__,
            "dtype": "float32"}
    for r in rows + deriv + compiles + accel:
        r.update({k: v for k, v in meta.items() if k not in r})
    result = {
        "results": rows,
        "mlp": mlp,
        "unroll": unroll,
        "derivatives": deriv,
        "nested_grad_compile": compiles,
        "accelerator": accel,
        "load": load,
        "processes": procs,
        "startup": startup,
        "device": jax.devices()[0].device_kind,
        "backend": jax.default_backend(),
        "jax_version": jax.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
    }
    if a.json:
        print(json.dumps(result))
        return 0
    if any(r["impl"] == "jaxsgd-sweep" for r in rows):
        print_sweep_table(rows)
    if mlp:
        print_mlp_table(mlp)
    single = [r for r in rows if "runs" not in r]
    if single:
        print_sgd_table(single)
    if unroll:
        print_unroll_table(unroll)
    if load:
        print_load_table(load)
    if startup:
        print_startup_table(startup)
    if procs:
        print_process_table(procs)
    if accel:
        print(f"\nBackend comparison figures ({meta['backend']}, {meta['device']}):")
        for r in accel:
            val = (f"{r['examples_per_second']:.3g} examples/s" if "examples_per_second" in r else
                   f"{r['run_examples_per_second']:.3g} run-examples/s" if "run_examples_per_second" in r else
                   f"{r['seconds']:.3f} s" if r.get("seconds") is not None else "failed")
            extra = ", ".join(f"{k}={r[k]}" for k in ("batch_size", "n", "runs") if k in r)
            print(f"  {r['what']:<32} {extra:<32} {val}")
    if deriv:
        print(f"\nσ⁽²⁰⁾ on {n:,} float32 points in [−40, 40] (best of {repeats})")
        for r in deriv:
            print(f"{r['impl']:<16} {r['seconds'] * 1e3:>9.2f} ms  {r['ratio']:>7.1f}× σ")
        print("\nnested jax.grad, order k: trace + compile + run in a fresh process (s)")
        for r in compiles:
            secs = "timeout" if r["compile_seconds"] is None else f"{r['compile_seconds']:.2f}"
            print(f"{r['impl']:<12} k={r['order']:<3} {secs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
