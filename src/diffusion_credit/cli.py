"""Helpers shared by the MLflow entry points in `entrypoints/`."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Callable
from typing import Any

from .config import ConfigError, StudyConfig, load_config
from .errors import InputError

__all__ = ["setup_logging", "optional", "parse_int", "parse_number", "study_parser", "load_study", "run_main"]

logger = logging.getLogger(__name__)


def setup_logging(level: int = logging.INFO) -> None:
    """Send log records of the package to stderr with timestamps (entry points only)."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("alembic", "mlflow.store", "urllib3", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Python warnings (an undetermined KernelSHAP std, say) become one log line each, without a source line.
    warnings.formatwarning = _format_warning
    logging.captureWarnings(True)


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"{category.__name__}: {message} ({filename}:{lineno})"


def optional(value: str | None) -> str | None:
    """Map MLflow's empty-string default to None."""
    if value is None or value.strip() in ("", "None", "none"):
        return None
    return value


def parse_int(value: str, option: str) -> int:
    """Parse the integer given to `option`, or raise `InputError` naming the option when it is not one."""
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{option} must be an integer, got {value!r}.") from None


def parse_number(value: str, option: str, *, unit: str = "") -> float:
    """Parse the number given to `option`, or raise `InputError` naming the option and `unit` when it is not one."""
    try:
        return float(value)
    except ValueError:
        kind = f"a number of {unit}" if unit else "a number"
        raise InputError(f"{option} must be {kind}, got {value!r}.") from None


def study_parser(description: str) -> argparse.ArgumentParser:
    """Return a parser with the `--config` and `--data` options every study entry point takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", default="configs/cifar10-mini.yaml", help="Study config (YAML).")
    parser.add_argument(
        "--data",
        default="",
        help="Overrides data.path: a folder with one subfolder per contributor, or a CSV/Parquet manifest.",
    )
    return parser


def load_study(config_path: str, *, data: str | None = None, overrides: dict[str, Any] | None = None) -> StudyConfig:
    """Load the study config with the entry point's overrides applied (empty values ignored)."""
    merged = {key: value for key, value in (overrides or {}).items() if optional_value(value) is not None}
    if optional(data) is not None:
        merged["data.path"] = data
    return load_config(config_path, merged)


def optional_value(value: Any) -> Any:
    return optional(value) if isinstance(value, str) else value


def run_main(main: Callable[[], None]) -> None:
    """Run an entry point; input errors exit with status 2 and Ctrl-C with 130, each with a one-line message."""
    setup_logging()
    try:
        main()
    except (ConfigError, *_input_errors()) as error:
        logger.error("%s", error)
        sys.exit(2)
    except KeyboardInterrupt:
        logger.error("Interrupted. Finished runs are kept; rerun the same command to continue from them.")
        sys.exit(130)


def _input_errors() -> tuple[type[Exception], ...]:
    errors: list[type[Exception]] = []
    try:
        from .data import DatasetError

        errors.append(DatasetError)
    except ImportError:
        pass
    errors.append(InputError)
    return tuple(errors)
