"""Append the values another machine computed to this results folder.

A run elsewhere (a lent GPU machine, a second workstation) starts from a copy
of `results/` and adds its own rows. This script appends the rows of that copy
that are new here and leaves the rows already here untouched:

    python benchmarks/reference/merge_results.py /path/to/other/results

Coalition values are matched by `eval_key`, stage times by `digest`, and
baseline scores by the baseline run's `digest` (all of its rows or none).
`plan.csv` is not merged: every `run.py` start rewrites it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(REFERENCE_DIR))

from coalition_log import BASELINE_COLUMNS, COALITION_COLUMNS, STAGE_COLUMNS, CsvLog, read_rows  # noqa: E402

logger = logging.getLogger("reference.merge")

FILES = {
    "coalitions.csv": (COALITION_COLUMNS, "eval_key"),
    "stages.csv": (STAGE_COLUMNS, "digest"),
    "baselines.csv": (BASELINE_COLUMNS, "digest"),
}


def merge(source: str | Path, target: str | Path) -> dict[str, int]:
    """Append the rows of `source`'s CSV files whose key `target` lacks; return the rows added per file."""
    source, target = Path(source), Path(target)
    if not (source / "coalitions.csv").exists():
        raise SystemExit(f"{source} has no coalitions.csv; pass the results folder of the other run.")
    if source.resolve() == target.resolve():
        raise SystemExit(f"{source} is the target folder itself; pass the other run's results folder.")

    added = {}
    for name, (columns, key) in FILES.items():
        rows = read_rows(source / name, columns)
        log = CsvLog(target / name, columns, key=key)
        # Baseline scores are several rows per key: take a key only when the target has none of it.
        new = [row for row in rows if row[key] not in log]
        added[name] = log.extend(new)
        logger.info("%s: %d of %d rows are new here", name, added[name], len(rows))
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="The other run's results folder.")
    parser.add_argument("--results", default=str(REFERENCE_DIR / "results"), help="The results folder to append to.")
    args = parser.parse_args(argv)
    merge(args.source, args.results)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main())
