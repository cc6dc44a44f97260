"""CIFAR-100 restricted to 20 fine labels, one contributor per label.

The 20 fine labels 40-44, 55-64 and 80-84 of torchvision's CIFAR-100
training set (500 images each, 10,000 in all) are the contributors. The
data is downloaded into the cache folder on first use, so this source needs
network access once and the optional dependency torchvision, which is
imported only here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from diffusion_credit.data.errors import DatasetError

__all__ = ["CIFAR100_20_SOURCE", "CIFAR100_20_CLASSES", "load_cifar100_20"]

logger = logging.getLogger(__name__)

CIFAR100_20_SOURCE = "cifar100-20"

CIFAR100_20_CLASSES: dict[int, str] = {
    40: "lamp",
    41: "lawn_mower",
    42: "leopard",
    43: "lion",
    44: "lizard",
    55: "otter",
    56: "palm_tree",
    57: "pear",
    58: "pickup_truck",
    59: "pine_tree",
    60: "plain",
    61: "plate",
    62: "poppy",
    63: "porcupine",
    64: "possum",
    80: "squirrel",
    81: "streetcar",
    82: "sunflower",
    83: "sweet_pepper",
    84: "table",
}


def load_cifar100_20(
    download_root: Path, max_per_contributor: int | None = None
) -> tuple[list[str], list[str], np.ndarray]:
    """Load the CIFAR-100 training images of the 20 selected fine labels.

    Args:
        download_root: the folder torchvision downloads CIFAR-100 into.
        max_per_contributor: keep the first K images of each label (by
            training-set index); None keeps all 500.

    Returns:
        (paths, contributor_of, arrays): keys `cifar100/train/<index>` and the
        class name of each image, sorted by (class name, index), and their
        uint8 RGB pixels [N, 32, 32, 3].

    Raises:
        DatasetError: when torchvision is missing, the download fails, or
            the class list does not match the expected fine labels.
    """
    cifar100 = _cifar100_class()
    try:
        dataset = cifar100(root=str(download_root), train=True, download=True)
    except (OSError, RuntimeError) as error:
        raise DatasetError(
            f"Cannot download or read CIFAR-100 into {download_root}: {error}. Check the network connection, "
            "or place torchvision's cifar-100-python folder there."
        ) from error
    _check_classes(list(dataset.classes))

    targets = np.asarray(dataset.targets, dtype=np.int64)
    selected = [index for index in range(len(targets)) if int(targets[index]) in CIFAR100_20_CLASSES]
    entries = sorted((CIFAR100_20_CLASSES[int(targets[index])], index) for index in selected)
    if max_per_contributor is not None:
        entries = _first_per_class(entries, max_per_contributor)

    indices = np.array([index for _, index in entries], dtype=np.int64)
    paths = [f"cifar100/train/{index:05d}" for index in indices]
    contributor_of = [name for name, _ in entries]
    arrays = np.ascontiguousarray(np.asarray(dataset.data)[indices], dtype=np.uint8)
    logger.info("Selected %d CIFAR-100 images of %d fine labels.", len(paths), len(set(contributor_of)))
    return paths, contributor_of, arrays


def _cifar100_class():
    try:
        from torchvision.datasets import CIFAR100
    except ImportError as error:
        raise DatasetError(
            f"data.path={CIFAR100_20_SOURCE!r} needs torchvision, which cannot be imported ({error}). "
            "Run `pip install torchvision` (the build that matches your torch), or point data.path "
            "at a folder of contributor subfolders or a manifest."
        ) from error
    return CIFAR100


def _check_classes(classes: list[str]) -> None:
    wrong = {
        label: classes[label] if label < len(classes) else None
        for label, name in CIFAR100_20_CLASSES.items()
        if label >= len(classes) or classes[label] != name
    }
    if wrong:
        raise DatasetError(
            f"CIFAR-100's fine labels do not match the expected names at {wrong}; expected "
            f"{ {label: CIFAR100_20_CLASSES[label] for label in wrong} }. The installed torchvision orders the "
            "classes differently; report this with its version."
        )


def _first_per_class(entries: list[tuple[str, int]], limit: int) -> list[tuple[str, int]]:
    selected: list[tuple[str, int]] = []
    counts: dict[str, int] = {}
    for name, index in entries:
        counts[name] = counts.get(name, 0) + 1
        if counts[name] <= limit:
            selected.append((name, index))
    return selected
