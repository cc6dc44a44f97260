"""Move coalition values between `coalitions.csv` and the MLflow run store.

A new session may start with an empty run store. Importing the CSV rows as
FINISHED coalition runs, tagged as the project's own coalition runs are,
lets the usual lookup by `eval_key` find them, so nothing is computed again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

import mlflow

from diffusion_credit import store

__all__ = ["TAG_IMPORTED_FROM", "import_rows", "coalition_row"]

logger = logging.getLogger(__name__)

TAG_IMPORTED_FROM = "credit.imported_from"
"""Tag of a run created from a committed file: a coalition run from a CSV row (the value is
the file name) or a train or prune run from a pinned model (the value is its folder)."""

_TIME_COLUMNS = ("train_s", "sample_s", "property_s")


def import_rows(study_name: str, rows: Iterable[Mapping[str, str]], *, source: str = "coalitions.csv") -> int:
    """Log each row of the study as a FINISHED coalition run unless a run with its eval key exists.

    Args:
        study_name: rows of other studies are skipped.
        rows: `coalitions.csv` rows (all values strings).
        source: the file name recorded in the `credit.imported_from` tag.

    Returns:
        The number of runs created.
    """
    existing = {
        run.data.tags.get(store.TAG_EVAL_KEY)
        for run in store.search_runs({store.TAG_KIND: "coalition", store.TAG_STUDY: study_name})
    }
    created = 0
    for row in rows:
        if row["study"] != study_name or row["eval_key"] in existing:
            continue
        _log_row(row, source)
        existing.add(row["eval_key"])
        created += 1
    if created:
        logger.info("Imported %d coalition values of study %s from %s into the run store.", created, study_name, source)
    return created


def coalition_row(run, *, study_name: str, finetune_steps: int | None, game_key: str, seed: int, machine: str, source: str) -> dict:
    """Return the `coalitions.csv` row of a finished coalition run."""
    tags, metrics = run.data.tags, run.data.metrics
    metric = next(name for name in metrics if name.startswith("property."))
    finished = run.info.end_time or run.info.start_time
    return {
        "study": study_name,
        "coalition": tags[store.TAG_COALITION],
        "method": tags[store.TAG_METHOD],
        "finetune_steps": finetune_steps,
        "settings": tags.get(store.TAG_RECIPE),
        "game_key": game_key,
        "seed": seed,
        "datamodel_alpha": tags.get(store.TAG_DATAMODEL_ALPHA),
        "datamodel_set": tags.get(store.TAG_DATAMODEL_SET),
        "property": metric.removeprefix("property."),
        "value": float(metrics[metric]),
        **{column: metrics.get(f"time.{column}") for column in _TIME_COLUMNS},
        "machine": tags.get("credit.machine", machine),
        "eval_key": tags[store.TAG_EVAL_KEY],
        "run_id": run.info.run_id,
        "source": source,
        "finished_at": datetime.fromtimestamp(finished / 1000, timezone.utc).isoformat(timespec="seconds"),
    }


def _log_row(row: Mapping[str, str], source: str) -> None:
    tags = {
        store.TAG_COALITION: row["coalition"],
        store.TAG_METHOD: row["method"],
        store.TAG_EVAL_KEY: row["eval_key"],
        store.TAG_RECIPE: row["settings"],
        TAG_IMPORTED_FROM: source,
        "credit.machine": row["machine"],
    }
    if row["datamodel_alpha"]:
        tags[store.TAG_DATAMODEL_ALPHA] = row["datamodel_alpha"]
        tags[store.TAG_DATAMODEL_SET] = row["datamodel_set"]
    metrics = {f"property.{row['property']}": float(row["value"])}
    metrics.update({f"time.{column}": float(row[column]) for column in _TIME_COLUMNS if row[column]})
    with store.start_run(row["study"], "coalition", tags=tags, run_name=f"{row['method']}-{row['coalition']}"):
        mlflow.log_params(
            {
                "coalition.bits": row["coalition"],
                "coalition.method": row["method"],
                "coalition.seed": row["seed"],
                "coalition.size": row["coalition"].count("1"),
                "finetune.steps": row["finetune_steps"],
            }
        )
        mlflow.log_metrics(metrics)
