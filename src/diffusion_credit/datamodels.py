"""Datamodel coalitions: the held-out, retrained-from-scratch ground truth of the LDS."""

from __future__ import annotations

import logging

import mlflow

from . import store
from .executors import CoalitionTask
from .study import Study
from .valuation import coalition_to_bits, sample_datamodel_sets

__all__ = ["plan_datamodels", "run_datamodels"]

logger = logging.getLogger(__name__)


def plan_datamodels(study: Study) -> list[CoalitionTask]:
    """Return one `retrain` task per planned datamodel coalition, tagged with its α and set."""
    lds = study.config.lds
    num_contributors = len(study.contributors)
    tasks = []
    for alpha_index, alpha in enumerate(lds.alphas):
        sets = sample_datamodel_sets(
            num_contributors, alpha, lds.num_sets, lds.coalitions_per_set, seed=lds.seed + alpha_index
        )
        for set_index, coalitions in enumerate(sets):
            tags = {store.TAG_DATAMODEL_ALPHA: str(alpha), store.TAG_DATAMODEL_SET: str(set_index)}
            for bits in dict.fromkeys(coalition_to_bits(row) for row in coalitions):
                tasks.append(CoalitionTask(bits, "retrain", tags=tags))
    return tasks


def run_datamodels(study: Study) -> None:
    """Evaluate (or reuse) every planned datamodel coalition under one parent run."""
    from .pipeline import evaluate_tasks, raise_on_failures

    tasks = plan_datamodels(study)
    logger.info("Datamodels: %d retrained coalitions planned for alphas %s", len(tasks), study.config.lds.alphas)
    with store.start_run(study.name, "datamodels", run_name="datamodels") as parent:
        lds = study.config.lds
        mlflow.log_params({"lds.alphas": lds.alphas, "lds.num_sets": lds.num_sets, "lds.coalitions_per_set": lds.coalitions_per_set})
        study.property
        outcomes = evaluate_tasks(study, tasks, parent_run_id=parent.info.run_id)
        raise_on_failures(outcomes)
