"""Structural magnitude pruning of the pixel UNet."""

import pytest
import torch
from diffusers.models.attention_processor import Attention
from diffusers.models.downsampling import Downsample2D
from diffusers.models.upsampling import Upsample2D
from torch import nn

from diffusion_credit.config import FinetuneConfig, ModelConfig
from diffusion_credit.models import DiffusionModel, create_model
from diffusion_credit.pruning import prune_model
from diffusion_credit.training import finetune

SHAPE = (3, 8, 8)


def tiny_model(seed: int = 0) -> DiffusionModel:
    config = ModelConfig(block_out_channels=[16, 32], attention_levels=[False, True], norm_num_groups=4)
    return create_model(config, SHAPE, seed=seed)


def probe(model: DiffusionModel) -> torch.Tensor:
    generator = torch.Generator().manual_seed(11)
    x_t = torch.randn((2, *SHAPE), generator=generator)
    with torch.no_grad():
        return model.predict_noise(x_t, torch.tensor([10, 900]))


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=[0.1, 0.3, 0.5])
def pruned(request):
    model = tiny_model()
    original_conv_out = model.unet.conv_out.weight.detach().clone(), model.unet.conv_out.bias.detach().clone()
    report = prune_model(model, request.param)
    return request.param, model, report, original_conv_out


def test_params_shrink_as_expected(pruned):
    ratio, model, report, _ = pruned
    kept = report.params_after / report.params_before
    assert report.params_before == tiny_model().num_parameters()
    assert report.params_after == model.num_parameters()
    # Conv weights scale with (1 - r)^2. GroupNorm groups round the kept channels
    # down, and the unpruned q/k/v projections and conv_out outputs keep some more.
    assert 0.6 * (1 - ratio) ** 2 < kept < 1.25 * (1 - ratio) ** 2
    assert report.macs_after < report.macs_before
    assert report.channels_after < report.channels_before
    assert report.ratio == ratio


def test_conv_out_untouched(pruned):
    _, model, _, (weight, bias) = pruned
    conv_out = model.unet.conv_out
    assert conv_out.out_channels == 3
    assert torch.equal(conv_out.bias, bias)
    # Only input channels may go, and every kept one is an original column.
    for column in conv_out.weight.detach().unbind(1):
        assert any(torch.equal(column, original) for original in weight.unbind(1))


def test_modules_agree_with_tensors(pruned):
    _, model, _, _ = pruned
    for name, module in model.unet.named_modules():
        if isinstance(module, nn.GroupNorm):
            assert module.num_channels == module.weight.shape[0], name
            assert module.num_channels % module.num_groups == 0, name
        if isinstance(module, nn.Conv2d):
            assert module.out_channels == module.weight.shape[0], name
            assert module.in_channels == module.weight.shape[1], name
        if isinstance(module, (Upsample2D, Downsample2D)):
            assert module.channels == module.conv.weight.shape[1], name
        if isinstance(module, Attention):
            assert module.query_dim == module.to_q.in_features, name
            assert module.to_q.out_features % module.heads == 0, name
            assert type(module.processor).__name__ == "AttnProcessor2_0", name


def test_forward_backward_finetune(pruned, tmp_path):
    _, model, _, _ = pruned
    x_t = torch.randn((2, *SHAPE))
    output = model.predict_noise(x_t, torch.tensor([5, 50]))
    assert output.shape == x_t.shape
    output.square().mean().backward()
    assert all(p.grad is not None for p in model.unet.parameters())
    model.unet.zero_grad(set_to_none=True)

    images = torch.rand((4, *SHAPE)) * 2 - 1
    result = finetune(model, images, FinetuneConfig(steps=3, batch_size=4), progress=False)
    assert len(result.losses) == 3
    assert all(torch.isfinite(torch.tensor(result.losses)))


def test_save_reload_identical(pruned, tmp_path):
    _, model, _, _ = pruned
    model.save(tmp_path / "pruned")
    loaded = DiffusionModel.load(tmp_path / "pruned")
    assert loaded.num_parameters() == model.num_parameters()
    assert torch.equal(probe(loaded), probe(model))
    shapes = {name: tensor.shape for name, tensor in model.unet.state_dict().items()}
    assert {name: tensor.shape for name, tensor in loaded.unet.state_dict().items()} == shapes


def test_ratio_zero_is_noop():
    model = tiny_model()
    before = probe(model)
    report = prune_model(model, 0.0)
    assert report.params_after == report.params_before
    assert torch.equal(probe(model), before)


def test_larger_ratio_prunes_more():
    counts = [prune_model(tiny_model(), ratio).params_after for ratio in (0.1, 0.3, 0.5)]
    assert counts[0] > counts[1] > counts[2]


def test_custom_example_inputs():
    model = tiny_model()
    inputs = (torch.zeros((2, *SHAPE)), torch.tensor([1, 2]))
    report = prune_model(model, 0.3, example_inputs=inputs)
    assert report.params_after == model.num_parameters()
    assert report.macs_before > report.macs_after


def test_other_family_rejected():
    model = tiny_model()
    model.family = "latent"
    with pytest.raises(ValueError, match="family 'pixel'"):
        prune_model(model, 0.3)


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5])
def test_invalid_ratio_rejected(ratio):
    with pytest.raises(ValueError, match="fraction of channels removed"):
        prune_model(tiny_model(), ratio)
