"""Structural magnitude pruning of a trained diffusion UNet with torch-pruning.

Whole channels are removed, ranked by the L2 norm of their weights within
each layer's dependency group. `ratio` is the fraction of channels
*removed*. What is kept whole:

- `conv_out`, so the network still predicts noise with the image's channels;
- the `to_q`/`to_k`/`to_v` projections of attention blocks, so the number of
  heads and the head width stay valid for the installed attention processor
  (their input width and `to_out`'s output width follow the residual stream);
- the GroupNorm groups: channels tied to a GroupNorm are removed at the same
  position inside every group, so `num_groups` still divides the channel
  count. Because of this a layer with `g` channels per group keeps
  `floor(g * (1 - ratio))` of them, e.g. 2 of 4 at ratio 0.3.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch_pruning as tp
from diffusers.models.attention_processor import Attention
from torch import nn

from diffusion_credit.models import DiffusionModel
from diffusion_credit.models.shapes import sync_module_attributes

logger = logging.getLogger(__name__)


@dataclass
class PruneReport:
    """Size of a model before and after pruning.

    Attributes:
        params_before: UNet parameter count before pruning.
        params_after: UNet parameter count after pruning.
        macs_before: multiply-accumulates of one forward pass on one sample, before.
        macs_after: the same after pruning.
        ratio: the requested fraction of channels removed per layer.
        channels_before: total output channels of all Conv2d and Linear layers, before.
        channels_after: the same after pruning; `1 - channels_after / channels_before`
            is the fraction actually removed (GroupNorm groups round it up).
    """

    params_before: int
    params_after: int
    macs_before: float
    macs_after: float
    ratio: float
    channels_before: int = 0
    channels_after: int = 0

    @property
    def params_kept(self) -> float:
        """Fraction of parameters kept, `params_after / params_before`."""
        return self.params_after / self.params_before


def prune_model(
    model: DiffusionModel, ratio: float, *, example_inputs: tuple[torch.Tensor, torch.Tensor] | None = None
) -> PruneReport:
    """Remove the fraction `ratio` of channels of `model.unet` in place, by weight magnitude.

    Args:
        model: a trained model of family `pixel`; its UNet is pruned in place,
            the optimizer state of any earlier training no longer fits it.
        ratio: fraction of channels removed from each prunable layer, in [0, 1).
            0 leaves the model unchanged.
        example_inputs: `(x_t, timesteps)` to trace the network with, float32
            [B, *sample_shape] and int64 [B]; a single random sample by default.

    Returns:
        The parameter and MAC counts before and after.

    Raises:
        ValueError: if `ratio` is outside [0, 1) or the family has no prunable UNet.
    """
    if not 0 <= ratio < 1:
        raise ValueError(f"Pruning ratio is the fraction of channels removed and must be in [0, 1), got {ratio}.")
    if model.family != "pixel":
        raise ValueError(f"Channel pruning supports model family 'pixel', got {model.family!r}.")
    unet = model.unet
    inputs = example_inputs if example_inputs is not None else _default_inputs(model)
    macs_before, params_before = tp.utils.count_ops_and_params(unet, inputs)
    channels_before = _count_channels(unet)

    if ratio > 0:
        was_training = unet.training
        unet.eval()
        pruner = tp.pruner.MetaPruner(
            unet,
            inputs,
            importance=tp.importance.MagnitudeImportance(p=2),
            pruning_ratio=ratio,
            ignored_layers=_ignored_layers(unet),
        )
        pruner.step()
        sync_module_attributes(unet)
        unet.train(was_training)

    macs_after, params_after = tp.utils.count_ops_and_params(unet, inputs)
    report = PruneReport(
        params_before=int(params_before),
        params_after=int(params_after),
        macs_before=float(macs_before),
        macs_after=float(macs_after),
        ratio=ratio,
        channels_before=channels_before,
        channels_after=_count_channels(unet),
    )
    logger.info(
        "Pruned %.0f%% of channels: %d -> %d parameters (%.1f%% kept), %.3g -> %.3g MACs",
        100 * ratio,
        report.params_before,
        report.params_after,
        100 * report.params_kept,
        report.macs_before,
        report.macs_after,
    )
    return report


def _ignored_layers(unet: nn.Module) -> list[nn.Module]:
    ignored: list[nn.Module] = [unet.conv_out]
    for module in unet.modules():
        if isinstance(module, Attention):
            ignored.extend([module.to_q, module.to_k, module.to_v])
    return ignored


def _default_inputs(model: DiffusionModel) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn((1, *model.sample_shape), generator=generator).to(model.device)
    timesteps = torch.ones(1, dtype=torch.long, device=model.device)
    return sample, timesteps


def _count_channels(unet: nn.Module) -> int:
    return sum(
        module.weight.shape[0] for module in unet.modules() if isinstance(module, (nn.Conv2d, nn.Linear))
    )
