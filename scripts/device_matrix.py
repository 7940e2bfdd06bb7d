"""Processes × devices per process: every cell trains (or studies) as one process on one device, or refuses
before any work in one line that names the batch sizes that work.

    python scripts/device_matrix.py                # 1–2 processes × 1, 2, 4, 8 CPU devices (a few minutes)
    python scripts/device_matrix.py --devices 4    # one column

Each cell runs ``jaxsgd train`` (rows replicated, and ``--shard-data``) and ``jaxsgd batch-size`` with
``XLA_FLAGS=--xla_force_host_platform_device_count=D`` (the shape of a GPU node: several devices in each
process), through ``jaxsgd launch`` for two processes, and compares the parameters (train) and every
level's steps and best learning rate at each batch size (batch-size) with one process on one device
(sharded rows: with two processes on one device each, whose shuffle it is). Exit code 0 when every cell holds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RTOL = 2e-5  # float32 sums in another order: a few ulps of the parameters, over two epochs


def _run(argv, processes: int, devices: int):
    env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    head = [sys.executable, "-m", "jaxsgd"] + (["launch", "--processes", str(processes), "--"] if processes > 1
                                                else [])
    r = subprocess.run([*head, *argv], capture_output=True, text=True, env=env, timeout=600)
    errors = [line for line in r.stderr.splitlines() if "error" in line.lower() or "Traceback" in line]
    return r.returncode, r.stdout, errors, r.stderr


def _data(folder: str) -> str:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1200, 2))
    y = 1 / (1 + np.exp(-(0.3 + x @ [1.0, -2.0]))) * 0.8 + 0.1
    path = os.path.join(folder, "rows.csv")
    with open(path, "w") as f:
        f.write("a,b,y\n")
        f.writelines(f"{float(a)!r},{float(b)!r},{float(t)!r}\n" for (a, b), t in zip(x, y, strict=True))
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    a = ap.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="jaxsgd-matrix-")
    csv = _data(folder)
    kinds = {
        "train": lambda b: ["train", "--data", csv, "--features", "a,b", "--target", "y", "--epochs", "2",
                            "--batch-size", str(b), "--json", "--quiet"],
        "train --shard-data": lambda b: ["train", "--data", csv, "--features", "a,b", "--target", "y", "--epochs",
                                         "2", "--batch-size", str(b), "--json", "--quiet", "--shard-data"],
        "batch-size": lambda b: ["batch-size", "--data", csv, "--features", "a,b", "--target", "y", "--seeds", "8",
                                 "--batch-sizes", f"{b // 2},{2 * b}", "--max-steps", "600", "--json", "--quiet"],
    }
    reference = {}
    bad = 0
    print(f"{'processes':>9} {'devices':>7}  {'command':<20} {'B':>3}  result")
    for processes in a.processes:
        for devices in a.devices:
            for kind, make in kinds.items():
                if kind == "train --shard-data" and processes == 1:
                    continue  # one process holds every row: nothing to shard
                split = processes * devices
                sizes = {16} | ({split * 3 // 2} if split > 1 and kind != "batch-size" else set())
                for b in sorted(sizes):
                    rc, out, errors, err = _run(make(b), processes, devices)
                    must_split = kind != "batch-size" and b % (processes * devices)
                    if must_split:
                        ok = rc == 2 and len({e.split("] ", 1)[-1] for e in errors}) == 1 and "multiple of" in errors[0]
                        what = f"refused: {errors[0].split('error: ', 1)[-1][:90]}" if errors else f"rc {rc}, no error"
                    elif rc != 0:
                        ok, what = False, f"rc {rc}: {(errors or err.splitlines() or ['?'])[-1][:100]}"
                    else:
                        got = json.loads(out)
                        value = (np.asarray(got["params"]) if kind.startswith("train") else
                                 np.asarray([[r["steps"], r["best_lr"]] for t in got["targets"] for r in t["rows"]],
                                            dtype=float))
                        key = (kind, b)  # sharded: against two processes on one device each (its own shuffle)
                        reference.setdefault(key, value)
                        same = np.allclose(value, reference[key], rtol=RTOL, atol=1e-6, equal_nan=True)
                        ok, what = same, "equal to the first cell" if same else f"differs: {value} vs {reference[key]}"
                    bad += not ok
                    print(f"{processes:>9} {devices:>7}  {kind:<20} {b:>3}  {'ok ' if ok else 'BAD'} {what}",
                          flush=True)
    print("every cell holds" if not bad else f"{bad} cells do not hold")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
