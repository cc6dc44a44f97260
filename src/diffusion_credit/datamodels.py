"""Datamodel coalitions: the held-out, retrained-from-scratch ground truth of the LDS."""

from __future__ import annotations

import logging
from collections import defaultdict

import mlflow
import numpy as np

from . import store
from .errors import InputError
from .executors import CoalitionTask
from .study import Study
from .valuation import bits_to_coalition, coalition_to_bits, sample_datamodel_sets

DatamodelSets = dict[float, list[tuple[np.ndarray, np.ndarray]]]

__all__ = ["plan_datamodels", "run_datamodels", "planned_datamodel_sets"]

logger = logging.getLogger(__name__)


def plan_datamodels(study: Study) -> list[CoalitionTask]:
    """Return one `retrain` task per planned datamodel coalition, tagged with its α and set."""
    lds = study.config.lds
    num_contributors = len(study.contributors)
    tasks = []
    for alpha_index, alpha in enumerate(lds.alphas):
        try:
            sets = sample_datamodel_sets(
                num_contributors, alpha, lds.num_sets, lds.coalitions_per_set, seed=lds.seed + alpha_index, distinct=True
            )
        except ValueError as error:
            raise InputError(f"lds with alpha={alpha:g} and {num_contributors} contributors: {error}") from None
        for set_index, coalitions in enumerate(sets):
            tags = {store.TAG_DATAMODEL_ALPHA: f"{alpha:g}", store.TAG_DATAMODEL_SET: str(set_index)}
            for bits in map(coalition_to_bits, coalitions):
                tasks.append(CoalitionTask(bits, "retrain", tags=tags))
    return tasks


def run_datamodels(study: Study, *, nested: bool = False) -> DatamodelSets:
    """Evaluate (or reuse) every planned datamodel coalition under one parent run and return the sets."""
    from .pipeline import evaluate_tasks, raise_on_failures

    tasks = plan_datamodels(study)
    logger.info("Datamodels: %d retrained coalitions planned for alphas %s", len(tasks), study.config.lds.alphas)
    with store.start_run(study.name, "datamodels", run_name="datamodels", nested=nested) as parent:
        lds = study.config.lds
        mlflow.log_params({"lds.alphas": lds.alphas, "lds.num_sets": lds.num_sets, "lds.coalitions_per_set": lds.coalitions_per_set})
        study.property
        outcomes = evaluate_tasks(study, tasks, parent_run_id=parent.info.run_id)
        raise_on_failures(outcomes)
    return _group(tasks, [outcome.value.value for outcome in outcomes])


def planned_datamodel_sets(study: Study) -> DatamodelSets:
    """Return the planned datamodel sets whose coalitions all have finished runs, without computing any.

    Values are found by eval key, so runs from another `lds` plan (seed,
    sizes) never mix in. A set with a missing coalition is left out.
    """
    from .coalitions import eval_key, find_coalition_run, property_metric

    tasks = plan_datamodels(study)
    metric = property_metric(study)
    values = []
    for task in tasks:
        found = find_coalition_run(study, eval_key(study, task.coalition, task.method))
        values.append(found.data.metrics.get(metric) if found is not None else None)
    return _group(tasks, values)


def _group(tasks: list[CoalitionTask], values: list[float | None]) -> DatamodelSets:
    grouped: dict[tuple[float, int], dict[str, float | None]] = defaultdict(dict)
    for task, value in zip(tasks, values):
        key = (float(task.tags[store.TAG_DATAMODEL_ALPHA]), int(task.tags[store.TAG_DATAMODEL_SET]))
        grouped[key][task.coalition] = value

    sets: DatamodelSets = defaultdict(list)
    for (alpha, set_index), members in sorted(grouped.items()):
        present = sum(value is not None for value in members.values())
        if present < len(members):
            # A set with no run at all is not news: the caller says when no set has any.
            log = logger.info if present else logger.debug
            log("Datamodel set %d at alpha %g has %d of %d coalitions; it is left out of the LDS", set_index, alpha, present, len(members))
            continue
        coalitions = np.stack([bits_to_coalition(bits) for bits in members])
        sets[alpha].append((coalitions, np.array(list(members.values()), dtype=float)))
    return dict(sets)
