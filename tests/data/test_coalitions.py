import json

import numpy as np
import pytest
import torch

from diffusion_credit.data import ContributorDataset, DatasetError, coalition_bits, parse_coalition


@pytest.fixture()
def dataset():
    """Three contributors with 2, 3 and 1 images; image i is filled with the value i."""
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    images = torch.arange(6, dtype=torch.float32).reshape(6, 1, 1, 1).expand(6, 1, 2, 2).contiguous()
    return ContributorDataset(
        images=images,
        labels=labels,
        contributors=["alice", "bob", "carol"],
        paths=[f"p{i}.jpg" for i in range(6)],
        captions=[f"caption {i}" for i in range(6)],
        digest="0123456789abcdef",
        source="memory",
    )


def test_parse_coalition_mask():
    mask = parse_coalition("1010", 4)

    assert mask.dtype == bool
    assert mask.tolist() == [True, False, True, False]


def test_parse_coalition_wrong_length():
    with pytest.raises(DatasetError, match=r"Coalition '101' has length 3 but there are n=4 contributors"):
        parse_coalition("101", 4)


@pytest.mark.parametrize("bits", ["10x1", "1 01", "1201", "１０１０"])
def test_parse_coalition_invalid_characters(bits):
    with pytest.raises(DatasetError, match=rf"Coalition '{bits}' \(length 4, n=4\) contains .*use only '0' and '1'"):
        parse_coalition(bits, 4)


def test_parse_coalition_rejects_non_string():
    with pytest.raises(DatasetError, match=r"must be a string"):
        parse_coalition(1010, 4)


def test_coalition_bits_round_trip():
    assert coalition_bits([True, False, True]) == "101"
    assert coalition_bits(parse_coalition("0110", 4)) == "0110"


def test_indices_from_bits_and_booleans(dataset):
    assert dataset.indices("101").tolist() == [0, 1, 5]
    assert dataset.indices([False, True, False]).tolist() == [2, 3, 4]
    assert dataset.indices(np.array([1, 0, 0])).tolist() == [0, 1]
    assert dataset.indices("101").dtype == np.int64


def test_empty_and_grand_coalitions(dataset):
    assert dataset.indices("000").size == 0
    assert dataset.indices("111").tolist() == list(range(6))


def test_indices_reject_wrong_shape(dataset):
    with pytest.raises(DatasetError, match=r"has length 2 but there are n=3"):
        dataset.indices("10")
    with pytest.raises(DatasetError, match=r"must hold n=3 booleans, got shape \(2,\)"):
        dataset.indices([True, False])


def test_subset_keeps_contributor_order(dataset):
    subset = dataset.subset("011")

    assert subset.contributors == dataset.contributors
    assert subset.counts == {"alice": 0, "bob": 3, "carol": 1}
    assert subset.images[:, 0, 0, 0].tolist() == [2.0, 3.0, 4.0, 5.0]
    assert subset.paths == ["p2.jpg", "p3.jpg", "p4.jpg", "p5.jpg"]
    assert subset.captions == ["caption 2", "caption 3", "caption 4", "caption 5"]
    assert subset.digest != dataset.digest
    assert subset.digest == dataset.subset([False, True, True]).digest


def test_counts_and_summary(dataset):
    summary = dataset.summary()

    assert dataset.counts == {"alice": 2, "bob": 3, "carol": 1}
    assert summary["num_images"] == 6
    assert summary["image_shape"] == [1, 2, 2]
    assert summary["contributors"] == ["alice", "bob", "carol"]
    assert json.loads(json.dumps(summary)) == summary


def test_inconsistent_fields_rejected():
    with pytest.raises(DatasetError, match=r"3 images, \(2,\) labels"):
        ContributorDataset(
            images=torch.zeros(3, 1, 2, 2),
            labels=torch.zeros(2, dtype=torch.int64),
            contributors=["a", "b"],
            paths=["x", "y", "z"],
            captions=None,
            digest="d",
        )
