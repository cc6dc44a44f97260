"""Run or resume the reference benchmark: sFT Shapley credit against retraining, scored by LDS.

Each phase (noise, datamodels, sft, baselines, ft, retrain-shapley, loo,
banzhaf, sft-seeds, datamodel-seeds) skips what is already done. Every finished
coalition value is appended to `<results>/coalitions.csv` at once. At start
the CSV rows are imported into the run store, so a run killed at any point
loses at most the coalition in flight, even when the next session starts
with an empty store. The models in `<results>/models/` (`θ*`, `θ̃*` and the
study classifier) are imported too, so every session measures the same game;
the first runner to train them exports them there (see `pinned_models`).

Long run on the 2-core CPU machine (hours; see README.md for the estimate),
one process per core; the processes split the coalitions between them:

    for worker in 1 2; do
      nohup nice -n 19 python benchmarks/reference/run.py --config configs/cifar10-mini.yaml \
        --threads 1 --no-progress > reference-$worker.log 2>&1 &
    done

Then `python benchmarks/reference/report.py` rebuilds README.md from the CSVs.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path

import yaml

REFERENCE_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(REFERENCE_DIR))

from baseline_phase import DEFAULT_BASELINES, run_baseline_phase  # noqa: E402
from benchmark_plan import COALITION_PHASES, PHASES, PlanSettings, StudyVariants, plan_phases  # noqa: E402
from benchmark_runner import BenchmarkRunner, DeadlineReached  # noqa: E402
from coalition_log import (  # noqa: E402
    BASELINE_COLUMNS,
    COALITION_COLUMNS,
    PLAN_COLUMNS,
    STAGE_COLUMNS,
    CsvLog,
    describe_machine,
    read_rows,
    write_rows,
)
from pinned_models import import_models  # noqa: E402
from store_import import import_rows  # noqa: E402
from worker_locks import lock_folder_of  # noqa: E402

from diffusion_credit.baseline_runs import resolve_methods  # noqa: E402
from diffusion_credit.cli import setup_logging  # noqa: E402
from diffusion_credit.config import ConfigError, load_config  # noqa: E402
from diffusion_credit.errors import InputError  # noqa: E402
from diffusion_credit.study import Study  # noqa: E402

logger = logging.getLogger("reference")

DEFAULT_RESULTS = REFERENCE_DIR / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/cifar10-mini.yaml", help="Study config (YAML); default %(default)s.")
    parser.add_argument("--device", default=None, help="Overrides the config's device: cpu, cuda or auto.")
    parser.add_argument(
        "--phases", type=_parse_phases, default=",".join(PHASES), help=f"Comma-separated phases to run, from {', '.join(PHASES)}; they run in that order. Default: all."
    )
    parser.add_argument(
        "--max-minutes", type=_minutes, default=None, help="Stop cleanly between two coalitions after this many minutes; default: no limit."
    )
    parser.add_argument("--results", default=str(DEFAULT_RESULTS), help="Folder of the CSV files; default %(default)s.")
    parser.add_argument("--tracking-uri", default=None, help="MLflow tracking URI; wins over MLFLOW_TRACKING_URI and the config.")
    parser.add_argument("--coalitions-per-set", type=_count, default=None, help="Overrides lds.coalitions_per_set (datamodel coalitions per set).")
    parser.add_argument("--extra-alphas", default="", help="Datamodel α values added after the config's lds.alphas, e.g. 0.25,0.75.")
    parser.add_argument("--sft-steps", type=_step_counts, default=(), help="sFT fine-tuning step counts, e.g. 30,60,120; default half, once, twice and four times finetune.steps.")
    parser.add_argument("--ft-steps", type=_step_counts, default=(), help="FT fine-tuning step counts; default finetune.steps.")
    parser.add_argument("--kernel-coalitions", type=_even_count, default=64, help="Paired Shapley-kernel coalitions per sFT/FT step count (even); default %(default)s.")
    parser.add_argument("--retrain-coalitions", type=_even_count, default=32, help="Kernel coalitions to retrain (even); default %(default)s. The prefix grows until KernelSHAP can solve it.")
    parser.add_argument("--uniform-coalitions", type=_count, default=32, help="Uniform coalitions of the Banzhaf phase, per method; default %(default)s.")
    parser.add_argument(
        "--datamodel-seeds", type=_count, default=3, help="Seeds per datamodel coalition in the sft-seeds and datamodel-seeds phases, the config's own included; default %(default)s."
    )
    parser.add_argument("--semivalue-methods", default="retrain,sft", help="Methods of the loo and banzhaf phases; default %(default)s.")
    parser.add_argument("--baselines", default=",".join(DEFAULT_BASELINES), help="Baselines of the baselines phase; default %(default)s.")
    parser.add_argument("--threads", type=_count, default=None, help="torch threads (default: torch's own choice).")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="Config override, e.g. training.steps=200 (repeatable)."
    )
    parser.add_argument("--no-progress", action="store_true", help="Hide the tqdm bars of training and sampling.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    phases = args.phases
    baseline_names = resolve_methods(args.baselines) if "baselines" in phases else []
    if "loo" in baseline_names:
        logger.info("Leaving out the loo baseline: the loo phase evaluates leave-one-out with each semivalue method.")
        baseline_names.remove("loo")
    if args.tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    deadline = None if args.max_minutes is None else time.monotonic() + 60 * args.max_minutes
    results = Path(args.results)
    if results.exists() and not results.is_dir():
        raise SystemExit(f"--results {results} is a file; pass a folder (it is created when missing).")

    study = Study(load_config(args.config, _overrides(args)), progress=not args.no_progress)
    study.tracking()
    machine = describe_machine(study.device)
    logger.info("Reference benchmark of study %s on %s; results in %s", study.name, machine, results)

    coalitions = CsvLog(results / "coalitions.csv", COALITION_COLUMNS, key="eval_key")
    stages = CsvLog(results / "stages.csv", STAGE_COLUMNS, key="digest")
    baselines = CsvLog(results / "baselines.csv", BASELINE_COLUMNS, key="digest")
    locks = lock_folder_of(results)
    with locks.hold("pinned-models"):
        import_models(study, results)
    with locks.hold("import"):
        import_rows(study.name, coalitions.rows)

    variants = StudyVariants(study)
    plan = plan_phases(variants, _plan_settings(args, study))
    with locks.hold("plan"):
        _write_plan(results / "plan.csv", study.name, plan)

    runner = BenchmarkRunner(variants, coalitions, stages, machine=machine, deadline=deadline, locks=locks)
    _stop_on_interrupt(runner)
    failures = 0
    try:
        for phase in phases:
            if phase in COALITION_PHASES:
                failures += len(runner.run_phase(phase, plan[phase]).failed)
            else:
                failures += len(run_baseline_phase(study, baseline_names, baselines, runner, machine=machine))
    except DeadlineReached as stop:
        logger.info("%s Stopped cleanly; rerun the same command to resume.", stop)
        return 0
    if failures:
        logger.error("%d evaluations failed; the others are kept. Fix the cause and rerun to retry them.", failures)
        return 1
    logger.info("All requested phases are done. Build the report with: python benchmarks/reference/report.py --results %s", results)
    return 0


def _parse_phases(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PHASES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown phase(s) {unknown or '(none given)'} in {text!r}; choose from {', '.join(PHASES)}.")
    return [phase for phase in PHASES if phase in names]


def _overrides(args: argparse.Namespace) -> dict:
    overrides = {}
    for item in args.overrides:
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            raise SystemExit(f"--set {item!r} is not KEY=VALUE, e.g. --set training.steps=200.")
        overrides[key.strip()] = yaml.safe_load(value)
    if args.device:
        overrides["device"] = args.device
    if args.tracking_uri:
        overrides["tracking.uri"] = args.tracking_uri
    if args.coalitions_per_set:
        overrides["lds.coalitions_per_set"] = args.coalitions_per_set
    if args.extra_alphas.strip():
        config = load_config(args.config, overrides)
        extra = [float(alpha) for alpha in args.extra_alphas.split(",") if alpha.strip()]
        overrides["lds.alphas"] = list(dict.fromkeys([*config.lds.alphas, *extra]))
    return overrides


def _plan_settings(args: argparse.Namespace, study: Study) -> PlanSettings:
    steps = study.config.finetune.steps
    sft_steps = args.sft_steps or sorted({max(1, steps // 2), steps, 2 * steps, 4 * steps})
    try:
        return PlanSettings(
            sft_steps=tuple(sft_steps),
            ft_steps=tuple(args.ft_steps or [steps]),
            kernel_coalitions=args.kernel_coalitions,
            retrain_coalitions=args.retrain_coalitions,
            uniform_coalitions=args.uniform_coalitions,
            datamodel_seeds=args.datamodel_seeds,
            semivalue_methods=tuple(name.strip() for name in args.semivalue_methods.split(",") if name.strip()),
        )
    except ValueError as error:
        raise SystemExit(f"Invalid sample sizes: {error}") from None


def _step_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(item) for item in text.split(",") if item.strip())
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of positive step counts; pass e.g. 30,60,120.")
    return counts


def _count(text: str) -> int:
    return _number(text, int, lambda value: value >= 1, "a positive integer; pass e.g. 3")


def _even_count(text: str) -> int:
    value = _count(text)
    if value % 2:
        raise argparse.ArgumentTypeError(f"{text!r} is odd; kernel coalitions are sampled in complementary pairs, so pass an even count.")
    return value


def _minutes(text: str) -> float:
    return _number(text, float, lambda value: value >= 0, "a number of minutes; pass 0 or more, e.g. 90")


def _number(text: str, convert, is_valid, expected: str):
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not is_valid(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {expected}.")
    return value


def _stop_on_interrupt(runner: BenchmarkRunner) -> None:
    """Make the first Ctrl-C stop the runner after the coalition in flight, and a second one stop it at once.

    An interrupt raised inside a run-store write can leave a sqlite
    transaction open, so the other evaluations then fail on a locked
    database. The first Ctrl-C therefore only sets the runner's stop flag.
    """

    def request_stop(signum, frame):
        if runner.stop_requested:
            raise KeyboardInterrupt
        runner.stop_requested = True
        logger.warning("Ctrl-C: stopping after the coalition in flight. Press Ctrl-C again to stop at once.")

    signal.signal(signal.SIGINT, request_stop)


def _write_plan(path: Path, study_name: str, plan: dict) -> None:
    """Replace this study's rows of `plan.csv` with the current plan, keeping other studies' rows."""
    others = [row for row in read_rows(path) if row.get("study") != study_name]
    rows = [task.plan_row(study_name) for tasks in plan.values() for task in tasks]
    write_rows(path, PLAN_COLUMNS, [*others, *rows])
    logger.info("Plan: %d tasks over %d phases written to %s", len(rows), len(plan), path)


if __name__ == "__main__":
    setup_logging()
    try:
        sys.exit(main())
    except (ConfigError, InputError) as error:
        logger.error("%s", error)
        sys.exit(2)
    except KeyboardInterrupt:
        logger.error("Interrupted. The values finished so far are in the CSV. Rerun the same command to resume.")
        sys.exit(130)
