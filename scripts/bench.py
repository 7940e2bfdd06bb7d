"""Benchmarks: one SGD epoch (shuffle included) against a C loop, numpy and the optax pattern.

    python scripts/bench.py              # table with ratios
    python scripts/bench.py --json       # one JSON object on stdout
    python scripts/bench.py --quick      # smaller N, for a smoke run

Every implementation does the same work per epoch: a uniformly random
permutation of the N rows, then for each mini-batch of B rows
``z = b + w·x``, ``h = σ(z)``, ``g = (1/B) Σ (h − y)·σ′(z)·(1, x)``, ``θ ← θ − α g``
in float32. The C loop is compiled at run time with the system C compiler
(-O3 -march=native, Fisher–Yates with a xorshift generator and
multiply-shift bounded integers); numpy and the optax pattern
(jitted step, Python loop over batches) run on a prefix of the epoch when a
full one would take too long, and their rate is examples over seconds of that
prefix.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsgd import sgd as T
from jaxsgd.model import Params, batch_grad

C_SOURCE = r"""
#include <math.h>
#include <stddef.h>
#include <stdint.h>
static uint64_t s;
static inline uint64_t next(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s; }
void epoch(const float *x, const float *y, int n, int d, int bsz, float lr, float *theta,
           int32_t *perm, uint64_t seed) {
    s = seed ? seed : 88172645463325252ULL;
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {            /* Fisher-Yates */
        int j = (int)(((next() >> 32) * (uint64_t)(i + 1)) >> 32);  /* Lemire multiply-shift */
        int32_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
    float g[64];
    for (int start = 0; start + bsz <= n; start += bsz) {
        for (int k = 0; k <= d; k++) g[k] = 0.f;
        for (int r = start; r < start + bsz; r++) {
            const float *xi = x + (size_t)perm[r] * d;
            float z = theta[0];
            for (int k = 0; k < d; k++) z += theta[k + 1] * xi[k];
            float e = expf(z);
            float h = 1.f / (1.f + expf(-z));
            float dz = (h - y[perm[r]]) / (2.f + e + 1.f / e);
            g[0] += dz;
            for (int k = 0; k < d; k++) g[k + 1] += dz * xi[k];
        }
        for (int k = 0; k <= d; k++) theta[k] -= lr * g[k] / (float)bsz;
    }
}
"""


def build_c():
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        return None, "no C compiler found (set CC)"
    tmp = tempfile.mkdtemp(prefix="jaxsgd-bench-")
    src, lib = os.path.join(tmp, "epoch.c"), os.path.join(tmp, "epoch.so")
    with open(src, "w") as f:
        f.write(C_SOURCE)
    r = subprocess.run([cc, "-O3", "-march=native", "-shared", "-fPIC", src, "-o", lib, "-lm"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, f"C compile failed: {r.stderr.strip()[:200]}"
    so = ctypes.CDLL(lib)
    fp = ctypes.POINTER(ctypes.c_float)
    so.epoch.argtypes = [fp, fp, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_float, fp,
                         ctypes.POINTER(ctypes.c_int32), ctypes.c_uint64]
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
    args = (x.ctypes.data_as(fp), y.ctypes.data_as(fp), n, d, bsz, 0.1, theta.ctypes.data_as(fp),
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
        e = np.exp(z)
        dz = (h - yb) / (2 + e + 1 / e)
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
        g = batch_grad(params, xb, yb)
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


def bench_jaxsgd(x, y, bsz, repeats, shuffle="auto"):
    n, d = x.shape
    xt, yd = jnp.asarray(x.T), jnp.asarray(y)
    fn = T.epoch_fn(None, bsz, True, shuffle)
    st = T.init_state(d, key=jax.random.key(0), learning_rate=0.1)
    t0 = time.perf_counter()
    st, loss = fn(st, xt, yd)
    jax.block_until_ready(loss)
    compile_s = time.perf_counter() - t0

    def one():
        nonlocal st
        st, loss = fn(st, xt, yd)
        jax.block_until_ready(loss)

    return n / _best(one, repeats), compile_s


def sgd_benchmarks(n, batch_sizes, repeats, budget, log):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = rng.uniform(size=n).astype(np.float32)
    so, why = build_c()
    if so is None:
        log(f"c-loop skipped: {why}")
    rows = []
    for bsz in batch_sizes:
        row = {}
        if so is not None:
            row["c-loop"] = bench_c(so, x, y, bsz, repeats)
        row["numpy"] = bench_numpy(x, y, bsz, budget)
        row["optax-loop"] = bench_optax_loop(x, y, bsz, budget)
        row["jaxsgd"], compile_s = bench_jaxsgd(x, y, bsz, repeats)
        for impl, eps in row.items():
            rows.append({"impl": impl, "batch_size": bsz, "examples_per_second": eps, "n": n, "dtype": "float32",
                         **({"compile_seconds": compile_s} if impl == "jaxsgd" else {})})
        log(f"B={bsz}: " + ", ".join(f"{k} {v / 1e6:.2f}M/s" for k, v in row.items()))
    return rows


def print_sgd_table(rows):
    by = {}
    for r in rows:
        by.setdefault(r["batch_size"], {})[r["impl"]] = r["examples_per_second"]
    print(f"\nOne SGD epoch, N = {rows[0]['n']:,}, d = 2, float32, shuffle included (examples/s)")
    print(f"{'B':>6} {'jaxsgd':>12} {'c-loop':>12} {'numpy':>12} {'optax-loop':>12} {'÷ c-loop':>9} {'÷ optax':>9}")
    for bsz, r in by.items():
        c = r.get("c-loop")
        print(f"{bsz:>6} {r['jaxsgd']:>12,.0f} {c or float('nan'):>12,.0f} {r['numpy']:>12,.0f} "
              f"{r['optax-loop']:>12,.0f} {r['jaxsgd'] / c if c else float('nan'):>9.2f} "
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
    from jaxsgd import runs
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
    keys = jax.random.split(jax.random.key(0), n_runs)
    lrs = np.full(n_runs, 0.5, np.float32)
    xm, ym = x[:n_many], y[:n_many]
    jax.block_until_ready(runs.train_many(xm, ym, lrs, keys, batch_size=32, epochs=1))
    t = _best(lambda: jax.block_until_ready(runs.train_many(xm, ym, lrs, keys, batch_size=32, epochs=1)), 2)
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
        study = json.loads(r.stdout)["total_seconds"]
    except (ValueError, KeyError):
        study = None
    rows.append({"impl": "jaxsgd batch-size", "what": "default study wall time", "seconds": study})
    log(f"default batch-size study: {study} s")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ap.add_argument("--quick", action="store_true", help="N = 100,000 and fewer repeats (smoke run)")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--batch-sizes", default="1,32,256")
    ap.add_argument("--only", choices=["sgd", "derivatives", "accelerator"], help="run one group")
    ap.add_argument("--large", action="store_true",
                    help="accelerator group at full size: N = 10⁶, 4096 runs, 10⁸ points (for a GPU)")
    a = ap.parse_args(argv)
    n = 100_000 if a.quick else a.n
    repeats = 2 if a.quick else 5
    batch_sizes = [int(b) for b in a.batch_sizes.split(",")]
    log = (lambda s: print(s, file=sys.stderr, flush=True))
    rows = []
    if a.only in (None, "sgd"):
        rows = sgd_benchmarks(n, batch_sizes, repeats, budget=2000 if a.quick else 20_000, log=log)
    deriv, compiles = [], []
    if a.only in (None, "derivatives"):
        deriv = derivative_benchmarks(n, 20, repeats, log)
        compiles = compile_benchmarks([4, 8, 12, 20, 40] if not a.quick else [8], [2, 4, 6, 8] if not a.quick
                                      else [4], log)
    accel = []
    if a.only in (None, "accelerator"):
        accel = accelerator_benchmarks(a.large, log)
    meta = {"device": jax.devices()[0].device_kind, "backend": jax.default_backend(), "jax_version": jax.__version__,
            "dtype": "float32"}
    for r in rows + deriv + compiles + accel:
        r.update({k: v for k, v in meta.items() if k not in r})
    result = {
        "results": rows,
        "derivatives": deriv,
        "nested_grad_compile": compiles,
        "accelerator": accel,
        "device": jax.devices()[0].device_kind,
        "backend": jax.default_backend(),
        "jax_version": jax.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
    }
    if a.json:
        print(json.dumps(result))
        return 0
    if rows:
        print_sgd_table(rows)
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
