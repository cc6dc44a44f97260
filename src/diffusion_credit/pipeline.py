"""The `attribute` flow: dataset → θ* → θ̃* → coalitions → credit → LDS.

Each step reuses finished runs, so a rerun after a kill redoes only what had
not finished. All runs are nested under one parent `attribute` run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import mlflow
from tqdm.auto import tqdm

from . import attribution, stages, store
from .coalitions import check_method, eval_key, find_coalition_run, recipe_key
from .executors import CoalitionTask, TaskOutcome, make_executor
from .study import Study

__all__ = ["AttributeOutcome", "run_attribute", "evaluate_tasks", "CoalitionProgress"]

logger = logging.getLogger(__name__)


class CoalitionProgress:
    """Counts coalitions done, reused, failed and left, with an ETA from the computed ones."""

    def __init__(self, total: int, *, progress: bool = True):
        self.total = total
        self.computed = 0
        self.reused = 0
        self.failed = 0
        self.seconds = 0.0
        self.bar = tqdm(total=total, desc="coalitions", unit="coalition", disable=not progress)

    @property
    def left(self) -> int:
        return self.total - self.computed - self.reused - self.failed

    def eta_seconds(self) -> float | None:
        return self.seconds / self.computed * self.left if self.computed else None

    def update(self, outcome: TaskOutcome) -> None:
        if not outcome.ok:
            self.failed += 1
        elif outcome.value.reused:
            self.reused += 1
        else:
            self.computed += 1
            self.seconds += outcome.value.seconds
        eta = self.eta_seconds()
        self.bar.set_postfix(reused=self.reused, failed=self.failed, refresh=False)
        self.bar.update(1)
        if outcome.ok and outcome.value.reused:
            return
        logger.info(
            "Coalitions: %d computed, %d reused, %d failed, %d left%s",
            self.computed,
            self.reused,
            self.failed,
            self.left,
            f", about {eta / 60:.1f} min to go" if eta is not None else "",
        )

    def close(self) -> None:
        self.bar.close()


def evaluate_tasks(study: Study, tasks: Sequence[CoalitionTask], *, parent_run_id: str | None) -> list[TaskOutcome]:
    """Evaluate tasks, looking up finished runs first so only missing ones reach the executor."""
    progress = CoalitionProgress(len(tasks), progress=study.progress)
    pending, outcomes = [], {}
    for index, task in enumerate(tasks):
        found = find_coalition_run(study, eval_key(study, task.coalition, task.method, task.seed), task.tags)
        if found is None:
            pending.append(index)
            continue
        from .coalitions import CoalitionValue, property_metric

        value = CoalitionValue(task.coalition, task.method, found.data.metrics[property_metric(study)], found.info.run_id, True, 0.0)
        outcomes[index] = TaskOutcome(task, value)
        progress.update(outcomes[index])

    logger.info("%d of %d coalitions reused from the store; evaluating %d", len(outcomes), len(tasks), len(pending))
    results = make_executor(study).run([tasks[i] for i in pending], parent_run_id=parent_run_id, on_result=progress.update)
    outcomes.update(zip(pending, results))
    progress.close()
    return [outcomes[index] for index in range(len(tasks))]


@dataclass(frozen=True)
class AttributeOutcome:
    """The attribution run, estimate, inputs, compute and LDS of one `attribute` flow."""

    attribution_run_id: str
    result: object
    inputs: attribution.AttributionInputs
    coalition_seconds: float
    lds: dict


def run_attribute(study: Study, *, nested: bool = False) -> AttributeOutcome:
    """Run the whole flow under one parent run (nested under the active run if asked)."""
    config = study.config
    valuation = config.valuation
    check_method(valuation.method)
    num_contributors = len(study.contributors)
    planned = attribution.plan_coalitions(valuation, num_contributors)
    empty, full = attribution.boundary_coalitions(num_contributors)

    with store.start_run(study.name, "attribute", run_name="attribute", nested=nested) as parent:
        parent_id = parent.info.run_id
        mlflow.log_params(
            {
                "study.config": config.source or "",
                "data.path": config.data.path,
                "valuation.method": valuation.method,
                "valuation.estimator": valuation.estimator,
                "valuation.num_coalitions": len(planned),
                "finetune.steps": config.finetune.steps,
                "pruning.ratio": config.pruning.ratio,
            }
        )
        store.log_json(study.contributors, "contributors.json")
        store.log_json(config.to_dict(), "config.json")

        with _stage("dataset"):
            stages.log_dataset(study)
        with _stage("full model"):
            study.full_model()
        if valuation.method == "sft":
            with _stage("pruned model"):
                study.pruned_model()
        with _stage("property"):
            study.property

        tasks = [CoalitionTask(empty, "retrain"), CoalitionTask(full, "retrain")]
        if valuation.method != "retrain":
            tasks.append(CoalitionTask(full, valuation.method))
        tasks += [CoalitionTask(bits, valuation.method) for bits in dict.fromkeys(planned)]
        with _stage("coalitions"):
            outcomes = evaluate_tasks(study, tasks, parent_run_id=parent_id)
        raise_on_failures(outcomes)

        with _stage("attribution"):
            inputs = attribution.gather_inputs(
                study.name,
                valuation.method,
                planned,
                num_contributors,
                recipe=recipe_key(study, valuation.method),
                data_digest=study.dataset.digest,
                retrain_recipe=recipe_key(study, "retrain"),
                property_name=study.config.property.name,
            )
            result = attribution.solve(inputs, valuation)
            run_id = attribution.log_attribution_run(
                study.name,
                study.contributors,
                result,
                method=valuation.method,
                estimator=valuation.estimator,
                property_name=config.property.name,
                inputs=inputs,
                dataset=study.dataset,
            )
        mlflow.set_tag("credit.attribution_run", run_id)
        seconds = attribution.coalition_seconds(inputs.run_ids)
        mlflow.log_metrics(
            {
                "efficiency.gap": float(result.values.sum() - (inputs.v_full - inputs.v_empty)),
                "cost.coalition_seconds": seconds,
            }
        )

        with _stage("lds"):
            lds = _log_lds_if_possible(study, run_id)
        return AttributeOutcome(run_id, result, inputs, seconds, lds)


def _log_lds_if_possible(study: Study, attribution_run_id: str) -> dict:
    from .datamodels import planned_datamodel_sets
    from .lds_runs import log_lds

    sets = planned_datamodel_sets(study)
    if not sets:
        logger.info(
            "No datamodel runs that measured %s for study %s. Run the `datamodels` entry point with this config to get the LDS.",
            study.config.property.name,
            study.name,
        )
        return {}
    return log_lds(attribution_run_id, sets=sets, nested=True)


def raise_on_failures(outcomes: Sequence[TaskOutcome]) -> None:
    failed = [outcome for outcome in outcomes if not outcome.ok]
    if failed:
        listing = "; ".join(f"{outcome.task.coalition} ({outcome.task.method}): {outcome.error}" for outcome in failed[:5])
        raise RuntimeError(
            f"{len(failed)} coalition evaluations failed and the others were kept: {listing}. "
            "Fix the cause and rerun; finished coalitions are reused."
        )


class _stage:
    """Log the start and the wall time of one step of the flow."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        logger.info("Stage %s: started", self.name)
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc_info):
        seconds = time.perf_counter() - self.started
        if mlflow.active_run() is not None:
            mlflow.log_metric(f"time.stage.{self.name.replace(' ', '_')}_s", seconds)
        logger.info("Stage %s: %s in %.1f s", self.name, "failed" if exc_info[0] else "done", seconds)
        return False
