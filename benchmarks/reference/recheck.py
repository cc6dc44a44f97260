"""Recompute stored coalition values on this machine and record how far they moved, in `rechecks.csv`.

    python benchmarks/reference/recheck.py --method ft --steps 60 --count 8 --threads 1

Each value is evaluated again in a scratch run store with the pinned models
of `<results>/models/` (see `pinned_models`). By default it rechecks values
that another machine computed, the ones a session on this machine would
otherwise reuse. The report compares the change with the spread of the
method's values between coalitions: a change of that size means values from
the two machines do not belong in one game.

With `--replace`, the method's values that other models computed are
computed again and replaced in `coalitions.csv`. Such a value finished before
the pinning, on another machine than the one that trained the pinned models.
The method's game is then measured with the pinned models alone, and each
old value stays in `rechecks.csv`. `--coalitions` limits either mode to the
listed coalitions, e.g. the boundary values of the retrained game, which need
no training.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

import mlflow
import numpy as np
from tqdm.auto import tqdm

REFERENCE_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(REFERENCE_DIR))

from benchmark_plan import StudyVariants  # noqa: E402
from coalition_log import COALITION_COLUMNS, CsvLog, describe_machine  # noqa: E402
from pinned_models import import_models, model_folders, read_manifest  # noqa: E402
from store_import import coalition_row  # noqa: E402
from worker_locks import lock_folder_of  # noqa: E402

from diffusion_credit.cli import setup_logging  # noqa: E402
from diffusion_credit.config import ConfigError, load_config  # noqa: E402
from diffusion_credit.data.dataset import parse_coalition  # noqa: E402
from diffusion_credit.data.errors import DatasetError  # noqa: E402
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
    parser.add_argument("--results", default=str(REFERENCE_DIR / "results"), help="Folder of the CSV files and pinned models; default %(default)s.")
    parser.add_argument("--method", required=True, choices=("retrain", "sft", "ft"), help="Method of the values to recheck.")
    parser.add_argument("--steps", type=int, default=None, help="Fine-tuning steps of the sft/ft values (ignored for retrain); default finetune.steps.")
    parser.add_argument("--count", type=int, default=None, help="Number of values to recheck; default 8, or all with --replace.")
    parser.add_argument("--same-machine", action="store_true", help="Recheck values this machine computed, to test determinism here; by default, values other machines computed.")
    parser.add_argument(
        "--replace",
        action="store_true",
        help="Recompute every value of the method that other models computed before the pinning, and replace it in "
        "coalitions.csv; the old value stays in rechecks.csv.",
    )
    parser.add_argument(
        "--coalitions",
        type=lambda text: text.split(","),
        default=None,
        help="Comma-separated coalition strings: recheck or replace only these, e.g. the boundary 0000000000,1111111111.",
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the random choice of values to recheck (not a training seed); default %(default)s.")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice).")
    parser.add_argument("--no-progress", action="store_true", help="Hide the tqdm bars.")
    args = parser.parse_args(argv)
    if args.count is not None and args.count < 1:
        parser.error(f"--count {args.count} must be at least 1.")
    if args.replace and args.same_machine:
        parser.error("--replace and --same-machine exclude each other: the pinned models' own values need no replacing.")
    if args.count is None and not args.replace:
        args.count = 8
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
        _check_coalitions(study, args.coalitions or [])
        study.tracking()
        # Artifacts also go to the scratch folder; by default they would land in ./mlruns and outlive the store.
        mlflow.create_experiment(study.name, artifact_location=(Path(scratch) / "artifacts").as_uri())
        _pinned_models(study, results, args.method, "1" * len(study.contributors))
        with lock_folder_of(results).hold("pinned-models"):
            import_models(study, results)
        recheck(study, results, args)
    return 0


def recheck(study: Study, results: Path, args: argparse.Namespace) -> None:
    """Evaluate the chosen values again, append one `rechecks.csv` row per value and, with `--replace`, update `coalitions.csv`."""
    machine = describe_machine(study.device)
    steps = None if args.method == "retrain" else (args.steps or study.config.finetune.steps)
    rechecks = CsvLog(results / "rechecks.csv", RECHECK_COLUMNS)
    coalitions = CsvLog(results / "coalitions.csv", COALITION_COLUMNS, key="eval_key")
    rechecked = {row["eval_key"] for row in rechecks.rows if row["machine"] == machine}
    if args.coalitions:
        chosen = _listed(coalitions.rows, study, args, steps, results)
    elif args.replace:
        chosen = _superseded(coalitions.rows, study, args.method, steps, results)[: args.count]
    else:
        chosen = _choose(coalitions.rows, study.name, args, steps, machine, rechecked)
    logger.info("%s %d %s values on %s", "Replacing" if args.replace else "Rechecking", len(chosen), args.method, machine)

    variants = StudyVariants(study)
    for row in tqdm(chosen, desc="recheck", disable=args.no_progress):
        run = _evaluate(variants, row, args, steps)
        new = coalition_row(
            run, study_name=study.name, finetune_steps=steps, game_key=row["game_key"], seed=int(row["seed"]), machine=machine, source="computed"
        )
        if row["eval_key"] not in rechecked:
            rechecks.append(
                {
                    **{column: row[column] for column in ("study", "coalition", "method", "finetune_steps", "eval_key")},
                    "stored_value": row["value"],
                    "stored_machine": row["machine"],
                    "value": new["value"],
                    "machine": machine,
                    "models": _pinned_models(study, results, args.method, row["coalition"]),
                    "seconds": sum(new[column] or 0.0 for column in ("train_s", "sample_s", "property_s")),
                    "finished_at": new["finished_at"],
                }
            )
        if args.replace:
            coalitions.replace({**new, "datamodel_alpha": row["datamodel_alpha"], "datamodel_set": row["datamodel_set"]})
        logger.info("v(%s) by %s: stored %.4f, now %.4f", row["coalition"], args.method, float(row["value"]), new["value"])


def _evaluate(variants: StudyVariants, row: dict, args: argparse.Namespace, steps: int | None):
    """Evaluate the row's coalition in the scratch store and return its finished run."""
    seed = None if row["settings"] == row["game_key"] else int(row["seed"])
    task = variants.make_task("recheck", "recheck", 0, row["coalition"], args.method, steps, seed=seed)
    if task.eval_key != row["eval_key"]:
        raise InputError(
            f"Coalition {row['coalition']} has eval key {task.eval_key} under {args.config}, but {row['eval_key']} in "
            "coalitions.csv; pass the config the benchmark ran with."
        )
    outcome = make_executor(variants.study(args.method, steps)).run([task.task()])[0]
    if not outcome.ok:
        raise RuntimeError(f"Recheck of {args.method} coalition {row['coalition']} failed: {outcome.error}")
    return mlflow.get_run(outcome.value.run_id)


def _superseded(rows: list[dict], study: Study, method: str, steps: int | None, results: Path) -> list[dict]:
    """Return the method's values that other models computed: finished before the pinning, on another machine than the pinned models'."""
    manifest = read_manifest(results)
    pinned = [manifest[name] for name in model_folders(study, method).values()]
    pinned_at = max(entry["exported_at"] for entry in pinned)
    pinned_on = {entry["machine"] for entry in pinned}
    return [
        row
        for row in rows
        if _is_value_of(row, study.name, method, steps)
        and row["finished_at"] < pinned_at
        and row["machine"] not in pinned_on
    ]


def _is_value_of(row: dict, study_name: str, method: str, steps: int | None) -> bool:
    """Return whether a `coalitions.csv` row is a value of the study's method with `steps` fine-tuning steps."""
    return row["study"] == study_name and row["method"] == method and row["finetune_steps"] == ("" if steps is None else str(steps))


def _listed(rows: list[dict], study: Study, args: argparse.Namespace, steps: int | None, results: Path) -> list[dict]:
    """Return the method's values of the `--coalitions` coalitions; with `--replace`, only those other models computed."""
    if args.replace:
        rows = _superseded(rows, study, args.method, steps, results)
    listed = [
        row
        for row in rows
        if _is_value_of(row, study.name, args.method, steps)
        and row["settings"] == row["game_key"]
        and row["coalition"] in args.coalitions
    ]
    if not listed:
        raise InputError(
            f"No {args.method} values of coalitions {', '.join(args.coalitions)} are left to "
            f"{'replace' if args.replace else 'recheck'} in coalitions.csv; check --method, --steps and --coalitions."
        )
    return listed


def _check_coalitions(study: Study, coalitions: list[str]) -> None:
    """Raise `InputError` when a `--coalitions` entry is not a coalition of the study."""
    for coalition in coalitions:
        try:
            parse_coalition(coalition, len(study.contributors))
        except DatasetError as error:
            raise InputError(f"--coalitions: {error}") from None


def _choose(rows: list[dict], study_name: str, args, steps: int | None, machine: str, done: set[str]) -> list[dict]:
    """Pick `args.count` computed values of the method (boundary coalitions and seed replicates left out), seeded."""
    candidates = [
        row
        for row in rows
        if _is_value_of(row, study_name, args.method, steps)
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


def _pinned_models(study: Study, results: Path, method: str, coalition: str) -> str:
    """Return the `models` label of the pinned models the method uses for `coalition`; raise when one is not pinned."""
    manifest = read_manifest(results)
    folders = model_folders(study, method, coalition)
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
