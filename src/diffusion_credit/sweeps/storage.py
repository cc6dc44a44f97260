"""Optuna storages from one string: an RDB URL or `journal:<path>`."""

from __future__ import annotations

import logging
import warnings

import optuna

from ..errors import InputError
from ..store import redact, retry_schema_race, with_postgres_driver

__all__ = ["DEFAULT_STORAGE", "make_storage", "redact"]

logger = logging.getLogger(__name__)

DEFAULT_STORAGE = "sqlite:///optuna.db"

_RDB_SCHEMES = ("sqlite", "postgresql", "mysql", "oracle", "mssql")

# A worker that stops sending heartbeats for this long has its RUNNING trial
# marked FAIL by the next worker that starts a trial (RDB storages only).
HEARTBEAT_INTERVAL_S = 60
HEARTBEAT_GRACE_S = 180


def make_storage(storage: str | None) -> optuna.storages.BaseStorage:
    """Build the Optuna storage that `storage` names.

    Args:
        storage: `sqlite:///optuna.db` (the default when None or empty), any
            SQLAlchemy URL such as `postgresql://user@host:5432/db`, or
            `journal:<path>` for an append-only journal file that several
            processes on one file system can share.

    Raises:
        InputError: when the string is neither form.
    """
    storage = (storage or "").strip() or DEFAULT_STORAGE
    if storage.startswith("journal:"):
        return _journal_storage(storage.removeprefix("journal:"))

    scheme = storage.split(":", 1)[0].split("+", 1)[0]
    if "://" not in storage or scheme not in _RDB_SCHEMES:
        raise InputError(
            f"Optuna storage {redact(storage)!r} is neither an RDB URL ({', '.join(_RDB_SCHEMES)}) nor journal:<path>; "
            f"use e.g. {DEFAULT_STORAGE}, postgresql://user@host:5432/db or journal:optuna.log."
        )
    storage = with_postgres_driver(storage)
    # sqlite waits this many seconds for another process's write lock.
    engine_kwargs = {"connect_args": {"timeout": 60}} if scheme == "sqlite" else {}
    try:
        return retry_schema_race(lambda: _open_rdb_storage(storage, engine_kwargs), f"Optuna storage {redact(storage)}")
    except Exception as error:  # SQLAlchemy raises many types for a bad URL or a refused connection
        hint = "Check the URL and that the server is up."
        if "table schema" in str(error):
            hint = "If this database also holds an MLflow store, give the Optuna storage a database of its own: both keep an alembic_version table."
        raise InputError(f"Cannot open the Optuna storage {redact(storage)}: {error} {hint}") from None


def _open_rdb_storage(url: str, engine_kwargs: dict) -> optuna.storages.RDBStorage:
    with warnings.catch_warnings():
        # Optuna 5.1 marks heartbeats experimental.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_INTERVAL_S, grace_period=HEARTBEAT_GRACE_S)


def _journal_storage(path: str) -> optuna.storages.JournalStorage:
    from optuna.storages.journal import JournalFileBackend

    if not path:
        raise InputError("journal: needs a file path, e.g. journal:optuna.log.")
    return optuna.storages.JournalStorage(JournalFileBackend(path))
