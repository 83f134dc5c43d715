"""The Wan VAE's RMS norms as one plain reduction (`sanavideo.adapters.wan_norm`): diffusers' values and gradients,
the same module otherwise, and used where the VAE runs."""

import copy
import pickle

import pytest
import torch
from diffusers import AutoencoderKLWan
from diffusers.models.autoencoders.autoencoder_kl_wan import WanRMS_norm

from sanavideo.adapters.vae import WanVAE
from sanavideo.adapters.wan_causal import decode_latents
from sanavideo.adapters.wan_norm import FastWanRMSNorm, use_fast_wan_norms
from sanavideo.train.vae import VAE_PRESETS


def tiny_wan() -> AutoencoderKLWan:
    torch.manual_seed(0)
    config = VAE_PRESETS["test"]
    return AutoencoderKLWan(
        **config, latents_mean=[0.0] * config["z_dim"], latents_std=[1.0] * config["z_dim"]
    ).eval()


@pytest.mark.parametrize("channel_first, images", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fast_norm_equals_diffusers(channel_first, images, dtype):
    torch.manual_seed(1)
    plain = WanRMS_norm(8, channel_first=channel_first, images=images, bias=True)
    with torch.no_grad():
        plain.gamma.uniform_(0.5, 1.5)
        plain.bias.uniform_(-0.5, 0.5)
    fast = copy.deepcopy(plain)
    assert use_fast_wan_norms(fast) == 1 and type(fast) is FastWanRMSNorm
    shape = {(True, True): (2, 8, 5, 6), (True, False): (2, 8, 3, 5, 6), (False, True): (2, 5, 6, 8)}
    x = (torch.randn(shape[channel_first, images]) * 3).to(dtype)
    # an all-zero vector of channels: both divide by the floor, not by zero
    if channel_first:
        x[0, :, ..., 0] = 0.0
    else:
        x[0, 0, 0, :] = 0.0
    expected, got = plain(x), fast(x)
    assert got.dtype == expected.dtype
    tolerance = 1e-6 if dtype == torch.float32 else 2e-2
    assert (got.float() - expected.float()).abs().max() <= tolerance


def test_switched_vae_decodes_and_trains_as_before():
    plain, fast = tiny_wan(), tiny_wan()
    norms = [m for m in plain.modules() if isinstance(m, WanRMS_norm)]
    assert use_fast_wan_norms(fast) == len(norms) > 0
    assert use_fast_wan_norms(fast) == 0  # switching twice is a no-op
    assert fast.state_dict().keys() == plain.state_dict().keys()
    z = torch.randn(1, 4, 3, 4, 4)
    outputs, grads = [], []
    for vae in (plain, fast):
        zz = z.clone().requires_grad_(True)
        out = decode_latents(vae, zz)
        out.square().mean().backward()
        outputs.append(out.detach())
        grads.append((zz.grad, vae.decoder.conv_in.weight.grad))
    assert (outputs[0] - outputs[1]).abs().max() < 1e-5
    for a, b in zip(*grads):
        assert (a - b).abs().max() <= 1e-5 * a.abs().max()


def test_switched_module_pickles():
    fast = tiny_wan()
    use_fast_wan_norms(fast)
    restored = pickle.loads(pickle.dumps(fast))
    assert any(type(m) is FastWanRMSNorm for m in restored.modules())
    z = torch.randn(1, 4, 2, 4, 4)
    with torch.no_grad():
        assert torch.equal(decode_latents(restored, z), decode_latents(fast, z))


def test_the_vae_adapter_switches_its_norms():
    vae = WanVAE(tiny_wan())
    kinds = {type(m) for m in vae.module.modules() if isinstance(m, WanRMS_norm)}
    assert kinds == {FastWanRMSNorm}
