"""Solve an estimator from the run store alone (the `shapley` entry point).

Unlike the `attribute` flow, which solves its own planned sample, this reads
every distinct coalition of one recipe. The distinct coalitions are not a
sample from the Shapley kernel any more, so KernelSHAP weights them by the
kernel; it then equals exact enumeration once every coalition is present.
"""

from __future__ import annotations

import dataclasses
import logging

import mlflow
import numpy as np

from . import store
from .attribution import AttributionInputs, boundary_coalitions, coalition_values, gather_inputs, log_attribution_run
from .config import StudyConfig, ValuationConfig
from .errors import InputError
from .valuation import ESTIMATORS, bits_to_coalition, estimate, kernel_shap

__all__ = ["solve_from_store"]

logger = logging.getLogger(__name__)


def solve_from_store(study: str, method: str, property_name: str, estimator: str, *, config: StudyConfig | None = None) -> str:
    """Solve `estimator` over the study's coalition runs of `method` and log an attribution run."""
    if estimator not in ESTIMATORS:
        raise InputError(f"Unknown estimator {estimator!r}; use one of {', '.join(ESTIMATORS)}.")
    contributors = _contributors(study)
    recipe = _recipe(config, method) if config is not None else None
    values = coalition_values(study, method, recipe)
    empty, full = boundary_coalitions(len(contributors))
    coalitions = sorted(bits for bits in values if bits not in (empty, full))
    if not coalitions:
        raise InputError(
            f"No finished {method} coalition runs for study {study!r}. Run `mlflow run . -e attribute` or "
            f"`mlflow run . -e coalition` first."
        )
    inputs = gather_inputs(study, method, coalitions, len(contributors), recipe=recipe)
    valuation = dataclasses.replace(config.valuation if config else ValuationConfig(), estimator=estimator, paired=False)
    result = _estimate(valuation, inputs)
    logger.info("%s over %d coalitions of %d contributors", estimator, len(coalitions), len(contributors))
    return log_attribution_run(
        study, contributors, result, method=method, estimator=estimator, property_name=property_name, inputs=inputs, nested=False
    )


def _estimate(valuation: ValuationConfig, inputs: AttributionInputs):
    matrix = np.stack([bits_to_coalition(bits) for bits in inputs.coalitions])
    if valuation.estimator == "kernelshap":
        return kernel_shap(
            matrix, inputs.values, inputs.v_empty, inputs.v_full, weights="kernel", num_batches=valuation.num_batches
        )
    return estimate(valuation, matrix, inputs.values, v_empty=inputs.v_empty, v_full=inputs.v_full)


def _contributors(study: str) -> list[str]:
    found = store.find_finished({store.TAG_KIND: "dataset", store.TAG_STUDY: study})
    if found is None:
        raise InputError(f"No finished dataset run for study {study!r}; run `mlflow run . -e dataset` for it first.")
    return mlflow.artifacts.load_dict(f"{found.info.artifact_uri}/contributors.json")


def _recipe(config: StudyConfig, method: str) -> str:
    from .coalitions import recipe_key
    from .study import Study

    return recipe_key(Study(config, progress=False), method)
