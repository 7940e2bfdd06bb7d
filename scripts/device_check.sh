#!/usr/bin/env bash
# On a machine with an accelerator (jax, optax, pytest, numpy, mpmath preinstalled), from the
# repository root:  bash scripts/device_check.sh
# Runs the whole test suite on the accelerator, then the benchmark figures that compare
# backends; the JSON lands in ${OUT:-.}/bench_accelerator.json.
set -uo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import jax; print(jax.devices())"
python3 -m pytest -q -p no:cacheprovider -o addopts="--doctest-modules" tests jaxsgd 2>&1 | tail -15
python3 scripts/bench.py --only accelerator --large --json > "${OUT:-.}/bench_accelerator.json"
python3 scripts/bench.py --only sgd --json > "${OUT:-.}/bench_sgd.json"
python3 scripts/bench.py --only sweep --json > "${OUT:-.}/bench_sweep.json"
python3 -c "import json,sys; [print(r) for r in json.load(open(sys.argv[1]))['accelerator']]" "${OUT:-.}/bench_accelerator.json"
