"""Seeded random projection of per-sample gradients, generated in chunks.

The projection matrix `P` is [num_params, k] with entries ±1/√k (Rademacher)
or N(0, 1/k) (Gaussian), so `E[(Pᵀa)·(Pᵀb)] = a·b`. It is never held whole:
rows `[c·chunk_size, (c+1)·chunk_size)` come from a generator seeded by
`(seed, c)` each time they are needed, so memory stays at
`chunk_size × k` floats and any chunk can be regenerated on its own.
"""

from __future__ import annotations

import math

import torch

from .seeding import derive_seed

__all__ = ["RandomProjector"]


class RandomProjector:
    """Project [B, num_params] gradients to [B, k] with a seeded, chunked random matrix.

    NOTE: the generator streams differ between CPU and CUDA, so the same seed
    gives different projections on different device types. Compare only
    features projected on one device type.

    Args:
        num_params: `P`, the length of a flattened gradient.
        dim: `k`, the projection dimension.
        seed: seed of the projection matrix.
        chunk_size: rows of `P` generated at a time.
        kind: `rademacher` or `gaussian`.
        device: where the chunks are generated and multiplied.
    """

    def __init__(
        self,
        num_params: int,
        dim: int,
        *,
        seed: int = 0,
        chunk_size: int = 32768,
        kind: str = "rademacher",
        device: str | torch.device = "cpu",
    ) -> None:
        if num_params <= 0 or dim <= 0 or chunk_size <= 0:
            raise ValueError(
                f"num_params, dim and chunk_size must be positive, got {num_params}, {dim} and {chunk_size}."
            )
        if kind not in ("rademacher", "gaussian"):
            raise ValueError(f"Projection kind {kind!r} is not one of rademacher, gaussian.")
        self.num_params = num_params
        self.dim = dim
        self.seed = seed
        self.chunk_size = chunk_size
        self.kind = kind
        self.device = torch.device(device)
        bits = (torch.arange(256)[:, None] >> torch.arange(8)) & 1
        self._sign_table = ((bits * 2 - 1) / math.sqrt(dim)).float().to(self.device)

    @property
    def num_chunks(self) -> int:
        """Number of row chunks the projection matrix is generated in."""
        return math.ceil(self.num_params / self.chunk_size)

    def chunk(self, index: int) -> torch.Tensor:
        """Generate rows `[index·chunk_size, …)` of the projection matrix as float32 [rows, k]."""
        if not 0 <= index < self.num_chunks:
            raise IndexError(f"Chunk index {index} is outside [0, {self.num_chunks}).")
        start = index * self.chunk_size
        rows = min(self.chunk_size, self.num_params - start)
        generator = torch.Generator(device=self.device).manual_seed(derive_seed(self.seed, index))

        if self.kind == "gaussian":
            return torch.randn(rows, self.dim, generator=generator, device=self.device).mul_(1.0 / math.sqrt(self.dim))

        # One random int64 gives 64 signs: each of its bytes indexes a table
        # of the 256 sign patterns. This is about twice as fast on CPU as
        # drawing one random number per entry.
        words = torch.randint(
            -(2**63), 2**63 - 1, (rows, math.ceil(self.dim / 64)),
            generator=generator, device=self.device, dtype=torch.int64,
        )
        signs = torch.nn.functional.embedding(words.view(torch.uint8).int(), self._sign_table)
        return signs.view(rows, -1)[:, : self.dim]

    def project(self, gradients: torch.Tensor) -> torch.Tensor:
        """Return `gradients @ P` as float32 [B, k].

        Args:
            gradients: float [B, num_params], flattened per-sample gradients.
        """
        if gradients.ndim != 2 or gradients.shape[1] != self.num_params:
            raise ValueError(
                f"gradients must have shape [B, {self.num_params}], got {list(gradients.shape)}."
            )
        gradients = gradients.to(self.device, torch.float32)
        projected = torch.zeros(gradients.shape[0], self.dim, device=self.device)
        for index in range(self.num_chunks):
            start = index * self.chunk_size
            block = gradients[:, start : start + self.chunk_size]
            projected.addmm_(block, self.chunk(index))
        return projected
