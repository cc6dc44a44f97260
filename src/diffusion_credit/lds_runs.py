"""LDS from the run store: datamodel runs in, `lds.alpha_<α>` metrics out."""

from __future__ import annotations

import json
import logging
from collections import defaultdict

import mlflow
import numpy as np
import pandas as pd

from . import store
from .errors import InputError
from .valuation import bits_to_coalition

__all__ = ["datamodel_sets", "attribution_scores", "log_lds"]

logger = logging.getLogger(__name__)

DatamodelSets = dict[float, list[tuple[np.ndarray, np.ndarray]]]


def datamodel_sets(study: str, property_name: str | None = None) -> DatamodelSets:
    """Return, per α, the datamodel sets as (coalitions bool [m, n], values [m]) in set order.

    Only runs that measured `property_name` count (any property when None). A
    coalition logged twice in one set (a rerun) counts once, newest value first.
    """
    runs = store.search_runs(
        {store.TAG_KIND: "coalition", store.TAG_STUDY: study, store.TAG_METHOD: "retrain"}
    )
    grouped: dict[tuple[float, int], dict[str, float]] = defaultdict(dict)
    for run in runs:  # newest first
        tags = run.data.tags
        if store.TAG_DATAMODEL_ALPHA not in tags:
            continue
        value = store.property_value(run, property_name)
        if value is None:
            continue
        key = (float(tags[store.TAG_DATAMODEL_ALPHA]), int(tags[store.TAG_DATAMODEL_SET]))
        grouped[key].setdefault(tags[store.TAG_COALITION], value)

    sets: DatamodelSets = defaultdict(list)
    for (alpha, _), values in sorted(grouped.items()):
        coalitions = np.stack([bits_to_coalition(bits) for bits in values])
        sets[alpha].append((coalitions, np.array(list(values.values()), dtype=float)))
    return dict(sets)


def attribution_scores(run_id: str) -> tuple[str, str | None, np.ndarray]:
    """Return the study name, the property and the scores of an attribution run, in contributor order.

    The property is None for a run logged without a `credit.property` tag.
    """
    try:
        run = mlflow.get_run(run_id)
    except mlflow.exceptions.MlflowException:
        raise InputError(f"Attribution run {run_id!r} not found in the tracking store {mlflow.get_tracking_uri()}.") from None
    if run.data.tags.get(store.TAG_KIND) != "attribution":
        raise InputError(f"Run {run_id} is a {run.data.tags.get(store.TAG_KIND)!r} run, not an attribution run.")
    with store.downloaded_artifact(run, "attribution.csv") as local:
        frame = pd.read_csv(local)
    with store.downloaded_artifact(run, "contributors.json") as local:
        contributors = json.loads(local.read_text())
    if list(frame["contributor"]) != contributors:
        raise InputError(f"attribution.csv of run {run_id} is not in the study's contributor order.")
    return run.data.tags[store.TAG_STUDY], run.data.tags.get(store.TAG_PROPERTY), frame["score"].to_numpy(dtype=float)


def log_lds(attribution_run_id: str, *, sets: DatamodelSets | None = None, nested: bool = False) -> dict:
    """Compute the LDS of an attribution against the datamodel runs and log it.

    Logs `lds.alpha_<α>` with `lds.alpha_<α>.ci_low` / `.ci_high` on a run of
    its own (`credit.kind = lds`) and on the attribution run.
    """
    from .evaluation import lds_over_sets

    study, property_name, scores = attribution_scores(attribution_run_id)
    sets = datamodel_sets(study, property_name) if sets is None else sets
    if not sets:
        measured = f" that measured {property_name}" if property_name else ""
        raise InputError(
            f"Study {study!r} has no datamodel runs{measured}. Run `mlflow run . -e datamodels` first, "
            "with the config the attribution used."
        )

    metrics, summary = {}, {}
    for alpha, alpha_sets in sorted(sets.items()):
        result = lds_over_sets(scores, alpha_sets)
        name = f"lds.alpha_{alpha:g}"
        metrics.update(_lds_metrics(name, result))
        summary[alpha] = result
        logger.info("%s = %s", name, result)

    with store.start_run(study, "lds", tags={"credit.attribution_run": attribution_run_id}, run_name="lds", nested=nested):
        mlflow.log_metrics(metrics)
    client = mlflow.MlflowClient()
    for key, value in metrics.items():
        client.log_metric(attribution_run_id, key, value)
    return summary


def _lds_metrics(name: str, result) -> dict[str, float]:
    metrics = {}
    for field, suffix in (("mean", ""), ("ci_low", ".ci_low"), ("ci_high", ".ci_high")):
        value = getattr(result, field, None)
        if value is not None and np.isfinite(value):
            metrics[name + suffix] = float(value)
    metrics[name + ".num_sets"] = float(getattr(result, "num_sets", 0))
    metrics[name + ".num_undefined"] = float(getattr(result, "num_undefined", 0))
    return metrics
