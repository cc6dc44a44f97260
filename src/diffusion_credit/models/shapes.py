"""Keep diffusers modules consistent with their tensors after channel pruning.

Structural pruning shrinks weight tensors but leaves the bookkeeping
attributes of diffusers blocks (`Upsample2D.channels`, `Attention.query_dim`,
`ResnetBlock2D.in_channels`, ...) at their old values, and a pruned UNet
cannot be rebuilt from its diffusers config. `sync_module_attributes` sets
the attributes from the tensors. `resize_to_state_dict` shrinks a freshly
built network to the tensor shapes of a saved state dict, so that the
state dict then loads into it.
"""

from __future__ import annotations

import logging

import torch
from diffusers.models.attention_processor import Attention
from diffusers.models.downsampling import Downsample2D
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.upsampling import Upsample2D
from torch import nn

logger = logging.getLogger(__name__)


def sync_module_attributes(network: nn.Module) -> None:
    """Set the channel attributes of every module of `network` from its weights.

    Raises:
        ValueError: if a GroupNorm's `num_groups` no longer divides its channels.
    """
    for name, module in network.named_modules():
        if isinstance(module, nn.Conv2d):
            module.in_channels = module.weight.shape[1] * module.groups
            module.out_channels = module.weight.shape[0]
        elif isinstance(module, nn.Linear):
            module.in_features = module.weight.shape[1]
            module.out_features = module.weight.shape[0]
        elif isinstance(module, nn.GroupNorm):
            _sync_group_norm(name, module)
        elif isinstance(module, ResnetBlock2D):
            module.in_channels = module.conv1.in_channels
            module.out_channels = module.conv2.out_channels
        elif isinstance(module, (Upsample2D, Downsample2D)):
            _sync_resampler(module)
        elif isinstance(module, Attention):
            _sync_attention(module)


def resize_to_state_dict(network: nn.Module, state_dict: dict[str, torch.Tensor]) -> int:
    """Replace the parameters and buffers of `network` by empty ones of the saved shapes.

    Only the shapes change; call `network.load_state_dict(state_dict)` after
    this to fill in the values. Returns the number of tensors resized.

    Raises:
        KeyError: if `state_dict` lacks a tensor of `network` (a different architecture).
    """
    resized = 0
    for name, tensor in list(network.named_parameters()) + list(network.named_buffers()):
        if name not in state_dict:
            raise KeyError(f"Saved weights have no tensor {name!r}; they belong to a different architecture.")
        saved_shape = state_dict[name].shape
        if tensor.shape == saved_shape:
            continue
        owner_name, _, attribute = name.rpartition(".")
        owner = network.get_submodule(owner_name)
        empty = torch.empty(saved_shape, dtype=tensor.dtype, device=tensor.device)
        if isinstance(tensor, nn.Parameter):
            setattr(owner, attribute, nn.Parameter(empty, requires_grad=tensor.requires_grad))
        else:
            owner.register_buffer(attribute, empty)
        resized += 1
    sync_module_attributes(network)
    return resized


def _sync_group_norm(name: str, module: nn.GroupNorm) -> None:
    if module.affine:
        module.num_channels = module.weight.shape[0]
    if module.num_channels % module.num_groups:
        raise ValueError(
            f"GroupNorm {name!r} has {module.num_channels} channels, not divisible by num_groups={module.num_groups}; "
            "prune with channel groups that follow the GroupNorm groups."
        )


def _sync_resampler(module: Upsample2D | Downsample2D) -> None:
    convolution = getattr(module, "conv", None)
    if isinstance(convolution, nn.Conv2d):
        module.channels = convolution.weight.shape[1]
        module.out_channels = convolution.weight.shape[0]
    elif module.norm is not None and module.norm.weight is not None:
        module.channels = module.out_channels = module.norm.weight.shape[0]


def _sync_attention(module: Attention) -> None:
    # The query width (channels of the residual stream) may shrink; the inner
    # width of q/k/v stays whole, so `heads` and the head dimension stay valid.
    module.query_dim = module.to_q.in_features
    module.inner_dim = module.to_q.out_features
    module.inner_kv_dim = module.to_k.out_features
    module.out_dim = module.to_out[0].out_features
    if not module.is_cross_attention:
        module.cross_attention_dim = module.to_k.in_features
    if module.inner_dim % module.heads:
        raise ValueError(
            f"Attention inner width {module.inner_dim} is not divisible by heads={module.heads}; "
            "the q/k/v projections must not be pruned (keep them in the ignored layers)."
        )
