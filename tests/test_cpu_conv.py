"""Batch-1 3x3x3 convs routed to oneDNN (`sanavideo.adapters.cpu_conv`): same values, only where meant."""

import pickle

import pytest
import torch
from diffusers import AutoencoderKLWan

from sanavideo.adapters.cpu_conv import use_onednn_conv3d
from sanavideo.adapters.vae import WanVAE
from sanavideo.adapters.wan_causal import decode_latents
from sanavideo.train.vae import VAE_PRESETS

pytestmark = pytest.mark.skipif(
    not torch.backends.mkldnn.is_available(), reason="PyTorch built without oneDNN"
)


def tiny_wan() -> AutoencoderKLWan:
    """The trainer's `test` preset: the shipped VAE's layout (patchified, 3x3x3 convs), tiny."""
    torch.manual_seed(0)
    config = VAE_PRESETS["test"]
    return AutoencoderKLWan(
        **config, latents_mean=[0.0] * config["z_dim"], latents_std=[1.0] * config["z_dim"]
    ).eval()


def count_onednn_calls(monkeypatch) -> list[int]:
    calls = [0]
    real = torch.mkldnn_convolution

    def counted(*args):
        calls[0] += 1
        return real(*args)

    monkeypatch.setattr(torch, "mkldnn_convolution", counted)
    return calls


def test_routed_decode_equals_pytorch_choice(monkeypatch):
    plain, routed = tiny_wan(), tiny_wan()
    n = use_onednn_conv3d(routed)
    three = [m for m in routed.modules() if isinstance(m, torch.nn.Conv3d) and min(m.kernel_size) > 1]
    assert n == len(three) > 0
    assert use_onednn_conv3d(routed) == 0  # routing twice is a no-op
    calls = count_onednn_calls(monkeypatch)
    z = torch.randn(1, 4, 3, 4, 4)
    with torch.no_grad():
        expected = decode_latents(plain, z)
        assert calls[0] == 0
        got = decode_latents(routed, z)
    assert calls[0] > 0
    assert (got - expected).abs().max() < 1e-5


def test_batch_above_one_keeps_pytorch_choice(monkeypatch):
    plain, routed = tiny_wan(), tiny_wan()
    use_onednn_conv3d(routed)
    calls = count_onednn_calls(monkeypatch)
    z = torch.randn(2, 4, 2, 4, 4)
    with torch.no_grad():
        assert torch.equal(decode_latents(routed, z), decode_latents(plain, z))
    assert calls[0] == 0


def test_routed_conv_has_gradients():
    routed = tiny_wan()
    use_onednn_conv3d(routed)
    z = torch.randn(1, 4, 2, 4, 4, requires_grad=True)
    decode_latents(routed, z).square().mean().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert routed.decoder.conv_in.weight.grad.abs().sum() > 0


def test_the_vae_adapter_routes_its_module(monkeypatch):
    vae = WanVAE(tiny_wan())
    calls = count_onednn_calls(monkeypatch)
    with torch.no_grad():
        vae.decode(torch.randn(1, 4, 2, 4, 4))
    assert calls[0] > 0


def test_routed_module_pickles_and_decodes_the_same():
    routed = tiny_wan()
    use_onednn_conv3d(routed)
    restored = pickle.loads(pickle.dumps(routed))
    z = torch.randn(1, 4, 2, 4, 4)
    with torch.no_grad():
        assert torch.equal(decode_latents(restored, z), decode_latents(routed, z))
