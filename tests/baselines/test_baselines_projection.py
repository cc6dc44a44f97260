"""Chunked random projection: Johnson–Lindenstrauss behaviour, seeding and chunking."""

import math

import pytest
import torch

from diffusion_credit.baselines import RandomProjector


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_projection_preserves_inner_products(kind):
    generator = torch.Generator().manual_seed(0)
    vectors = torch.randn(8, 5000, generator=generator)
    dim = 1024
    projector = RandomProjector(5000, dim, seed=3, chunk_size=777, kind=kind)

    projected = projector.project(vectors).double()
    exact = vectors.double() @ vectors.double().T
    approx = projected @ projected.T
    norms = vectors.double().norm(dim=1)
    # JL: the error of <Pa, Pb> has standard deviation about sqrt(2/k) |a||b|;
    # 5/sqrt(k) is a margin of more than 3 standard deviations.
    relative_error = (approx - exact).abs() / (norms[:, None] * norms[None, :])
    assert relative_error.max() < 5 / math.sqrt(dim)


def test_projection_equals_stacked_chunks():
    projector = RandomProjector(1000, 16, seed=5, chunk_size=300)
    matrix = torch.cat([projector.chunk(index) for index in range(projector.num_chunks)])
    gradients = torch.randn(3, 1000, generator=torch.Generator().manual_seed(1))

    assert projector.num_chunks == 4
    assert matrix.shape == (1000, 16)
    torch.testing.assert_close(projector.project(gradients), gradients @ matrix, rtol=1e-5, atol=1e-5)


def test_projection_chunk_depends_only_on_seed_and_index():
    first = RandomProjector(1000, 16, seed=5, chunk_size=300)
    second = RandomProjector(1000, 16, seed=5, chunk_size=300)
    other_seed = RandomProjector(1000, 16, seed=6, chunk_size=300)

    torch.testing.assert_close(first.chunk(2), second.chunk(2))
    assert not torch.equal(first.chunk(2), other_seed.chunk(2))
    assert not torch.equal(first.chunk(0), first.chunk(1))


def test_rademacher_entries_are_scaled_signs():
    chunk = RandomProjector(100, 64, seed=0, chunk_size=100).chunk(0)
    assert set(torch.unique(chunk * 8).tolist()) == {-1.0, 1.0}


def test_projection_rejects_bad_input():
    projector = RandomProjector(10, 4)
    with pytest.raises(ValueError, match=r"shape \[B, 10\]"):
        projector.project(torch.zeros(2, 11))
    with pytest.raises(ValueError, match="rademacher, gaussian"):
        RandomProjector(10, 4, kind="sparse")
    with pytest.raises(ValueError, match="positive"):
        RandomProjector(10, 0)
    with pytest.raises(IndexError):
        projector.chunk(1)
