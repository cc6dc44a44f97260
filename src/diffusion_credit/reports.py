"""Tables and plots logged as run artifacts."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

__all__ = [
    "log_loss_curve",
    "log_image_grid",
    "contact_sheet",
    "attribution_frame",
    "log_attribution",
    "plot_attribution",
    "log_top_contributors",
    "top_and_bottom",
]

logger = logging.getLogger(__name__)

_MAX_LOGGED_POINTS = 500


def log_loss_curve(losses: Sequence[float], metric: str) -> None:
    """Log a loss curve as a step metric (thinned to at most 500 points) and as a PNG."""
    if not losses:
        return
    stride = max(1, len(losses) // _MAX_LOGGED_POINTS)
    client = mlflow.MlflowClient()
    run_id = mlflow.active_run().info.run_id
    metrics = [
        mlflow.entities.Metric(metric, float(np.mean(losses[step : step + stride])), 0, step)
        for step in range(0, len(losses), stride)
    ]
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start : start + 1000])

    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot(np.arange(len(losses)), losses, alpha=0.3, label="per step")
    window = max(1, len(losses) // 50)
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    axis.plot(np.arange(len(smooth)) + window - 1, smooth, label=f"mean over {window} steps")
    axis.set(xlabel="step", ylabel="diffusion loss (MSE)", yscale="log", title=metric)
    axis.legend()
    _log_figure(figure, f"{metric.replace('.', '_')}.png")


def log_image_grid(images: torch.Tensor, artifact_file: str, nrow: int = 8) -> None:
    """Log uint8 images [N, C, H, W] as one PNG grid."""
    from .sampling import save_image_grid

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / artifact_file
        save_image_grid(images, path, nrow=nrow)
        mlflow.log_artifact(str(path))


def contact_sheet(dataset, path: Path, per_contributor: int = 6) -> Path:
    """Save a PNG with the first few images of each contributor, one row each."""
    names = list(dataset.contributors)
    labels = dataset.labels.numpy()
    figure, axes = plt.subplots(
        len(names), per_contributor, figsize=(per_contributor * 0.9 + 1.5, len(names) * 0.9), squeeze=False
    )
    for row, name in enumerate(names):
        indices = np.flatnonzero(labels == row)[:per_contributor]
        for column in range(per_contributor):
            axis = axes[row][column]
            axis.axis("off")
            if column < len(indices):
                axis.imshow(_to_display(dataset.images[indices[column]]))
        axes[row][0].set_title(name, fontsize=7, loc="left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def attribution_frame(contributors: Sequence[str], scores: np.ndarray, std: np.ndarray | None) -> pd.DataFrame:
    """Return the `contributor,score,std` table of the run-store contract."""
    frame = pd.DataFrame({"contributor": list(contributors), "score": np.asarray(scores, dtype=float)})
    frame["std"] = np.asarray(std, dtype=float) if std is not None else np.nan
    return frame


def log_attribution(frame: pd.DataFrame, title: str) -> None:
    """Log `attribution.csv` and a bar chart with error bars to the active run."""
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "attribution.csv"
        frame.to_csv(csv, index=False, na_rep="")
        mlflow.log_artifact(str(csv))
    _log_figure(plot_attribution(frame, title), "attribution.png")


def plot_attribution(frame: pd.DataFrame, title: str):
    """Return a horizontal bar chart of scores, sorted, with ±1 std error bars."""
    ordered = frame.sort_values("score")
    errors = ordered["std"].to_numpy(dtype=float)
    figure, axis = plt.subplots(figsize=(6, 0.3 * len(ordered) + 1.5))
    axis.barh(
        ordered["contributor"],
        ordered["score"],
        xerr=None if np.isnan(errors).all() else np.nan_to_num(errors),
        color=np.where(ordered["score"] >= 0, "tab:blue", "tab:red"),
        capsize=3,
    )
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set(xlabel="credit (change of the property)", title=title)
    figure.tight_layout()
    return figure


def log_top_contributors(frame: pd.DataFrame, dataset, top: int = 3, per_contributor: int = 8) -> None:
    """Log a PNG with a few images of the highest- and lowest-scored contributors."""
    highest, lowest = top_and_bottom(frame, top)
    chosen = highest + lowest
    names = list(dataset.contributors)
    labels = dataset.labels.numpy()
    figure, axes = plt.subplots(len(chosen), per_contributor, figsize=(per_contributor, len(chosen) * 1.1), squeeze=False)
    for row, name in enumerate(chosen):
        indices = np.flatnonzero(labels == names.index(name))[:per_contributor]
        score = float(frame.loc[frame["contributor"] == name, "score"].iloc[0])
        for column in range(per_contributor):
            axes[row][column].axis("off")
            if column < len(indices):
                axes[row][column].imshow(_to_display(dataset.images[indices[column]]))
        rank = "top" if row < len(highest) else "bottom"
        axes[row][0].set_title(f"{rank}: {name} ({score:+.3g})", fontsize=7, loc="left")
    figure.tight_layout()
    _log_figure(figure, "top_contributors.png")


def top_and_bottom(frame: pd.DataFrame, count: int) -> tuple[list[str], list[str]]:
    """Return up to `count` highest- and `count` lowest-scored contributors, no contributor in both lists.

    With fewer than `2 * count` contributors each list gets half, and a
    single contributor is only in the first list.
    """
    ordered = list(frame.sort_values("score", ascending=False)["contributor"])
    count = max(1, min(count, len(ordered) // 2))
    return ordered[:count], ordered[count:][-count:]


def _to_display(image: torch.Tensor) -> np.ndarray:
    array = ((image.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[-1] == 1 else array


def _log_figure(figure, artifact_file: str) -> None:
    mlflow.log_figure(figure, artifact_file)
    plt.close(figure)
