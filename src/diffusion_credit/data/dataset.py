"""The contributor dataset and coalitions of its contributors.

A coalition is a subset of the contributors, written as a bitstring whose
character `i` is `1` iff contributor `i` (in the dataset's sorted contributor
order) is a member. The empty coalition is valid and selects no images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from diffusion_credit.config import digest as config_digest
from diffusion_credit.data.errors import DatasetError

__all__ = ["ContributorDataset", "parse_coalition", "coalition_bits"]

Coalition = str | Sequence[bool] | np.ndarray


def parse_coalition(bits: str, n: int) -> np.ndarray:
    """Parse a coalition bitstring into a membership mask.

    Args:
        bits: `n` characters, each `0` or `1`. Character `i` is `1` iff
            contributor `i` is in the coalition.
        n: the number of contributors.

    Returns:
        bool array [n].

    Raises:
        DatasetError: when `bits` is not a string, has the wrong length or
            contains characters other than `0` and `1`.
    """
    if not isinstance(bits, str):
        raise DatasetError(
            f"Coalition {bits!r} must be a string of '0' and '1', got {type(bits).__name__}; "
            f"write one character per contributor (n={n})."
        )
    if len(bits) != n:
        raise DatasetError(
            f"Coalition {bits!r} has length {len(bits)} but there are n={n} contributors; "
            "write one character per contributor, '1' for members and '0' for the rest."
        )
    invalid = sorted(set(bits) - {"0", "1"})
    if invalid:
        raise DatasetError(
            f"Coalition {bits!r} (length {len(bits)}, n={n}) contains {', '.join(map(repr, invalid))}; "
            "use only '0' and '1'."
        )
    return np.frombuffer(bits.encode("ascii"), dtype=np.uint8) == ord("1")


def coalition_bits(mask: Sequence[bool] | np.ndarray) -> str:
    """Write a membership mask as a coalition bitstring (the inverse of `parse_coalition`)."""
    return "".join("1" if member else "0" for member in np.asarray(mask, dtype=bool))


@dataclass(frozen=True, eq=False)
class ContributorDataset:
    """Preprocessed images with the contributor of each one.

    Attributes:
        images: float32 [N, C, H, W] in [-1, 1].
        labels: int64 [N], the index into `contributors` of each image.
        contributors: contributor names in sorted order. Position `i` is
            player `i` of the coalition game.
        paths: the relative path (or, for CIFAR-100, the `cifar100/train/<index>`
            key) of each image, in the same order as `images`.
        captions: one caption per image, or None when the source has none.
        digest: 16 hex characters identifying the content and preprocessing.
        source: where the images were loaded from.
        settings: the preprocessing settings (resolution, channels, ...).
    """

    images: torch.Tensor
    labels: torch.Tensor
    contributors: list[str]
    paths: list[str]
    captions: list[str] | None
    digest: str
    source: str = ""
    settings: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        count = self.images.shape[0]
        if self.labels.shape != (count,) or len(self.paths) != count:
            raise DatasetError(
                f"Inconsistent dataset: {count} images, {tuple(self.labels.shape)} labels, {len(self.paths)} paths."
            )
        if self.captions is not None and len(self.captions) != count:
            raise DatasetError(f"Inconsistent dataset: {count} images but {len(self.captions)} captions.")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.images.shape[1:]))
        return (
            f"ContributorDataset({len(self)} images of {shape}, {len(self.contributors)} contributors, "
            f"digest={self.digest}, source={self.source!r})"
        )

    @property
    def num_contributors(self) -> int:
        """The number of contributors `n` (players of the coalition game)."""
        return len(self.contributors)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of each image."""
        channels, height, width = self.images.shape[1:]
        return int(channels), int(height), int(width)

    @property
    def counts(self) -> dict[str, int]:
        """The number of images of each contributor, in contributor order."""
        totals = torch.bincount(self.labels, minlength=len(self.contributors)).tolist()
        return dict(zip(self.contributors, totals))

    def mask(self, coalition: Coalition) -> np.ndarray:
        """Return the membership mask bool [n] of a bitstring or a sequence of booleans."""
        if isinstance(coalition, str):
            return parse_coalition(coalition, len(self.contributors))
        mask = np.asarray(coalition)
        if mask.shape != (len(self.contributors),) or not (mask.dtype == bool or np.isin(mask, (0, 1)).all()):
            raise DatasetError(
                f"Coalition {coalition!r} must hold n={len(self.contributors)} booleans, got shape {mask.shape}; "
                "pass one membership flag per contributor or a bitstring."
            )
        return mask.astype(bool)

    def indices(self, coalition: Coalition) -> np.ndarray:
        """Return the indices int64 [M] of the images of the coalition's contributors, ascending."""
        mask = self.mask(coalition)
        return np.flatnonzero(mask[self.labels.numpy()]).astype(np.int64)

    def subset(self, coalition: Coalition) -> ContributorDataset:
        """Return the images of the coalition's contributors.

        The subset keeps the full contributor list, so its labels still index
        the study's contributors and absent contributors count 0 images. Its
        digest combines this digest with the coalition bitstring.
        """
        bits = coalition_bits(self.mask(coalition))
        keep = self.indices(bits)
        index = torch.from_numpy(keep)
        return ContributorDataset(
            images=self.images[index],
            labels=self.labels[index],
            contributors=list(self.contributors),
            paths=[self.paths[i] for i in keep],
            captions=None if self.captions is None else [self.captions[i] for i in keep],
            digest=config_digest(self.digest, bits),
            source=f"{self.source} [coalition {bits}]",
            settings=dict(self.settings),
        )

    def summary(self) -> dict[str, object]:
        """Return a JSON-serialisable description for logging: source, digest, shape, contributors, counts."""
        return {
            "source": self.source,
            "digest": self.digest,
            "num_images": len(self),
            "image_shape": list(self.image_shape),
            "num_contributors": len(self.contributors),
            "contributors": list(self.contributors),
            "counts": self.counts,
            "has_captions": self.captions is not None,
            "settings": dict(self.settings),
        }
