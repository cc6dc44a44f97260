"""Time reading coalition values back from the run store, as the `shapley` entry point does.

Logs `m` FINISHED coalition runs of a study with `n` contributors into a
fresh sqlite store (with the tags and metric of the run-store contract),
then times `attribution.coalition_values` (one paged search over all runs)
and a KernelSHAP solve on what it returns. Results go to
`benchmarks/results/store_query.json`.

Usage: python benchmarks/store_query.py [--sizes 20:1000 20:5000 258:5000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

import mlflow
import numpy as np
from mlflow.entities import Metric, RunTag

from diffusion_credit import store
from diffusion_credit.attribution import coalition_values
from diffusion_credit.valuation import bits_to_coalition, coalition_to_bits, kernel_shap, sample_shapley_kernel


def log_runs(num_contributors: int, num_runs: int) -> None:
    """Log `num_runs` distinct coalition runs of a study named `bench` (empty and full included)."""
    client = mlflow.MlflowClient()
    experiment_id = mlflow.create_experiment(f"bench-{uuid.uuid4().hex[:6]}")
    rng = np.random.default_rng(0)
    weights = rng.normal(size=num_contributors)
    coalitions = {coalition_to_bits(row) for row in sample_shapley_kernel(num_contributors, num_runs, seed=0)}
    coalitions |= {"0" * num_contributors, "1" * num_contributors}
    for bits in coalitions:
        value = float(bits_to_coalition(bits) @ weights)
        run = client.create_run(experiment_id)
        tags = {
            store.TAG_KIND: "coalition",
            store.TAG_STUDY: "bench",
            store.TAG_METHOD: "sft",
            store.TAG_COALITION: bits,
            store.TAG_RECIPE: "r",
            store.TAG_EVAL_KEY: bits,
        }
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("property.inception_score", value, 0, 0)],
            tags=[RunTag(key, value) for key, value in tags.items()],
        )
        client.set_terminated(run.info.run_id, "FINISHED")


def measure(num_contributors: int, num_runs: int, folder: Path) -> dict:
    store.configure(f"sqlite:///{folder / f'store-{num_contributors}-{num_runs}.db'}")
    started = time.perf_counter()
    log_runs(num_contributors, num_runs)
    log_seconds = time.perf_counter() - started

    started = time.perf_counter()
    values = coalition_values("bench", "sft")
    query_seconds = time.perf_counter() - started

    empty, full = "0" * num_contributors, "1" * num_contributors
    bits = [key for key in values if key not in (empty, full)]
    matrix = np.stack([bits_to_coalition(key) for key in bits])
    started = time.perf_counter()
    kernel_shap(matrix, np.array([values[key][0] for key in bits]), values[empty][0], values[full][0], weights="kernel", uncertainty="none")
    solve_seconds = time.perf_counter() - started
    return {
        "contributors": num_contributors,
        "runs": len(values),
        "log_seconds": log_seconds,
        "query_seconds": query_seconds,
        "solve_seconds": solve_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["20:1000", "20:5000", "258:5000"], help="n:m pairs")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "store_query.json"))
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            num_contributors, num_runs = (int(part) for part in size.split(":"))
            rows.append(measure(num_contributors, num_runs, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)

    machine = {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(), "mlflow": mlflow.__version__,
               "load_average_at_end": os.getloadavg()}
    Path(args.output).write_text(json.dumps({"rows": rows, "machine": machine}, indent=2))


if __name__ == "__main__":
    main()
