"""Recompute stored coalition values on this machine and record how far they moved, in `rechecks.csv`.

    python benchmarks/reference/recheck.py --method ft --steps 60 --count 8 --threads 1

Each value is evaluated again in a scratch run store with the pinned models
of `<results>/models/` (see `pinned_models`). By default it rechecks values
that another machine computed, the ones a session on this machine would
otherwise reuse. The report compares the change with the spread of the
method's values between coalitions: a change of that size means values from
the two machines do not belong in one game.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

REFERENCE_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(REFERENCE_DIR))

from benchmark_plan import StudyVariants  # noqa: E402
from coalition_log import COALITION_COLUMNS, CsvLog, describe_machine, read_rows  # noqa: E402
from pinned_models import import_models, model_folders, read_manifest  # noqa: E402
from worker_locks import lock_folder_of  # noqa: E402

from diffusion_credit.cli import setup_logging  # noqa: E402
from diffusion_credit.config import ConfigError, load_config  # noqa: E402
from diffusion_credit.errors import InputError  # noqa: E402
from diffusion_credit.executors import make_executor  # noqa: E402
from diffusion_credit.study import Study  # noqa: E402

logger = logging.getLogger("reference.recheck")

RECHECK_COLUMNS = (
    "study",
    "coalition",
    "method",
    "finetune_steps",
    "eval_key",
    "stored_value",
    "stored_machine",
    "value",
    "machine",
    "models",
    "seconds",
    "finished_at",
)
"""`models` is the SHA-256 prefix of each pinned model the value used, e.g. `train:4bf67534 classifier:b3c4b951`."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/cifar10-mini.yaml", help="Study config (YAML); default %(default)s.")
    parser.add_argument("--results", default=str(REFERENCE_DIR / "results"), help="Folder of the CSV files and pinned models.")
    parser.add_argument("--method", required=True, choices=("retrain", "sft", "ft"), help="Method of the values to recheck.")
    parser.add_argument("--steps", type=int, default=None, help="Fine-tuning steps of the sft/ft values; default finetune.steps.")
    parser.add_argument("--count", type=int, default=8, help="Number of values to recheck; default %(default)s.")
    parser.add_argument("--same-machine", action="store_true", help="Recheck values this machine computed, to test determinism here.")
    parser.add_argument("--seed", type=int, default=0, help="Seeds the choice of values; default %(default)s.")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice).")
    parser.add_argument("--no-progress", action="store_true", help="Hide the tqdm bars.")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error(f"--count {args.count} must be at least 1.")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = Path(args.results)
    if not (results / "coalitions.csv").is_file():
        raise InputError(f"{results / 'coalitions.csv'} not found; pass --results with the benchmark's results folder.")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="recheck-store-") as scratch:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(scratch) / 'mlflow.db'}"
        study = Study(load_config(args.config), progress=not args.no_progress)
        study.tracking()
        models = _pinned_models(study, results, args.method)
        with lock_folder_of(results).hold("pinned-models"):
            import_models(study, results)
        recheck(study, results, args, models)
    return 0


def recheck(study: Study, results: Path, args: argparse.Namespace, models: str) -> None:
    """Evaluate the chosen values again and append one `rechecks.csv` row per value."""
    machine = describe_machine(study.device)
    steps = None if args.method == "retrain" else (args.steps or study.config.finetune.steps)
    log = CsvLog(results / "rechecks.csv", RECHECK_COLUMNS)
    done = {row["eval_key"] for row in log.rows if row["machine"] == machine}
    chosen = _choose(read_rows(results / "coalitions.csv", COALITION_COLUMNS), study.name, args, steps, machine, done)
    logger.info("Rechecking %d %s values on %s", len(chosen), args.method, machine)

    variants = StudyVariants(study)
    for row in tqdm(chosen, desc="recheck", disable=args.no_progress):
        task = variants.make_task("recheck", "recheck", 0, row["coalition"], args.method, steps)
        if task.eval_key != row["eval_key"]:
            raise InputError(
                f"Coalition {row['coalition']} has eval key {task.eval_key} under {args.config}, but {row['eval_key']} in "
                "coalitions.csv; pass the config the benchmark ran with."
            )
        outcome = make_executor(variants.study(args.method, steps)).run([task.task()])[0]
        if not outcome.ok:
            raise RuntimeError(f"Recheck of {args.method} coalition {row['coalition']} failed: {outcome.error}")
        value = outcome.value
        log.append(
            {
                "study": study.name,
                "coalition": row["coalition"],
                "method": args.method,
                "finetune_steps": steps,
                "eval_key": row["eval_key"],
                "stored_value": row["value"],
                "stored_machine": row["machine"],
                "value": value.value,
                "machine": machine,
                "models": models,
                "seconds": value.seconds,
                "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
        )
        logger.info("v(%s) by %s: stored %.4f, now %.4f", row["coalition"], args.method, float(row["value"]), value.value)


def _choose(rows: list[dict], study_name: str, args, steps: int | None, machine: str, done: set[str]) -> list[dict]:
    """Pick `args.count` computed values of the method (boundary coalitions and seed replicates left out), seeded."""
    candidates = [
        row
        for row in rows
        if row["study"] == study_name
        and row["method"] == args.method
        and row["finetune_steps"] == ("" if steps is None else str(steps))
        and row["settings"] == row["game_key"]
        and row["source"] == "computed"
        and "0" in row["coalition"]
        and "1" in row["coalition"]
        and (row["machine"] == machine) == args.same_machine
        and row["eval_key"] not in done
    ]
    if not candidates:
        where = "this machine" if args.same_machine else "other machines"
        raise InputError(
            f"No {args.method} values with {steps} fine-tuning steps from {where} are left to recheck in coalitions.csv; "
            "choose another --method or --steps, or pass --same-machine."
        )
    order = np.random.default_rng(args.seed).permutation(len(candidates))
    return [candidates[index] for index in order[: args.count]]


def _pinned_models(study: Study, results: Path, method: str) -> str:
    """Return the `models` label of the pinned models the method uses; raise when one is not pinned."""
    manifest = read_manifest(results)
    folders = model_folders(study, method)
    missing = [name for name in folders.values() if name not in manifest]
    if missing:
        raise InputError(
            f"{', '.join(missing)} not pinned in {results / 'models'}; run run.py first, so that the recheck uses "
            "the models every session shares instead of training new ones."
        )
    return " ".join(f"{role}:{manifest[name]['sha256'][:8]}" for role, name in folders.items())


if __name__ == "__main__":
    setup_logging()
    try:
        sys.exit(main())
    except (ConfigError, InputError) as error:
        logger.error("%s", error)
        sys.exit(2)
