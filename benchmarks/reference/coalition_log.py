"""The reference benchmark's CSV files: schemas, crash-safe appends and reads.

Every file lives in the results folder (default `benchmarks/reference/results`):

- `coalitions.csv`: one row per finished coalition value (one per `eval_key`),
  appended and flushed as soon as the value exists, so a killed run loses at
  most the coalition it was computing.
- `plan.csv`: every planned task of every phase with its `eval_key`,
  rewritten at each start; the report reads sample order and datamodel sets
  from it.
- `stages.csv`: the measured training time of `θ*` and `θ̃*`, the fixed cost
  before any coalition.
- `baselines.csv`: the scores of the baseline attribution runs.

The report rebuilds everything from these files alone.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import platform
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from worker_locks import lock_folder_of

__all__ = [
    "COALITION_COLUMNS",
    "PLAN_COLUMNS",
    "STAGE_COLUMNS",
    "BASELINE_COLUMNS",
    "CsvLog",
    "read_rows",
    "write_rows",
    "describe_machine",
    "format_duration",
]

logger = logging.getLogger(__name__)

COALITION_COLUMNS = (
    "study",
    "coalition",
    "method",
    "finetune_steps",
    "settings",
    "game_key",
    "seed",
    "datamodel_alpha",
    "datamodel_set",
    "property",
    "value",
    "train_s",
    "sample_s",
    "property_s",
    "machine",
    "eval_key",
    "run_id",
    "source",
    "finished_at",
)
"""`settings` is the run's recipe key (`credit.recipe`, seed included). `game_key`
is the recipe key without a seed override, so the seed replicates of one game
share it. `source` is `computed` (this benchmark evaluated it) or `store` (found
in the run store)."""

PLAN_COLUMNS = (
    "study",
    "phase",
    "sample",
    "alpha",
    "set",
    "position",
    "coalition",
    "method",
    "finetune_steps",
    "seed",
    "eval_key",
    "settings",
    "game_key",
    "game_method",
    "game_steps",
)

STAGE_COLUMNS = ("study", "stage", "digest", "seconds", "machine", "run_id", "finished_at")

BASELINE_COLUMNS = (
    "study",
    "baseline",
    "contributor_index",
    "contributor",
    "score",
    "seconds",
    "digest",
    "run_id",
    "machine",
    "finished_at",
)


class CsvLog:
    """An append-only CSV file whose rows are flushed to disk one at a time.

    Opening the file repairs a last line cut short by a kill (it is dropped,
    with a warning) and writes the header of a new file. Every read and
    append holds the file's lock in `<folder>/.locks`, and an append first
    reads the rows other processes added, so several benchmark processes can
    share the file.

    Args:
        path: the CSV file; its folder is created.
        columns: the header, in order.
        key: the column whose values identify a row (e.g. `eval_key`), or None.
    """

    def __init__(self, path: str | Path, columns: Sequence[str], key: str | None = None):
        self.path = Path(path)
        self.columns = tuple(columns)
        self.key = key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._locks = lock_folder_of(self.path.parent)
        with self._locks.hold(self.path.name):
            _drop_partial_last_line(self.path)
            if not self.path.exists() or self.path.stat().st_size == 0:
                with self.path.open("w", newline="") as handle:
                    csv.writer(handle).writerow(self.columns)
            self._reload()

    def __contains__(self, key: str) -> bool:
        return key in self.keys

    def refresh(self) -> None:
        """Read the rows other processes appended since this log last read the file."""
        with self._locks.hold(self.path.name):
            self._reload()

    def append(self, row: Mapping[str, object], *, skip_known: bool = False) -> bool:
        """Append one row (missing columns left empty), flush it and fsync the file.

        Returns:
            False when `skip_known` is set and a row with the same key is
            already in the file (this or another process wrote it), else True.
        """
        return self.extend([row], skip_known=skip_known) == 1

    def extend(self, rows: Sequence[Mapping[str, object]], *, skip_known: bool = False) -> int:
        """Append rows in one write, flush and fsync the file; return how many were written.

        With `skip_known`, rows whose key is already in the file are left out.
        """
        prepared = []
        for row in rows:
            unknown = set(row) - set(self.columns)
            if unknown:
                raise ValueError(f"Row has columns {sorted(unknown)} that {self.path.name} does not have: {self.columns}.")
            prepared.append({column: _cell(row.get(column)) for column in self.columns})

        with self._locks.hold(self.path.name):
            self._reload()
            if skip_known and self.key:
                prepared = [values for values in prepared if values[self.key] not in self.keys]
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            for values in prepared:
                writer.writerow([values[column] for column in self.columns])
            with self.path.open("a", newline="") as handle:
                handle.write(buffer.getvalue())
                handle.flush()
                os.fsync(handle.fileno())
            self.rows.extend(prepared)
            if self.key:
                self.keys.update(values[self.key] for values in prepared)
        return len(prepared)

    def replace(self, row: Mapping[str, object]) -> None:
        """Replace the row with the same key by `row`, rewriting the file through a temporary one.

        Raises:
            KeyError: no row has the key of `row`.
        """
        values = {column: _cell(row.get(column)) for column in self.columns}
        with self._locks.hold(self.path.name):
            self._reload()
            keys = [existing[self.key] for existing in self.rows]
            if values[self.key] not in keys:
                raise KeyError(f"{self.path.name} has no row with {self.key} {values[self.key]!r} to replace.")
            self.rows[keys.index(values[self.key])] = values
            write_rows(self.path, self.columns, self.rows)

    def count(self, key: str) -> int:
        """Return how many rows have `key` in the key column."""
        return sum(1 for row in self.rows if row[self.key] == key)

    def _reload(self) -> None:
        self.rows = read_rows(self.path, self.columns)
        self.keys = {row[self.key] for row in self.rows} if self.key else set()


def read_rows(path: str | Path, columns: Sequence[str] | None = None) -> list[dict[str, str]]:
    """Read a CSV file into dicts of strings, skipping rows with missing fields.

    Args:
        path: the CSV file; a missing file gives no rows.
        columns: columns the header must contain, checked when given.

    Raises:
        ValueError: when the header lacks one of `columns`.
    """
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in columns or () if column not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(
                f"{path} lacks the columns {missing}; it was written by another version of the benchmark. "
                "Move it aside and rerun, or add the columns."
            )
        rows, skipped = [], 0
        for row in reader:
            if None in row or any(value is None for value in row.values()):
                skipped += 1
                continue
            rows.append(row)
    if skipped:
        logger.warning("Skipped %d rows of %s with a wrong number of fields.", skipped, path)
    return rows


def write_rows(path: str | Path, columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> None:
    """Replace a CSV file with `rows`, writing a temporary file first so a kill leaves the old one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    with temporary.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(column)) for column in columns])
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def describe_machine(device: str) -> str:
    """Return a short machine label: CPU cores, CPU model and vector ISA, torch version and device (with the GPU name).

    Costs are compared per label, so two machines must not share one: the
    same 2-core label once covered CPUs three times apart in speed.
    """
    import torch

    processor = f"{_cpu_model()} ({torch.backends.cpu.get_cpu_capability()})"
    label = f"{os.cpu_count()} CPU cores {processor}, torch {torch.__version__}, {device}"
    if device.startswith("cuda") and torch.cuda.is_available():
        label += f" ({torch.cuda.get_device_name(0)})"
    return label


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def format_duration(seconds: float) -> str:
    """Return a duration in s, min or h, whichever reads best."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _drop_partial_last_line(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as handle:
        data = handle.read()
        if data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        handle.truncate(cut)
    logger.warning("Dropped a partial last line of %s (%d bytes) left by a killed run.", path, len(data) - cut)
