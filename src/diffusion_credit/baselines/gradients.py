"""Per-sample gradients of a whole model with `torch.func`.

`per_sample_gradients` vectorises `grad` of a per-example loss over a batch
with `vmap`, calling the model through `functional_call` with detached
parameters, so the model's own `.grad` fields are never touched.

diffusers' default attention processor calls
`F.scaled_dot_product_attention`. Under `vmap` on CPU (torch 2.13) it runs
but falls back to a per-example loop, because the fused CPU kernel has no
batching rule. Fused CUDA kernels may lack one as well. `math_attention`
therefore swaps in the plain math processor `AttnProcessor` for gradient
computation and restores the previous processors afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

__all__ = ["math_attention", "parameter_count", "per_sample_gradients", "resolve_unet", "to_training_space", "sample_shape"]


def resolve_unet(model: object) -> tuple[nn.Module, object]:
    """Return `(unet, noise_scheduler)` from a `DiffusionModel` or a `(unet, scheduler)` pair.

    Raises:
        TypeError: when `model` is neither.
    """
    if hasattr(model, "unet") and hasattr(model, "noise_scheduler"):
        return model.unet, model.noise_scheduler
    if isinstance(model, (tuple, list)) and len(model) == 2 and isinstance(model[0], nn.Module):
        return model[0], model[1]
    raise TypeError(
        f"Expected a DiffusionModel (with .unet and .noise_scheduler) or a (unet, scheduler) pair, "
        f"got {type(model).__name__}."
    )


def to_training_space(model: object, images: torch.Tensor) -> torch.Tensor:
    """Map images in [-1, 1] to the space the UNet denoises: the family's hook for a `DiffusionModel`, else unchanged."""
    family = getattr(model, "family_impl", None)
    if family is None:
        return images
    with torch.no_grad():
        return family.to_training_space(model, images)


def sample_shape(model: object, images: torch.Tensor) -> tuple[int, ...]:
    """Return `(C, H, W)` of one sample in the UNet's space: `model.sample_shape` when present, else the images' shape."""
    shape = getattr(model, "sample_shape", None)
    return tuple(shape) if shape is not None else tuple(images.shape[1:])


@contextlib.contextmanager
def math_attention(module: nn.Module) -> Iterator[nn.Module]:
    """Use diffusers' plain math attention processor inside the block, then restore the old ones."""
    from diffusers.models.attention_processor import Attention, AttnProcessor

    layers = [layer for layer in module.modules() if isinstance(layer, Attention)]
    previous = [layer.get_processor() for layer in layers]
    try:
        for layer in layers:
            layer.set_processor(AttnProcessor())
        yield module
    finally:
        for layer, processor in zip(layers, previous):
            layer.set_processor(processor)


def parameter_count(module: nn.Module) -> int:
    """Count `P`, the trainable parameters a flattened per-sample gradient has."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def per_sample_gradients(
    module: nn.Module,
    loss_fn: Callable[..., torch.Tensor],
    batched: Sequence[torch.Tensor],
    shared: Sequence[torch.Tensor] = (),
) -> torch.Tensor:
    """Compute the gradient of a per-example loss for every example of a batch.

    Args:
        module: the model; its trainable parameters are differentiated, in
            `named_parameters()` order. Put it in eval mode first if it has
            dropout, because `vmap` cannot batch random masks consistently.
        loss_fn: `loss_fn(call, *example, *shared) -> scalar`, where
            `call(*inputs)` runs `module` on `inputs` with the parameters
            being differentiated. `example` is one example's slice of each
            `batched` tensor.
        batched: tensors whose first dimension is the batch `B`.
        shared: tensors passed whole to every example.

    Returns:
        float32 [B, P], row `b` the flattened gradient of example `b`'s loss.
    """
    names = [name for name, p in module.named_parameters() if p.requires_grad]
    params = {name: p.detach() for name, p in module.named_parameters() if p.requires_grad}

    def loss_of_params(values: dict[str, torch.Tensor], *args: torch.Tensor) -> torch.Tensor:
        def call(*inputs: torch.Tensor) -> object:
            return functional_call(module, values, inputs)

        return loss_fn(call, *args)

    in_dims = (None,) + (0,) * len(batched) + (None,) * len(shared)
    gradients = vmap(grad(loss_of_params), in_dims=in_dims)(params, *batched, *shared)
    return torch.cat([gradients[name].flatten(1) for name in names], dim=1)
