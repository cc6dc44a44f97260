"""The LAION aesthetic score: a linear head on L2-normalised CLIP image embeddings.

The LAION aesthetic predictor v1 heads (`sa_0_4_vit_*_linear.pth`) are
`nn.Linear(D, 1)` state dicts with keys `weight` [1, D] and `bias` [1],
trained on normalised CLIP embeddings: D = 768 for ViT-L/14 and 512 for
ViT-B/32 and ViT-B/16. Scores are roughly on the 1–10 rating scale. The
property is a quantile of the per-image scores (0.9 by default).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from diffusion_credit.config import PropertyConfig
from diffusion_credit.properties.backends import EmbeddingBackend, build_backend, module_digest
from diffusion_credit.properties.base import GlobalProperty, PropertyResult, check_unit_interval, register_property

__all__ = ["AESTHETIC_HEAD_URL", "AestheticScore", "load_aesthetic_head", "aesthetic_scores"]

logger = logging.getLogger(__name__)

AESTHETIC_HEAD_URL = "https://github.com/LAION-AI/aesthetic-predictor/raw/main/sa_0_4_vit_l_14_linear.pth"


def load_aesthetic_head(path: str | Path, *, cache_dir: str | Path = ".cache/diffusion-credit") -> nn.Linear:
    """Load a LAION aesthetic linear head into an `nn.Linear(D, 1)` in eval mode.

    Args:
        path: a local `.pth` state dict with `weight` [1, D] and `bias` [1],
            or a URL (downloaded once into `<cache_dir>/weights`).
        cache_dir: root cache folder for downloads.

    Raises:
        FileNotFoundError: `path` is neither a file nor a URL.
        ValueError: the state dict does not hold a linear head with one output.
    """
    path = str(path)
    if path.startswith(("http://", "https://")):
        target = Path(cache_dir) / "weights" / Path(path).name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(path, str(target), progress=False)
        path = str(target)
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"Aesthetic head {path!r} not found; pass property.head as the path of a LAION "
            "sa_0_4_vit_*_linear.pth file or its URL."
        )

    state = torch.load(path, map_location="cpu", weights_only=True)
    weight, bias = state.get("weight"), state.get("bias")
    if weight is None or bias is None or weight.ndim != 2 or weight.shape[0] != 1 or bias.shape != (1,):
        shapes = {key: tuple(value.shape) for key, value in state.items()}
        raise ValueError(f"{path} is not a linear aesthetic head (weight [1, D], bias [1]); its tensors are {shapes}.")

    head = nn.Linear(weight.shape[1], 1)
    head.load_state_dict({"weight": weight.float(), "bias": bias.float()})
    return head.eval()


@torch.no_grad()
def aesthetic_scores(embeddings: torch.Tensor, head: nn.Linear) -> np.ndarray:
    """Score CLIP image embeddings [N, D] with `head` after L2 normalisation; float64 [N]."""
    if embeddings.ndim != 2 or embeddings.shape[1] != head.in_features:
        raise ValueError(
            f"The aesthetic head takes embeddings [N, {head.in_features}], got shape {tuple(embeddings.shape)}; "
            "pair the head with the CLIP model it was trained for (ViT-L/14: 768, ViT-B/32 and B/16: 512)."
        )
    normalised = embeddings.float() / embeddings.float().norm(dim=1, keepdim=True).clamp_min(1e-12)
    return head(normalised.to(head.weight.device)).squeeze(1).double().cpu().numpy()


@register_property("aesthetic_score")
class AestheticScore(GlobalProperty):
    """A quantile of the LAION aesthetic scores of generated images (backend `clip`).

    `per_image` contains each image's aesthetic score. The quantile uses
    numpy's default linear interpolation.
    """

    def __init__(self, backend: EmbeddingBackend, head: nn.Linear, *, head_source: str, quantile: float = 0.9):
        check_unit_interval("property.quantile", quantile)
        embedding_dim = getattr(backend, "embedding_dim", None)
        if embedding_dim is not None and embedding_dim != head.in_features:
            raise ValueError(
                f"The aesthetic head {head_source!r} takes {head.in_features}-d embeddings but the CLIP model "
                f"returns {embedding_dim}-d ones; pair ViT-L/14 with sa_0_4_vit_l_14_linear.pth (768) and "
                "ViT-B/32 or B/16 with their 512-d heads."
            )
        self.backend = backend
        self.head = head.to(backend.device)
        self.head_source = head_source
        self.head_digest = module_digest(head)
        self.quantile = quantile

    @classmethod
    def from_config(cls, config: PropertyConfig, *, dataset, device="cpu", cache_dir=".cache/diffusion-credit", progress=True):
        if config.backend != "clip":
            raise ValueError(
                f"The aesthetic score needs CLIP image embeddings, got property.backend={config.backend!r}; "
                "set property.backend to 'clip'."
            )
        head_source = config.head or AESTHETIC_HEAD_URL
        head = load_aesthetic_head(head_source, cache_dir=cache_dir)
        backend = build_backend(config, dataset=dataset, device=device, cache_dir=cache_dir, progress=progress)
        return cls(backend, head, head_source=head_source, quantile=config.quantile)

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "quantile": self.quantile,
            "quantile_method": "linear",
            "head": self.head_source,
            "head_digest": self.head_digest,
            **self.backend.settings,
        }

    def compute(self, images: torch.Tensor) -> PropertyResult:
        scores = aesthetic_scores(self.backend.features(images), self.head)
        return PropertyResult(float(np.quantile(scores, self.quantile)), scores, self.settings)
