"""The `baselines` entry point's work: compute each baseline for a study and log it as an attribution run.

Every baseline becomes an attribution run under the same contract as the
Shapley estimators (`credit.estimator` names the baseline), so the `lds`
entry point and the MLflow UI compare them side by side. Gradient and
similarity baselines read the full model `θ*` (`credit.method = full`);
leave-one-out reads coalition runs of `baselines.loo_method`.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import mlflow
import numpy as np

from . import reports, store
from .config import BASELINE_METHODS, digest
from .errors import InputError
from .executors import CoalitionTask
from .study import Study

__all__ = ["ALL_BASELINES", "baseline_key", "resolve_methods", "run_baselines"]

logger = logging.getLogger(__name__)

# The similarity names without a `_mean`/`_max` suffix stand for all of them.
MODEL_BASELINES = tuple(name for name in BASELINE_METHODS if not name.endswith(("_mean", "_max")))
ALL_BASELINES = (*MODEL_BASELINES, "loo", "property_mean")


def resolve_methods(methods: str) -> list[str]:
    """Parse the `methods` parameter: `all` or a comma-separated list of baseline names."""
    if methods.strip() == "all":
        return list(ALL_BASELINES)
    names = [name.strip() for name in methods.split(",") if name.strip()]
    known = set(BASELINE_METHODS) | {"loo", "property_mean"}
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise InputError(
            f"Unknown baseline(s) {', '.join(unknown) or repr(methods)}; use 'all' or a comma-separated list of "
            f"{', '.join(sorted(known))}."
        )
    return names


def run_baselines(study: Study, methods: list[str]) -> dict[str, str]:
    """Compute (or reuse) each baseline and return its attribution run id by name."""
    run_ids = {}
    pending = []
    for name in methods:
        found = store.find_finished(_tags(study, name))
        if found is not None:
            logger.info("Reusing %s attribution run %s", name, found.info.run_id)
            run_ids[name] = found.info.run_id
        else:
            pending.append(name)

    gradient_methods = [name for name in pending if name not in ("loo", "property_mean")]
    if gradient_methods:
        run_ids.update(_run_model_baselines(study, gradient_methods))
    if "property_mean" in pending:
        run_ids["property_mean"] = _run_property_mean(study)
    if "loo" in pending:
        run_ids["loo"] = _run_leave_one_out(study)
    return run_ids


def _run_model_baselines(study: Study, methods: list[str]) -> dict[str, str]:
    from .baselines import compute_baselines
    from .sampling import generate, initial_noises, to_uint8

    config = study.config
    model = study.full_model()
    num_generated = config.baselines.num_generated or config.sampling.num_images
    generated = generate(
        model,
        num_generated,
        num_inference_steps=config.sampling.num_inference_steps,
        batch_size=config.sampling.batch_size,
        seed=config.sampling.seed,
        device=study.device,
        progress=study.progress,
    )
    backend = getattr(study.property, "backend", None)
    features = (lambda images: backend.features(to_uint8(images))) if backend is not None else None
    results = compute_baselines(
        methods,
        model=model,
        train_images=study.dataset.images,
        train_labels=study.dataset.labels,
        generated_images=generated,
        config=dataclasses.replace(config.baselines, methods=methods),
        features=features,
        num_contributors=len(study.contributors),
        holdout=_holdout_coalitions(study),
        noises=initial_noises(config.sampling.seed, range(num_generated), model.sample_shape),
        progress=study.progress,
    )
    run_ids = {}
    for name in methods:
        params = {"baselines.ridge_lambda": results.ridge_lambdas.get(name)} if name in results.ridge_lambdas else {}
        run_ids[name] = _log(study, name, results.scores[name], method="full", seconds=results.seconds.get(name), params=params)
    return run_ids


def _run_property_mean(study: Study) -> str:
    from .baselines import mean_property_score
    from .sampling import to_uint8

    started = time.perf_counter()
    per_image = study.property(to_uint8(study.dataset.images)).per_image
    if per_image is None:
        raise InputError(
            f"Property {study.config.property.name!r} has no per-image values, so the property_mean baseline is "
            "undefined for it; drop property_mean from methods."
        )
    scores = mean_property_score(np.asarray(per_image), study.dataset.labels.numpy(), len(study.contributors))
    return _log(study, "property_mean", scores, method="data", seconds=time.perf_counter() - started)


def _run_leave_one_out(study: Study) -> str:
    from .baselines import leave_one_out
    from .pipeline import evaluate_tasks, raise_on_failures
    from .valuation import coalition_to_bits, leave_one_out_coalitions

    method = study.config.baselines.loo_method
    num_contributors = len(study.contributors)
    coalitions = [coalition_to_bits(row) for row in leave_one_out_coalitions(num_contributors)]
    full = "1" * num_contributors
    tasks = [CoalitionTask(bits, method) for bits in [full, *coalitions]]
    logger.info("Leave-one-out by %s: %d coalitions", method, len(tasks))
    outcomes = evaluate_tasks(study, tasks, parent_run_id=mlflow.active_run().info.run_id if mlflow.active_run() else None)
    raise_on_failures(outcomes)

    values = {outcome.task.coalition: outcome.value.value for outcome in outcomes}
    seconds = sum(outcome.value.seconds for outcome in outcomes)
    return _log(study, "loo", leave_one_out(values, num_contributors), method=method, seconds=seconds)


def _holdout_coalitions(study: Study):
    """Retrained coalitions outside every LDS set, for choosing the ridge λ; None when too few."""
    runs = store.search_runs({store.TAG_KIND: "coalition", store.TAG_STUDY: study.name, store.TAG_METHOD: "retrain"})
    empty, full = "0" * len(study.contributors), "1" * len(study.contributors)
    values = {}
    for run in runs:
        bits = run.data.tags[store.TAG_COALITION]
        if store.TAG_DATAMODEL_ALPHA in run.data.tags or bits in (empty, full):
            continue
        metric = store.property_value(run, study.config.property.name)
        if metric is not None:
            values.setdefault(bits, metric)
    if len(values) < 3:
        logger.info("Fewer than 3 held-out retrained coalitions; TRAK uses baselines.ridge_lambda without selection.")
        return None
    from .valuation import bits_to_coalition

    return np.stack([bits_to_coalition(bits) for bits in values]), np.array(list(values.values()))


def baseline_key(study: Study, name: str) -> str:
    """Return the digest of everything that determines a baseline's scores (the run's `credit.digest`)."""
    config = study.config
    return digest("baseline", name, study.train_digest, config.baselines, config.sampling, study.property_settings())


def _tags(study: Study, name: str) -> dict[str, str]:
    return {
        store.TAG_KIND: "attribution",
        store.TAG_STUDY: study.name,
        store.TAG_ESTIMATOR: name,
        store.TAG_DIGEST: baseline_key(study, name),
    }


def _log(study: Study, name: str, scores: np.ndarray, *, method: str, seconds: float | None, params: dict | None = None) -> str:
    tags = {**_tags(study, name), store.TAG_METHOD: method, store.TAG_PROPERTY: study.config.property.name}
    frame = reports.attribution_frame(study.contributors, scores, None)
    with store.start_run(study.name, "attribution", tags=tags, run_name=f"baseline-{name}", nested=True) as run:
        mlflow.log_params({"baselines.method": name, **(params or {})})
        if seconds is not None:
            mlflow.log_metric("time.baseline_s", seconds)
        store.log_json(study.contributors, "contributors.json")
        reports.log_attribution(frame, f"{name} baseline, {study.config.property.name}")
        reports.log_top_contributors(frame, study.dataset)
        return run.info.run_id
