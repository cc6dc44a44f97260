"""Evaluate the planned tasks one coalition at a time, appending each value to the CSV as it finishes.

For each task the runner looks for a FINISHED run with the task's eval key
and otherwise evaluates the coalition through the study's executor. A value
is appended to `coalitions.csv` only when its eval key has no row yet. A
deadline stops it between two coalitions.

Several runners may share one results folder and run store: a runner claims
each task's lock before it evaluates the task and skips a task another runner
holds. `θ*` and `θ̃*` are trained by whichever runner needs them first; the
others skip the tasks that need them meanwhile and go on with the rest (see
`worker_locks`).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timezone

import mlflow
from coalition_log import CsvLog, format_duration
from benchmark_plan import PlannedTask, StudyVariants
from pinned_models import export_models
from store_import import coalition_row
from worker_locks import LockFolder

from diffusion_credit.coalitions import find_coalition_run
from diffusion_credit.executors import make_executor
from diffusion_credit.stages import find_model_run

__all__ = ["PhaseOutcome", "BenchmarkRunner", "CostModel", "DeadlineReached", "MODEL_LOCK_WAIT_S"]

logger = logging.getLogger(__name__)


MODEL_LOCK_WAIT_S = 30.0
"""How long a runner waits for the model lock: loading a trained model takes
seconds, training one takes many minutes, and the runner has other work."""


class DeadlineReached(Exception):
    """The `--max-minutes` budget ran out or a stop was requested; the run stops between two coalitions."""


class PhaseOutcome:
    """Counts of one runner's work in a phase: values reused, computed, left to other runners and failed."""

    def __init__(self, phase: str, total: int):
        self.phase = phase
        self.total = total
        self.reused = 0
        self.computed = 0
        self.busy = 0
        self.failed: list[str] = []


class CostModel:
    """Median measured seconds per coalition by (method, fine-tuning steps), from the CSV rows of this machine."""

    def __init__(self, rows: Sequence[dict], machine: str):
        self.seconds: dict[tuple, list[float]] = defaultdict(list)
        for row in rows:
            if row["machine"] == machine and row["source"] == "computed" and "0" in row["coalition"] and "1" in row["coalition"]:
                self.add(row["method"], row["finetune_steps"] or None, _total_seconds(row))

    def add(self, method: str, steps, seconds: float | None) -> None:
        if seconds is not None:
            self.seconds[(method, None if steps in (None, "") else int(steps))].append(seconds)

    def estimate(self, tasks: Sequence[PlannedTask]) -> float | None:
        """Return the estimated seconds of `tasks`, or None when some kind of task was never measured."""
        total = 0.0
        for task in tasks:
            measured = self.seconds.get((task.method, task.finetune_steps))
            if not measured:
                return None
            total += statistics.median(measured)
        return total


class BenchmarkRunner:
    """Resolves planned tasks to values and records each in `coalitions.csv`.

    Args:
        variants: the study and its fine-tuning-step variants.
        log: the `coalitions.csv` log.
        stages: the `stages.csv` log.
        machine: the machine label of new rows.
        deadline: `time.monotonic()` value after which no new coalition starts, or None.
        locks: the lock folder shared with other runners of the same results folder.

    Attributes:
        stop_requested: when set (by Ctrl-C), the runner stops before the next coalition.
    """

    def __init__(
        self,
        variants: StudyVariants,
        log: CsvLog,
        stages: CsvLog,
        *,
        machine: str,
        deadline: float | None,
        locks: LockFolder,
    ):
        self.variants = variants
        self.log = log
        self.stages = stages
        self.machine = machine
        self.deadline = deadline
        self.locks = locks
        self.stop_requested = False
        self._model_wait = MODEL_LOCK_WAIT_S
        self.costs = CostModel(log.rows, machine)

    def run_phase(self, phase: str, tasks: Sequence[PlannedTask]) -> PhaseOutcome:
        """Resolve every task of a phase in order; raise `DeadlineReached` when the budget runs out."""
        first_of: dict[tuple, PlannedTask] = {}
        for task in tasks:
            first_of.setdefault((task.eval_key, tuple(sorted(task.tags.items()))), task)
        distinct = list(first_of.values())
        outcome = PhaseOutcome(phase, len(distinct))
        pending = [task for task in distinct if task.eval_key not in self.log]
        estimate = self.costs.estimate(pending)
        logger.info(
            "Phase %s: %d values planned, %d already in the CSV, %d to resolve%s",
            phase,
            len(distinct),
            len(distinct) - len(pending),
            len(pending),
            "" if estimate is None else f", about {format_duration(estimate)}",
        )
        for index, task in enumerate(distinct):
            computed_before = outcome.computed
            self._resolve(task, outcome)
            if outcome.computed > computed_before and index + 1 < len(distinct):
                self._log_progress(phase, distinct)
        logger.info(
            "Phase %s: done (%d computed, %d reused, %d left to other runners, %d failed)",
            phase,
            outcome.computed,
            outcome.reused,
            outcome.busy,
            len(outcome.failed),
        )
        return outcome

    def check_deadline(self, next_step: str) -> None:
        """Raise `DeadlineReached` when the deadline has passed or a stop was requested."""
        if self.stop_requested:
            raise DeadlineReached(f"Ctrl-C before {next_step}.")
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise DeadlineReached(f"The time budget ran out before {next_step}.")

    def _resolve(self, task: PlannedTask, outcome: PhaseOutcome) -> None:
        with self.locks.hold(f"task-{task.eval_key}", wait=False) as claimed:
            if not claimed:
                logger.debug("Phase %s: %s of %s is being evaluated by another runner; skipped", task.phase, task.method, task.coalition)
                outcome.busy += 1
                return
            self._resolve_claimed(task, outcome)

    def _resolve_claimed(self, task: PlannedTask, outcome: PhaseOutcome) -> None:
        study = self.variants.study(task.method, task.finetune_steps)
        found = find_coalition_run(study, task.eval_key, task.tags)
        if found is not None:
            self._record(task, found, "store")
            outcome.reused += 1
            return

        self.check_deadline(f"{task.method} of coalition {task.coalition}")
        if not self._prepare_models(task):
            logger.debug("Phase %s: %s of %s waits for a model another runner is training; skipped", task.phase, task.method, task.coalition)
            outcome.busy += 1
            return
        started = time.perf_counter()
        result = make_executor(study).run([task.task()])[0]
        if not result.ok:
            logger.error("Phase %s: %s of %s failed: %s", task.phase, task.method, task.coalition, result.error)
            outcome.failed.append(task.eval_key)
            return
        run = mlflow.get_run(result.value.run_id)
        row = self._record(task, run, "computed")
        self.costs.add(task.method, task.finetune_steps, (row and _total_seconds(row)) or time.perf_counter() - started)
        outcome.computed += 1
        self.pin_models()

    def pin_models(self) -> None:
        """Export `θ*`, `θ̃*` and the study classifier to `<results>/models/` once each exists (see `pinned_models`)."""
        with self.locks.hold("pinned-models"):
            export_models(self.variants.base, self.log.path.parent, machine=self.machine)

    def _record(self, task: PlannedTask, run, source: str) -> dict | None:
        """Append the run's value unless its eval key has a row; return the row written, or None."""
        row = coalition_row(
            run,
            study_name=self.variants.base.name,
            finetune_steps=task.finetune_steps,
            game_key=task.game_key,
            seed=task.effective_seed,
            machine=self.machine,
            source=source,
        )
        return row if self.log.append(row, skip_known=True) else None

    def _prepare_models(self, task: PlannedTask) -> bool:
        """Load or train `θ*` and `θ̃*` before the first coalition that needs them, outside its timing.

        Returns:
            False when another runner is training the model this task needs.
        """
        if task.method == "retrain" and not (task.seed is None and "0" not in task.coalition):
            return True
        study = self.variants.base
        with self.locks.hold("models", wait=self._model_wait) as held:
            # After one long wait, skip without waiting until the model is ready.
            self._model_wait = MODEL_LOCK_WAIT_S if held else False
            if not held:
                return False
            if task.method == "sft":
                study.pruned_model()
            else:
                study.full_model()
            self._record_stage("train", study.train_digest)
            self._record_stage("prune", study.prune_digest)
        self.pin_models()
        return True

    def _record_stage(self, stage: str, digest: str) -> None:
        """Append the training time of the `train` or `prune` run with this digest, once, if it exists."""
        self.stages.refresh()
        if digest in self.stages:
            return
        run = find_model_run(self.variants.base, stage, digest)
        if run is None:
            return
        finished = run.info.end_time or run.info.start_time
        self.stages.append(
            {
                "study": self.variants.base.name,
                "stage": stage,
                "digest": digest,
                "seconds": run.data.metrics.get("time.train_s"),
                "machine": self.machine,
                "run_id": run.info.run_id,
                "finished_at": datetime.fromtimestamp(finished / 1000, timezone.utc).isoformat(timespec="seconds"),
            },
            skip_known=True,
        )

    def _log_progress(self, phase: str, tasks: Sequence[PlannedTask]) -> None:
        """Log how many of the phase's values are in the CSV, counting other runners' values too."""
        self.log.refresh()
        pending = [task for task in tasks if task.eval_key not in self.log]
        estimate = self.costs.estimate(pending)
        logger.info(
            "Phase %s: %d of %d values in the CSV, %d left%s",
            phase,
            len(tasks) - len(pending),
            len(tasks),
            len(pending),
            "" if estimate is None else f", about {format_duration(estimate)} of work (one runner's time)",
        )


def _total_seconds(row: dict) -> float | None:
    parts = [row.get(column) for column in ("train_s", "sample_s", "property_s")]
    if any(part in (None, "") for part in parts):
        return None
    return sum(float(part) for part in parts)
