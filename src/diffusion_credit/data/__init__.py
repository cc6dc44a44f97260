"""Contributor datasets: folder, manifest and CIFAR-100 sources, preprocessing, cache, coalitions.

Typical use::

    dataset = load_dataset(config.data)
    members = dataset.indices("1010000000")   # images of contributors 0 and 2
"""

from diffusion_credit.data.cifar100 import CIFAR100_20_CLASSES, CIFAR100_20_SOURCE
from diffusion_credit.data.dataset import ContributorDataset, coalition_bits, parse_coalition
from diffusion_credit.data.errors import DatasetError
from diffusion_credit.data.images import preprocess_image
from diffusion_credit.data.listing import IMAGE_EXTENSIONS
from diffusion_credit.data.loader import load_dataset, resolve_data_path

__all__ = [
    "CIFAR100_20_CLASSES",
    "CIFAR100_20_SOURCE",
    "IMAGE_EXTENSIONS",
    "ContributorDataset",
    "DatasetError",
    "coalition_bits",
    "load_dataset",
    "parse_coalition",
    "preprocess_image",
    "resolve_data_path",
]
