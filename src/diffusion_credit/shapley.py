"""Solve an estimator from the run store alone (the `shapley` entry point).

Unlike the `attribute` flow, which solves its own planned sample, this reads
every distinct coalition of one recipe. The distinct coalitions are not a
sample from the Shapley kernel any more, so KernelSHAP weights them by the
kernel; it then equals exact enumeration once every coalition is present.
"""

from __future__ import annotations

import dataclasses
import json
import logging

import numpy as np

from . import store
from .attribution import AttributionInputs, boundary_coalitions, coalition_values, gather_inputs, log_attribution_run
from .coalitions import check_method
from .config import PROPERTY_NAMES, StudyConfig, ValuationConfig
from .errors import InputError
from .valuation import ESTIMATORS, bits_to_coalition, estimate, kernel_shap

__all__ = ["solve_from_store"]

logger = logging.getLogger(__name__)


def solve_from_store(study: str, method: str, property_name: str, estimator: str, *, config: StudyConfig | None = None) -> str:
    """Solve `estimator` over the study's coalition runs of `method` and log an attribution run.

    The game is one recipe on one dataset, measured by `property_name`: the
    config's recipe and dataset when given, else those of the newest
    coalition run of `method` that measured the property.
    """
    _check_request(method, property_name, estimator, config)
    recipe, data_digest, retrain_recipe = _game(study, method, property_name, config)
    contributors = _contributors(study, data_digest)
    values = coalition_values(study, method, recipe, data_digest=data_digest, property_name=property_name)
    empty, full = boundary_coalitions(len(contributors))
    coalitions = sorted(bits for bits in values if bits not in (empty, full))
    if not coalitions:
        producers = (
            "`mlflow run . -e datamodels` or `mlflow run . -e coalition -P method=retrain`"
            if method == "retrain"
            else f"`mlflow run . -e attribute` or `mlflow run . -e coalition -P method={method}`"
        )
        raise InputError(
            f"No finished {method} coalition runs that measured {property_name} for study {study!r}. "
            f"Run {producers} first, with a config whose property.name is {property_name}."
        )
    inputs = gather_inputs(
        study,
        method,
        coalitions,
        len(contributors),
        recipe=recipe,
        data_digest=data_digest,
        retrain_recipe=retrain_recipe,
        property_name=property_name,
    )
    valuation = dataclasses.replace(config.valuation if config else ValuationConfig(), estimator=estimator, paired=False)
    result = _estimate(valuation, inputs)
    if result.std is None and estimator == "kernelshap" and valuation.uncertainty == "batches":
        _explain_missing_std(valuation, config)
    logger.info("%s over %d coalitions of %d contributors", estimator, len(coalitions), len(contributors))
    return log_attribution_run(
        study, contributors, result, method=method, estimator=estimator, property_name=property_name, inputs=inputs, nested=False
    )


def _estimate(valuation: ValuationConfig, inputs: AttributionInputs):
    matrix = np.stack([bits_to_coalition(bits) for bits in inputs.coalitions])
    try:
        if valuation.estimator == "kernelshap":
            return kernel_shap(
                matrix, inputs.values, inputs.v_empty, inputs.v_full, weights="kernel", num_batches=valuation.num_batches
            )
        return estimate(valuation, matrix, inputs.values, v_empty=inputs.v_empty, v_full=inputs.v_full)
    except ValueError as error:
        raise InputError(f"{valuation.estimator} failed on {len(inputs.coalitions)} coalitions: {error}") from error


def _explain_missing_std(valuation: ValuationConfig, config: StudyConfig | None) -> None:
    """Log how to get the batch std that KernelSHAP left out (too few coalitions per batch)."""
    if config is None:
        logger.warning(
            "No std for the KernelSHAP values: %d batches (the default valuation.num_batches) are too many for these "
            "coalitions. Pass -P config=<the study's config> to use its valuation.num_batches, or add coalitions.",
            valuation.num_batches,
        )
        return
    logger.warning(
        "No std for the KernelSHAP values: valuation.num_batches=%d in %s is too many for these coalitions. "
        "Lower it, or add coalitions.",
        valuation.num_batches,
        config.source or "the config",
    )


def _check_request(method: str, property_name: str, estimator: str, config: StudyConfig | None) -> None:
    """Raise `InputError` for an unknown method, property or estimator, or a property other than the config's."""
    check_method(method)
    if property_name not in PROPERTY_NAMES:
        raise InputError(f"Unknown property {property_name!r}; use one of {', '.join(PROPERTY_NAMES)}.")
    if estimator not in ESTIMATORS:
        raise InputError(f"Unknown estimator {estimator!r}; use one of {', '.join(ESTIMATORS)}.")
    if config is not None and config.property.name != property_name:
        raise InputError(
            f"property={property_name} differs from property.name={config.property.name} in {config.source or 'the config'}. "
            "Pass the config's property, or a config that measures the one you want."
        )


def _game(study: str, method: str, property_name: str, config: StudyConfig | None) -> tuple[str | None, str | None, str | None]:
    """Return the recipe, data digest and retrain recipe that define the game to solve."""
    if config is not None:
        from .coalitions import recipe_key
        from .study import Study

        loaded = Study(config, progress=False)
        return recipe_key(loaded, method), loaded.dataset.digest, recipe_key(loaded, "retrain")

    runs = store.search_runs({store.TAG_KIND: "coalition", store.TAG_STUDY: study, store.TAG_METHOD: method})
    newest = [run for run in runs if store.property_value(run, property_name) is not None]
    if not newest:
        return None, None, None
    tags = newest[0].data.tags
    return tags.get(store.TAG_RECIPE), tags.get(store.TAG_DATA_DIGEST), None


def _contributors(study: str, data_digest: str | None) -> list[str]:
    tags = {store.TAG_KIND: "dataset", store.TAG_STUDY: study}
    if data_digest is not None:
        tags[store.TAG_DIGEST] = data_digest
    found = store.find_finished(tags)
    if found is None:
        raise InputError(f"No finished dataset run for study {study!r}; run `mlflow run . -e dataset` for it first.")
    with store.downloaded_artifact(found, "contributors.json") as local:
        return json.loads(local.read_text())
