"""The `baselines` phase: compute each baseline attribution run and export its scores to `baselines.csv`."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import mlflow
import pandas as pd
from benchmark_runner import MODEL_LOCK_WAIT_S, BenchmarkRunner
from coalition_log import CsvLog

from diffusion_credit import baseline_runs, store
from diffusion_credit.study import Study

__all__ = ["DEFAULT_BASELINES", "run_baseline_phase"]

logger = logging.getLogger(__name__)

DEFAULT_BASELINES = tuple(name for name in baseline_runs.ALL_BASELINES if name != "loo")
"""Every baseline but `loo`, which the `loo` phase evaluates with each semivalue method."""


def run_baseline_phase(study: Study, names: Sequence[str], log: CsvLog, runner: BenchmarkRunner, *, machine: str) -> list[str]:
    """Compute (or reuse) each baseline and append its scores to `baselines.csv`.

    A baseline whose digest already has a full set of rows in the CSV is
    skipped. The pending baselines first run together, so the TRAK family
    shares its gradient features. If that fails, each runs alone, and one
    failing baseline is logged while the others still run.

    Returns:
        The names of the baselines that failed.
    """
    with runner.locks.hold("baselines", wait=False) as claimed:
        if not claimed:
            logger.info("Baselines: another runner is computing them; skipped")
            return []
        with runner.locks.hold("models", wait=MODEL_LOCK_WAIT_S) as held:
            if not held:
                logger.info("Baselines: another runner is training θ*; skipped")
                return []
            study.full_model()
        return _run_pending(study, names, log, runner, machine=machine)


def _run_pending(study: Study, names: Sequence[str], log: CsvLog, runner: BenchmarkRunner, *, machine: str) -> list[str]:
    log.refresh()
    digests = {name: baseline_runs.baseline_key(study, name) for name in names}
    pending = [name for name in names if log.count(digests[name]) != len(study.contributors)]
    for name in set(names) - set(pending):
        logger.info("Baseline %s: scores already in %s", name, log.path.name)
    if not pending:
        return []

    runner.check_deadline(f"the baselines {', '.join(pending)}")
    logger.info("Baselines %s: started", ", ".join(pending))
    try:
        run_ids = baseline_runs.run_baselines(study, pending)
        for name in pending:
            _export(study, name, digests[name], run_ids[name], log, machine)
        return []
    except Exception as error:
        logger.exception("Baselines %s failed together (%s); running them one at a time.", ", ".join(pending), error)

    failed = []
    for name in pending:
        if log.count(digests[name]) == len(study.contributors):
            continue
        runner.check_deadline(f"baseline {name}")
        try:
            run_id = baseline_runs.run_baselines(study, [name])[name]
            _export(study, name, digests[name], run_id, log, machine)
        except Exception as error:
            logger.exception("Baseline %s failed: %s", name, error)
            failed.append(name)
    return failed


def _export(study: Study, name: str, digest: str, run_id: str, log: CsvLog, machine: str) -> None:
    run = mlflow.get_run(run_id)
    with store.downloaded_artifact(run, "attribution.csv") as local:
        frame = pd.read_csv(local)
    if list(frame["contributor"]) != list(study.contributors):
        raise ValueError(
            f"Baseline run {run_id} lists contributors {list(frame['contributor'])[:3]}... in another order than "
            f"the study ({study.contributors[:3]}...); delete the run and rerun the baselines phase."
        )
    finished = pd.Timestamp(run.info.end_time or run.info.start_time, unit="ms", tz="UTC").isoformat(timespec="seconds")
    log.extend(
        [
            {
                "study": study.name,
                "baseline": name,
                "contributor_index": index,
                "contributor": row["contributor"],
                "score": float(row["score"]),
                "seconds": run.data.metrics.get("time.baseline_s"),
                "digest": digest,
                "run_id": run_id,
                "machine": machine,
                "finished_at": finished,
            }
            for index, row in frame.iterrows()
        ]
    )
    logger.info("Baseline %s: %d scores written to %s", name, len(frame), log.path.name)
