"""Time the README's main command on a fresh clone: first run, then a rerun that reuses every run.

Clones the repository into a temporary folder (so no store or cache is
reused), runs `mlflow run . -e attribute --env-manager local` twice with the
given config, and records wall seconds, the attribution's efficiency gap and
the coalition counts. Results go to `benchmarks/results/attribute_default.json`.

Usage: python benchmarks/attribute_default.py [--config configs/cifar10-mini.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def run_main_job(clone: Path, config: str, log: Path) -> float:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env["TQDM_DISABLE"] = "1"
    command = ["mlflow", "run", ".", "-e", "attribute", "--env-manager", "local", "-P", f"config={config}"]
    started = time.perf_counter()
    with log.open("w") as handle:
        subprocess.run(command, cwd=clone, env=env, stdout=handle, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - started


def summarize_store(clone: Path) -> dict:
    import mlflow

    from diffusion_credit import store

    store.configure(f"sqlite:///{clone / 'mlflow.db'}")
    attributions = store.search_runs({store.TAG_KIND: "attribution"})
    coalitions = store.search_runs({store.TAG_KIND: "coalition"}, statuses=())
    newest = attributions[0]
    return {
        "attribution_runs": len(attributions),
        "coalition_runs": len(coalitions),
        "efficiency_gap": newest.data.metrics["efficiency.gap"],
        "v_full": newest.data.metrics["v_full"],
        "v_empty": newest.data.metrics["v_empty"],
        "scores": mlflow.artifacts.load_text(f"{newest.info.artifact_uri}/attribution.csv"),
        # The newest attribution belongs to the rerun and the oldest to the first run.
        "first_run_stage_seconds": _stage_seconds(attributions[-1]),
        "rerun_stage_seconds": _stage_seconds(newest),
    }


def _stage_seconds(attribution) -> dict:
    """Return the `time.stage.*` metrics of the `attribute` run that created `attribution`."""
    import mlflow

    parent = mlflow.get_run(attribution.data.tags["mlflow.parentRunId"])
    return {key: value for key, value in parent.data.metrics.items() if key.startswith("time.stage.")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/cifar10-mini.yaml", help="study config inside the repository")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "attribute_default.json"))
    args = parser.parse_args()

    # The clone and its logs stay behind when a run fails, for inspection.
    tmp = Path(tempfile.mkdtemp(prefix="attribute-bench-"))
    clone = tmp / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    print(f"cloned into {clone}; logs in {tmp}", flush=True)
    first = run_main_job(clone, args.config, tmp / "first.log")
    print(f"first run: {first:.0f} s", flush=True)
    second = run_main_job(clone, args.config, tmp / "second.log")
    print(f"rerun: {second:.0f} s", flush=True)
    summary = summarize_store(clone)
    shutil.rmtree(tmp)

    result = {
        "command": f"mlflow run . -e attribute --env-manager local -P config={args.config}",
        "first_run_s": first,
        "rerun_s": second,
        **summary,
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "load_average_at_end": os.getloadavg(),
        },
    }
    Path(args.output).write_text(json.dumps(result, indent=2))
    print(json.dumps({key: value for key, value in result.items() if key != "scores"}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
