"""Time the KernelSHAP solve (with batch uncertainty) for many contributors and coalitions.

For each number of contributors `n` and coalitions `m`, it measures the time
to sample `m` paired Shapley-kernel coalitions and the time of `kernel_shap`
with `num_batches` batches. The solve accumulates `A` and `b` in row chunks
and runs one constrained solve per batch plus one for the full estimate. The coalition
values come from a synthetic game (additive plus sparse pairwise terms plus
noise); computing them is not timed. A combination whose predicted solve
time exceeds `--max-seconds` is skipped and recorded as such; the
prediction scales the accumulation time of the previous `m` linearly and
adds the measured solve time of one `n × n` system per batch.

Writes `benchmarks/results/kernelshap_solve.json`.

Run: python benchmarks/kernelshap_solve.py [--contributors 20 258 1000] [--coalitions 1000 10000 100000]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from diffusion_credit.valuation import InsufficientCoalitionsError, kernel_shap, sample_shapley_kernel, solve_constrained

RESULTS = Path(__file__).resolve().parent / "results" / "kernelshap_solve.json"


def synthetic_values(coalitions: np.ndarray, seed: int) -> tuple[np.ndarray, float, float]:
    """Return `v` of each coalition, `v(∅)` and `v(N)` for an additive game with sparse pairs and noise."""
    rng = np.random.default_rng(seed)
    num_contributors = coalitions.shape[1]
    linear = rng.normal(size=num_contributors)
    pairs = rng.choice(num_contributors, size=(num_contributors // 2, 2), replace=True)
    strengths = rng.normal(scale=0.5, size=len(pairs))

    values = np.empty(len(coalitions))
    for start in range(0, len(coalitions), 8192):
        block = coalitions[start : start + 8192]
        together = block[:, pairs[:, 0]] & block[:, pairs[:, 1]]
        values[start : start + 8192] = block @ linear + together @ strengths
    values += rng.normal(scale=0.1, size=len(values))
    return values, 0.0, float(linear.sum() + strengths.sum())


def time_single_solve(num_contributors: int) -> float:
    """Return the seconds of one constrained solve (rank check included) of an `n × n` system, after a warm-up."""
    rng = np.random.default_rng(0)
    factor = rng.random((2 * num_contributors, num_contributors)) < 0.5
    gram = factor.T.astype(np.float64) @ factor / len(factor)
    moment = rng.normal(size=num_contributors)
    solve_constrained(gram, moment, 1.0)

    start = time.perf_counter()
    solve_constrained(gram, moment, 1.0)
    return time.perf_counter() - start


def measure(num_contributors: int, num_coalitions: int, num_batches: int, seed: int) -> dict:
    """Sample, evaluate the synthetic game, and time the sampling and the solve."""
    start = time.perf_counter()
    coalitions = sample_shapley_kernel(num_contributors, num_coalitions, seed=seed, paired=True)
    sample_seconds = time.perf_counter() - start
    values, v_empty, v_full = synthetic_values(coalitions, seed)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        try:
            result = kernel_shap(coalitions, values, v_empty, v_full, paired=True, num_batches=num_batches)
        except InsufficientCoalitionsError as error:
            return {
                "contributors": num_contributors,
                "coalitions": num_coalitions,
                "status": "not identifiable",
                "sample_seconds": round(sample_seconds, 3),
                "solve_seconds": round(time.perf_counter() - start, 3),
                "note": str(error),
            }
        solve_seconds = time.perf_counter() - start

    return {
        "contributors": num_contributors,
        "coalitions": num_coalitions,
        "status": "measured",
        "sample_seconds": round(sample_seconds, 3),
        "solve_seconds": round(solve_seconds, 3),
        "has_std": result.std is not None,
        "std_note": result.extra.get("uncertainty_error", "") if caught else "",
        "convergence_ratio": result.convergence_ratio,
        "efficiency_gap": float(abs(result.values.sum() - (v_full - v_empty))),
        "coalitions_bytes": int(coalitions.nbytes),
    }


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": _version("torch"),
        "note": "2 CPU cores shared with other jobs; timings are noisy upper bounds.",
    }


def _cpu_model() -> str:
    # platform.processor() is empty on many Linux builds; /proc/cpuinfo names the CPU.
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contributors", type=int, nargs="+", default=[20, 258, 1000], help="numbers of contributors n")
    parser.add_argument("--coalitions", type=int, nargs="+", default=[1000, 10000, 100000], help="numbers of coalitions m (even)")
    parser.add_argument("--num-batches", type=int, default=4, help="batches of the uncertainty estimate")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="skip combinations predicted to take longer (seconds)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampler and the synthetic game")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON file to write")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    rows = []
    for num_contributors in args.contributors:
        solve_once = time_single_solve(num_contributors)
        previous = None
        for num_coalitions in sorted(args.coalitions):
            fixed = (args.num_batches + 1) * solve_once
            if previous is not None:
                accumulate = max(previous["solve_seconds"] - fixed, 0.0) * num_coalitions / previous["coalitions"]
                predicted = accumulate + fixed
                if predicted > args.max_seconds:
                    row = {"contributors": num_contributors, "coalitions": num_coalitions, "status": "skipped",
                           "predicted_solve_seconds": round(predicted, 1)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    continue
            row = measure(num_contributors, num_coalitions, args.num_batches, args.seed)
            row["single_solve_seconds"] = round(solve_once, 4)
            rows.append(row)
            previous = row
            print(json.dumps(row), flush=True)

    report = {
        "benchmark": "kernelshap_solve",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "num_batches": args.num_batches,
        "paired": True,
        "max_seconds": args.max_seconds,
        "rows": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
