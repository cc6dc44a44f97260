"""From coalition runs to credit: plan coalitions, collect their values, solve, log.

The planner draws the coalitions the configured estimator needs (the Shapley
kernel for KernelSHAP, uniform coalitions for Banzhaf, the leave-one-out
coalitions, or all of them for exact values) from the study's seed. The
solver reads the values back from the run store, so an attribution can be
recomputed from the store alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import mlflow
import numpy as np

from . import reports, store
from .errors import InputError
from . import valuation
from .config import ValuationConfig
from .valuation import bits_to_coalition, coalition_to_bits

__all__ = ["plan_coalitions", "boundary_coalitions", "solve", "log_attribution_run", "AttributionInputs"]

logger = logging.getLogger(__name__)


def plan_coalitions(config: ValuationConfig, num_contributors: int) -> list[str]:
    """Return the coalitions (bitstrings, in solving order) the configured estimator needs.

    Raises:
        InputError: when more coalitions are requested than exist besides the empty and the full one.
    """
    nontrivial = 2**num_contributors - 2
    if config.estimator in ("kernelshap", "banzhaf") and num_contributors <= 20 and config.num_coalitions > nontrivial:
        raise InputError(
            f"valuation.num_coalitions={config.num_coalitions} exceeds the {nontrivial} coalitions other than "
            f"the empty and the full one for {num_contributors} contributors; lower it (e.g. -P num_coalitions="
            f"{nontrivial - nontrivial % 2}), or set valuation.estimator: exact to enumerate them all."
        )
    return [coalition_to_bits(row) for row in valuation.plan_coalitions(config, num_contributors)]


def boundary_coalitions(num_contributors: int) -> tuple[str, str]:
    """Return the empty and the full coalition as bitstrings."""
    return "0" * num_contributors, "1" * num_contributors


@dataclass
class AttributionInputs:
    """Coalition values as an estimator reads them."""

    coalitions: list[str]
    values: np.ndarray
    v_empty: float
    v_full: float
    run_ids: list[str]


def solve(inputs: AttributionInputs, config: ValuationConfig):
    """Run the configured estimator on collected coalition values and return a `ValuationResult`.

    Raises:
        InputError: when the coalitions do not determine the values (the message gives how many more are needed).
    """
    matrix = np.stack([bits_to_coalition(bits) for bits in inputs.coalitions])
    try:
        return valuation.estimate(config, matrix, inputs.values, v_empty=inputs.v_empty, v_full=inputs.v_full)
    except ValueError as error:
        raise InputError(f"{config.estimator} failed on {len(inputs.coalitions)} coalitions: {error}") from error


def log_attribution_run(
    study_name: str,
    contributors: Sequence[str],
    result,
    *,
    method: str,
    estimator: str,
    property_name: str,
    inputs: AttributionInputs,
    dataset=None,
    nested: bool = True,
) -> str:
    """Log an attribution run (`attribution.csv`, chart, efficiency check) and return its id."""
    tags = {store.TAG_METHOD: method, store.TAG_ESTIMATOR: estimator, store.TAG_PROPERTY: property_name}
    frame = reports.attribution_frame(contributors, result.values, result.std)
    gap = float(np.sum(result.values) - (inputs.v_full - inputs.v_empty))

    with store.start_run(study_name, "attribution", tags=tags, run_name=f"{estimator}-{method}", nested=nested) as run:
        mlflow.log_params(
            {"valuation.num_coalitions": len(inputs.coalitions), "valuation.estimator": estimator, "valuation.method": method}
        )
        mlflow.log_metrics(
            {
                "v_empty": inputs.v_empty,
                "v_full": inputs.v_full,
                "scores.sum": float(np.sum(result.values)),
                "efficiency.gap": gap,
            }
        )
        if "uncertainty_error" in result.extra:
            mlflow.set_tag("credit.uncertainty_error", result.extra["uncertainty_error"][:4000])
        if "num_bootstrap_used" in result.extra:
            mlflow.log_metric("uncertainty.bootstrap_used", result.extra["num_bootstrap_used"])
        if result.convergence_ratio is not None:
            mlflow.log_metric("convergence.ratio", result.convergence_ratio)
        if result.forecast_num_coalitions is not None:
            mlflow.log_metric("convergence.forecast_coalitions", result.forecast_num_coalitions)
        store.log_json(list(contributors), "contributors.json")
        store.log_json({"coalitions": inputs.coalitions, "values": inputs.values.tolist(), "runs": inputs.run_ids}, "coalition_values.json")
        reports.log_attribution(frame, f"{estimator} credit, {method}, {property_name}")
        if dataset is not None:
            reports.log_top_contributors(frame, dataset)
        logger.info("Efficiency: sum of scores %.6f, v(N) - v(∅) = %.6f (gap %.2e)", np.sum(result.values), inputs.v_full - inputs.v_empty, gap)
        return run.info.run_id


def coalition_values(
    study_name: str,
    method: str,
    recipe: str | None = None,
    *,
    data_digest: str | None = None,
    property_name: str | None = None,
) -> dict[str, tuple[float, str]]:
    """Map coalition bitstring to (value, run id) from the store, newest run first wins.

    Args:
        study_name: the study.
        method: the coalition method, e.g. `sft`.
        recipe: keep only runs of this recipe (`credit.recipe`); None keeps the
            recipe of the newest matching run with a property metric.
        data_digest: keep only runs on this dataset (`credit.data_digest`), so
            a study whose data path was overridden never mixes datasets.
        property_name: keep only runs that measured this property, e.g.
            `cluster_entropy`; None keeps runs of any property.
    """
    tags = {store.TAG_KIND: "coalition", store.TAG_STUDY: study_name, store.TAG_METHOD: method}
    if data_digest is not None:
        tags[store.TAG_DATA_DIGEST] = data_digest
    runs = [run for run in store.search_runs(tags) if store.property_value(run, property_name) is not None]
    if recipe is None and runs:
        recipe = runs[0].data.tags.get(store.TAG_RECIPE)
    values: dict[str, tuple[float, str]] = {}
    for run in runs:  # newest first
        if recipe is not None and run.data.tags.get(store.TAG_RECIPE) != recipe:
            continue
        values.setdefault(run.data.tags[store.TAG_COALITION], (store.property_value(run, property_name), run.info.run_id))
    return values


def gather_inputs(
    study_name: str,
    method: str,
    coalitions: Sequence[str],
    num_contributors: int,
    *,
    recipe: str | None = None,
    data_digest: str | None = None,
    retrain_recipe: str | None = None,
    property_name: str | None = None,
) -> AttributionInputs:
    """Read the values of `coalitions`, `v(∅)` and `v(N)` for `method` from the store.

    `v(∅)` and `v(N)` come from the method's own runs when they exist, else
    from the `retrain` runs (the untrained model and `θ*`) of `retrain_recipe`
    (by default the newest on the same dataset).

    Raises:
        InputError: when a coalition, `v(∅)` or `v(N)` has no finished run.
    """
    values = coalition_values(study_name, method, recipe, data_digest=data_digest, property_name=property_name)
    retrained = (
        coalition_values(study_name, "retrain", retrain_recipe, data_digest=data_digest, property_name=property_name)
        if method != "retrain"
        else values
    )
    empty, full = boundary_coalitions(num_contributors)

    missing = [bits for bits in coalitions if bits not in values]
    if missing:
        raise InputError(
            f"{len(missing)} of {len(coalitions)} coalitions have no finished {method} run in study {study_name!r}, "
            f"e.g. {missing[0]}. Evaluate them with `mlflow run . -e coalition -P coalition=<bits> -P method={method}` "
            "or run the `attribute` entry point."
        )
    boundary = {}
    for bits, label in ((empty, "v(∅)"), (full, "v(N)")):
        found = values.get(bits) or retrained.get(bits)
        if found is None:
            raise InputError(
                f"No finished coalition run for {label} (coalition {bits}) in study {study_name!r}. "
                f"Evaluate it with `mlflow run . -e coalition -P coalition={bits} -P method=retrain`."
            )
        boundary[bits] = found[0]

    return AttributionInputs(
        coalitions=list(coalitions),
        values=np.array([values[bits][0] for bits in coalitions], dtype=float),
        v_empty=boundary[empty],
        v_full=boundary[full],
        run_ids=[values[bits][1] for bits in coalitions],
    )


def coalition_seconds(run_ids: Sequence[str]) -> float:
    """Return the measured compute of coalition runs: train + sample + property seconds, each run once.

    A coalition sampled twice is computed once, so it counts once.
    """
    client = mlflow.MlflowClient()
    total = 0.0
    for run_id in dict.fromkeys(run_ids):
        metrics = client.get_run(run_id).data.metrics
        total += sum(metrics.get(f"time.{phase}_s", 0.0) for phase in ("train", "sample", "property"))
    return total

