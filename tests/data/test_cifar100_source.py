import sys

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion_credit.data import CIFAR100_20_CLASSES, DatasetError, load_dataset
from diffusion_credit.data import cifar100 as cifar100_module

FINE_LABELS = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can "
    "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin "
    "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster "
    "man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck "
    "pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk "
    "skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger "
    "tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()
SELECTED = [
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table",
]  # fmt: skip


class FakeCIFAR100:
    """torchvision's CIFAR100 interface: 3 images per fine label, pixel value = index % 256."""

    calls: list[dict] = []

    def __init__(self, root, train=True, download=False):
        FakeCIFAR100.calls.append({"root": root, "train": train, "download": download})
        self.classes = list(FINE_LABELS)
        self.targets = [index % 100 for index in range(300)]
        self.data = np.stack([np.full((32, 32, 3), index % 256, dtype=np.uint8) for index in range(300)])


@pytest.fixture()
def fake_cifar(monkeypatch):
    FakeCIFAR100.calls = []
    monkeypatch.setattr(cifar100_module, "_cifar100_class", lambda: FakeCIFAR100)
    return FakeCIFAR100


def test_fine_label_names_match_torchvision_order():
    assert len(FINE_LABELS) == 100
    assert [FINE_LABELS[label] for label in CIFAR100_20_CLASSES] == SELECTED
    assert sorted(CIFAR100_20_CLASSES) == list(range(40, 45)) + list(range(55, 65)) + list(range(80, 85))


def test_cifar100_20_selects_twenty_labels(fake_cifar, make_config, tmp_path):
    dataset = load_dataset(make_config("cifar100-20", resolution=32), progress=False)

    assert dataset.contributors == SELECTED
    assert dataset.counts == dict.fromkeys(SELECTED, 3)
    assert fake_cifar.calls == [{"root": str(tmp_path / "cache" / "torchvision"), "train": True, "download": True}]
    assert dataset.paths[:3] == ["cifar100/train/00040", "cifar100/train/00140", "cifar100/train/00240"]
    for position, path in enumerate(dataset.paths):
        index = int(path.rsplit("/", 1)[1])
        assert FINE_LABELS[index % 100] == dataset.contributors[dataset.labels[position]]
        assert dataset.images[position].flatten()[0].item() == pytest.approx((index % 256) / 127.5 - 1)


def test_cifar100_20_limit_and_cache(fake_cifar, make_config, monkeypatch):
    first = load_dataset(make_config("cifar100-20", max_images_per_contributor=2), progress=False)
    monkeypatch.setattr(Image, "fromarray", lambda *args, **kwargs: pytest.fail("preprocessed on a cache hit"))

    second = load_dataset(make_config("cifar100-20", max_images_per_contributor=2), progress=False)

    assert first.counts == dict.fromkeys(SELECTED, 2)
    assert first.paths[:2] == ["cifar100/train/00040", "cifar100/train/00140"]
    assert first.images.shape == (40, 3, 8, 8)
    assert second.digest == first.digest
    assert torch.equal(second.images, first.images)


def test_cifar100_20_rejects_unexpected_classes(monkeypatch, make_config):
    class Reordered(FakeCIFAR100):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.classes = sorted(self.classes, reverse=True)

    monkeypatch.setattr(cifar100_module, "_cifar100_class", lambda: Reordered)

    with pytest.raises(DatasetError, match=r"fine labels do not match the expected names"):
        load_dataset(make_config("cifar100-20"), progress=False)


def test_cifar100_20_without_torchvision(monkeypatch, make_config):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)

    with pytest.raises(DatasetError, match=r"needs torchvision.*pip install torchvision"):
        load_dataset(make_config("cifar100-20"), progress=False)


def test_cifar100_20_download_failure(monkeypatch, make_config):
    class Offline:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("network unreachable")

    monkeypatch.setattr(cifar100_module, "_cifar100_class", lambda: Offline)

    with pytest.raises(DatasetError, match=r"Cannot download or read CIFAR-100 .*network unreachable"):
        load_dataset(make_config("cifar100-20"), progress=False)
