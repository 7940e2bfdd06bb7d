#!/usr/bin/env bash
# On a machine with an accelerator (jax, optax, pytest, numpy, mpmath preinstalled), from the
# repository root:  bash scripts/device_check.sh
# Runs the whole test suite on the accelerator, then the benchmark figures that compare
# backends; the JSON lands in ${OUT:-.}/bench_accelerator.json.
set -uo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import jax; print(jax.devices())"
# the suite, bounded so that the figures below still fit in one short device session
timeout 240 python3 -m pytest -q -x -p no:cacheprovider -o addopts="" tests -m "not slow and not serial" 2>&1 | tail -15
python3 scripts/bench.py --only accelerator --large --json > "${OUT:-.}/bench_accelerator.json"
python3 scripts/bench.py --only sgd --json > "${OUT:-.}/bench_sgd.json"
python3 scripts/bench.py --only sweep --json > "${OUT:-.}/bench_sweep.json"
timeout 120 python3 scripts/bench.py --only mlp --json > "${OUT:-.}/bench_mlp.json"
python3 -c "import json,sys; [print(r) for r in json.load(open(sys.argv[1]))['accelerator']]" "${OUT:-.}/bench_accelerator.json"
