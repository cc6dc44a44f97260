"""Deterministic child seeds for projection chunks and diffusion noises."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["derive_seed", "seeded_normal"]


def derive_seed(*keys: int) -> int:
    """Derive a 63-bit generator seed from non-negative integer keys, e.g. `(seed, chunk_index)`."""
    words = np.random.SeedSequence([int(key) for key in keys]).generate_state(2, dtype=np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


def seeded_normal(shape: tuple[int, ...], *keys: int) -> torch.Tensor:
    """Draw float32 standard normal noise on the CPU that depends only on `keys`."""
    generator = torch.Generator().manual_seed(derive_seed(*keys))
    return torch.randn(shape, generator=generator)
