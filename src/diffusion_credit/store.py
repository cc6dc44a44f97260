"""The run store: MLflow runs tagged by the project's contract.

Every run carries `credit.kind` and `credit.study`; runs are found by tags,
never by experiment, because `mlflow run` may place an entry point's run in
any experiment. Queries page through every result and, unless asked
otherwise, return FINISHED runs only, so a run that was killed or failed
halfway is never reused.

Every run also records the process that runs it (`credit.process`: host,
boot id and pid). A process killed halfway leaves its run RUNNING; the next
entry point of the study on the same host marks such runs KILLED
(`close_abandoned_runs`), so the MLflow UI does not show them as in progress.

Runs that the project creates on its own go to the experiment named after
the study. A run nested under a parent goes to the parent's experiment, so
the MLflow UI shows it under that parent.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import mlflow
import sqlalchemy.exc
from mlflow.entities import Experiment, Run, ViewType
from mlflow.tracking import MlflowClient

from .errors import InputError

__all__ = [
    "TAG_KIND",
    "TAG_STUDY",
    "TAG_DIGEST",
    "TAG_EVAL_KEY",
    "TAG_COALITION",
    "TAG_METHOD",
    "KINDS",
    "configure",
    "with_postgres_driver",
    "redact",
    "retry_schema_race",
    "search_runs",
    "find_finished",
    "property_value",
    "start_run",
    "close_abandoned_runs",
    "log_json",
    "download_artifact",
]

logger = logging.getLogger(__name__)

TAG_KIND = "credit.kind"
TAG_STUDY = "credit.study"
TAG_DIGEST = "credit.digest"
TAG_EVAL_KEY = "credit.eval_key"
TAG_COALITION = "credit.coalition"
TAG_METHOD = "credit.method"
TAG_RECIPE = "credit.recipe"
TAG_DATA_DIGEST = "credit.data_digest"
TAG_ESTIMATOR = "credit.estimator"
TAG_PROPERTY = "credit.property"
TAG_DATAMODEL_ALPHA = "credit.datamodel_alpha"
TAG_DATAMODEL_SET = "credit.datamodel_set"
TAG_PROCESS = "credit.process"
TAG_WEIGHTS_SHA256 = "credit.weights_sha256"

KINDS = ("dataset", "train", "prune", "classifier", "coalition", "datamodels", "attribution", "lds", "attribute", "sweep")

_PAGE_SIZE = 1000

SCHEMA_ATTEMPTS = 5
"""Attempts to open a database store while other processes create its schema; each retry waits a second longer."""

_DATABASE_SCHEMES = ("postgresql", "mysql", "mssql")

_T = TypeVar("_T")


_UNSET = object()
_user_tracking_uri: object = _UNSET


def configure(uri: str | None = None) -> str:
    """Point MLflow at the run store and return its URI.

    A `MLFLOW_TRACKING_URI` that the user set wins over `uri`, so `mlflow run`
    and a shared tracking server keep working without editing the config.
    MLflow exports the variable itself on `set_tracking_uri`, so only its
    value before the first call counts as the user's.
    """
    global _user_tracking_uri
    if _user_tracking_uri is _UNSET:
        _user_tracking_uri = os.environ.get("MLFLOW_TRACKING_URI")
    resolved = with_postgres_driver(_user_tracking_uri or uri or "sqlite:///mlflow.db")
    mlflow.set_tracking_uri(resolved)
    _create_schema(resolved)
    return resolved


def with_postgres_driver(url: str) -> str:
    """Return a driverless `postgresql://` URL with a driver that is installed, and any other URL unchanged.

    SQLAlchemy 2.1 maps `postgresql://` to psycopg 3, and 2.0 to psycopg2.
    With only psycopg2 installed, the URL names it. With neither installed,
    raise `InputError` that names the extra to install.
    """
    if not url.startswith("postgresql://") or importlib.util.find_spec("psycopg") is not None:
        return url
    if importlib.util.find_spec("psycopg2") is None:
        raise InputError(
            f"{redact(url)} is a PostgreSQL URL, but no PostgreSQL driver is installed. "
            "Install one with `pip install -e '.[postgres]'`."
        )
    return "postgresql+psycopg2://" + url.removeprefix("postgresql://")


def redact(url: str) -> str:
    """Return the URL with any password replaced by `***`."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def retry_schema_race(open_store: Callable[[], _T], name: str) -> _T:
    """Call `open_store`, retrying while another process creates the same database schema.

    Processes that start together on a new PostgreSQL database all run the
    schema creation, and all but one fail with a duplicate-object error
    (`IntegrityError` or `ProgrammingError`). A retry finds the finished
    schema. A refused connection is an `OperationalError` and fails at once.
    NOTE: tested on PostgreSQL 15 only. MySQL does not roll back DDL, so a
    collision there may leave a partial schema that a retry cannot mend.
    """
    for attempt in range(1, SCHEMA_ATTEMPTS):
        try:
            return open_store()
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as error:
            logger.info("%s: schema creation collided with another process (%s); retrying.", name, type(error).__name__)
            time.sleep(attempt)
    return open_store()


def _create_schema(uri: str) -> None:
    """Open a sqlite or database store once, so that its schema exists before any run is logged.

    MLflow creates and migrates a store's tables on first use. Two processes
    that start together on a new store (two benchmark runners, two sweep
    workers) both run the migration. On sqlite one fails with "table
    _alembic_tmp_metrics already exists", so a file lock beside the store
    makes the second wait. On PostgreSQL or MySQL the loser retries. A
    tracking server (`http://`) migrates its own store.
    """
    scheme = uri.split(":", 1)[0].split("+", 1)[0]
    if scheme in _DATABASE_SCHEMES:
        retry_schema_race(lambda: MlflowClient(uri).search_experiments(max_results=1), "MLflow store")
        return
    if not uri.startswith("sqlite:///"):
        return
    import fcntl

    database = Path(uri.removeprefix("sqlite:///"))
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        MlflowClient(uri).search_experiments(max_results=1)


def search_runs(
    tags: Mapping[str, str],
    *,
    statuses: tuple[str, ...] = ("FINISHED",),
    client: MlflowClient | None = None,
) -> list[Run]:
    """Return every run whose tags equal `tags`, across all experiments.

    Args:
        tags: tag name to exact value, e.g. `{TAG_KIND: "coalition", TAG_STUDY: "cifar10-mini"}`.
        statuses: run statuses to keep; FINISHED by default. Pass `()` for all.
        client: an MLflow client; a new one on the current tracking URI by default.

    Returns:
        The runs, newest first, however many there are (the search is paged).
    """
    client = client or MlflowClient()
    experiment_ids = _all_experiment_ids(client)
    if not experiment_ids:
        return []

    clauses = [f"tags.`{name}` = '{_quote(value)}'" for name, value in tags.items()]
    if len(statuses) == 1:
        clauses.append(f"attributes.status = '{statuses[0]}'")
    filter_string = " AND ".join(clauses)

    runs: list[Run] = []
    page_token = None
    while True:
        page = client.search_runs(
            experiment_ids,
            filter_string=filter_string,
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=_PAGE_SIZE,
            order_by=["attributes.start_time DESC"],
            page_token=page_token,
        )
        runs.extend(page)
        page_token = page.token
        if not page_token:
            break

    if statuses:
        runs = [run for run in runs if run.info.status in statuses]
    return runs


def find_finished(tags: Mapping[str, str], *, client: MlflowClient | None = None) -> Run | None:
    """Return the newest FINISHED run with these tags, or None."""
    runs = search_runs(tags, client=client)
    return runs[0] if runs else None


def property_value(run: Run, name: str | None = None) -> float | None:
    """Return the `property.<name>` metric of a coalition run, or None when the run did not measure that property.

    Without a name, return the run's first property metric.
    """
    metrics = run.data.metrics
    if name is not None:
        return metrics.get(f"property.{name}")
    return next((value for metric, value in metrics.items() if metric.startswith("property.")), None)


@contextlib.contextmanager
def start_run(
    study: str,
    kind: str,
    *,
    tags: Mapping[str, str] | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """Start (or, under `mlflow run`, attach to) a run tagged with `kind` and `study`.

    The run ends FINISHED only if the block completes; an exception marks it
    FAILED, and a killed process leaves it RUNNING. Neither is ever reused.
    `parent_run_id` nests the run under a run of another process (a worker's
    coalition under the `attribute` run that planned it).
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown run kind {kind!r}; expected one of {', '.join(KINDS)}.")
    all_tags = {TAG_KIND: kind, TAG_STUDY: study, TAG_PROCESS: process_label(), **(tags or {})}

    active = mlflow.active_run()
    attach = active is None and not nested and parent_run_id is None and "MLFLOW_RUN_ID" in os.environ
    if attach:
        experiment_id = None
    elif parent_run_id is not None and active is None:
        experiment_id = mlflow.get_run(parent_run_id).info.experiment_id
        all_tags["mlflow.parentRunId"] = parent_run_id
    elif nested and active is not None:
        experiment_id = active.info.experiment_id
    else:
        experiment_id = _study_experiment(study)

    # `mlflow run` exports MLFLOW_RUN_ID for the entry point's own run. Only a
    # top-level run attaches to it; any other run must not pick it up.
    launched_run_id = None if attach else os.environ.pop("MLFLOW_RUN_ID", None)
    try:
        run = mlflow.start_run(
            experiment_id=experiment_id,
            run_name=run_name,
            nested=nested and active is not None,
            tags=all_tags,
        )
    finally:
        if launched_run_id is not None:
            os.environ["MLFLOW_RUN_ID"] = launched_run_id
    if attach:
        os.environ.pop("MLFLOW_RUN_ID", None)
        _warn_if_default_experiment(run, study, kind)
    with run:
        mlflow.set_tags(all_tags)
        yield run


def process_label(pid: int | None = None) -> str:
    """Return `host boot-id pid` of this process (or of `pid` on this host); boot id is `-` where unknown."""
    return f"{socket.gethostname()} {_boot_id()} {os.getpid() if pid is None else pid}"


def close_abandoned_runs(study: str, *, client: MlflowClient | None = None) -> int:
    """Mark KILLED the RUNNING runs of `study` whose process on this host is gone; return how many.

    A run's process is gone when the host booted since it started, or when no
    process has its pid. Runs of other hosts, and runs without a
    `credit.process` tag, are left alone: this host cannot tell whether they
    still run.

    NOTE: a process in another pid namespace under the same host name (a
    container on the host network) looks gone. Its run is marked KILLED while
    it works and still ends FINISHED, so it is reused as usual.
    """
    client = client or MlflowClient()
    host, boot_id, _ = process_label().split(" ")
    closed = []
    for run in search_runs({TAG_STUDY: study}, statuses=("RUNNING",), client=client):
        parts = run.data.tags.get(TAG_PROCESS, "").split(" ")
        if len(parts) != 3 or parts[0] != host or not parts[2].isdigit():
            continue
        if parts[1] != boot_id or not _process_exists(int(parts[2])):
            client.set_terminated(run.info.run_id, status="KILLED")
            closed.append(run.info.run_id)
    if closed:
        logger.info("Marked %d runs of study %s KILLED: their processes on %s exited without ending them.", len(closed), study, host)
    return len(closed)


def log_json(payload: Any, artifact_file: str) -> None:
    """Log `payload` as a JSON artifact of the active run."""
    mlflow.log_text(json.dumps(payload, indent=2, sort_keys=False), artifact_file)


def download_artifact(run: Run | str, artifact_path: str, destination: str | Path) -> Path:
    """Download one artifact (file or folder) of a run into the folder `destination` and return its local path."""
    run_id = run if isinstance(run, str) else run.info.run_id
    Path(destination).mkdir(parents=True, exist_ok=True)
    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path, dst_path=str(destination))
    return Path(local)


@contextlib.contextmanager
def downloaded_artifact(run: Run | str, artifact_path: str) -> Iterator[Path]:
    """Download one artifact of a run into a temporary folder, yield its local path, and delete the folder on exit."""
    with tempfile.TemporaryDirectory(prefix="credit-artifact-") as folder:
        yield download_artifact(run, artifact_path, folder)


def _warn_if_default_experiment(run: mlflow.ActiveRun, study: str, kind: str) -> None:
    """Warn that `mlflow run` put the entry point's run, and so its children, in the `Default` experiment."""
    experiment = mlflow.get_experiment(run.info.experiment_id)
    if experiment.name == Experiment.DEFAULT_EXPERIMENT_NAME and study != experiment.name:
        logger.warning(
            "mlflow run placed this %s run and its child runs in the %r experiment. Pass `--experiment-name %s` "
            "to mlflow run to keep them with the study's other runs in the MLflow UI.",
            kind,
            experiment.name,
            study,
        )


def _study_experiment(study: str) -> str:
    experiment = mlflow.get_experiment_by_name(study)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            raise RuntimeError(
                f"The MLflow experiment {study!r} is deleted. Restore it with "
                f"`mlflow experiments restore --experiment-id {experiment.experiment_id}` or rename the study."
            )
        return experiment.experiment_id
    try:
        return mlflow.create_experiment(study)
    except mlflow.exceptions.MlflowException:
        # Another process created it between our lookup and the create call.
        return mlflow.get_experiment_by_name(study).experiment_id


def _all_experiment_ids(client: MlflowClient) -> list[str]:
    ids: list[str] = []
    page_token = None
    while True:
        page = client.search_experiments(view_type=ViewType.ACTIVE_ONLY, max_results=_PAGE_SIZE, page_token=page_token)
        ids.extend(experiment.experiment_id for experiment in page)
        page_token = page.token
        if not page_token:
            return ids


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or "-"
    except OSError:
        return "-"


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _quote(value: str) -> str:
    return str(value).replace("'", "\\'")
