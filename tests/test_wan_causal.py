"""The whole-clip Wan VAE forward equals diffusers' chunked encode / frame-by-frame decode, also in chunks."""

from __future__ import annotations

import pytest
import torch
from diffusers import AutoencoderKLWan

from sanavideo.adapters.wan_causal import WanCausalDecoder, WanCausalEncoder, decode_latents, encode_moments
from sanavideo.train.vae import VAE_PRESETS


def _tiny(patch: bool) -> AutoencoderKLWan:
    torch.manual_seed(0)
    config = (
        dict(VAE_PRESETS["test"])
        if patch
        else dict(VAE_PRESETS["embedded-light"], base_dim=8, decoder_base_dim=8)
    )
    return AutoencoderKLWan(**config).eval()


@pytest.mark.parametrize("patch", [False, True], ids=["wan2.1", "patchified"])
def test_whole_clip_matches_diffusers(patch):
    vae = _tiny(patch)
    x = torch.rand(2, 3, 17, 32, 32) * 2 - 1
    with torch.no_grad():
        ref = vae.encode(x).latent_dist.parameters
        ours = encode_moments(vae, x)
        assert ours.shape == ref.shape == (2, 2 * vae.config.z_dim, 5, 4, 4)
        torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
        z = ref[:, : vae.config.z_dim]
        torch.testing.assert_close(
            decode_latents(vae, z).clamp(-1, 1), vae.decode(z).sample, atol=1e-5, rtol=0
        )


def test_chunked_decode_equals_one_shot_and_carries_gradients():
    vae = _tiny(patch=True)
    z = torch.randn(1, vae.config.z_dim, 7, 4, 4)
    with torch.no_grad():
        whole = decode_latents(vae, z)
        decoder = WanCausalDecoder(vae)
        parts = [decoder(z[:, :, a:b]) for a, b in ((0, 3), (3, 4), (4, 7))]
    assert [p.shape[2] for p in parts] == [9, 4, 12]  # 1 + 4*2, then 4 frames per latent frame
    torch.testing.assert_close(torch.cat(parts, dim=2), whole, atol=1e-5, rtol=0)

    x = torch.rand(1, 3, 9, 32, 32, requires_grad=True)
    decode_latents(vae, encode_moments(vae, x)[:, : vae.config.z_dim])[:, :, -1].sum().backward()
    assert x.grad[:, :, 0].abs().sum() > 0  # the last frame depends on frame 0 through the conv cache


def test_encode_rejects_frame_counts_off_the_stride():
    with pytest.raises(ValueError, match="1 \\+ 4k frames, got 8"):
        encode_moments(_tiny(patch=True), torch.zeros(1, 3, 8, 32, 32))


def test_streaming_encode_equals_one_shot():
    vae = _tiny(patch=True)
    x = torch.rand(1, 3, 21, 32, 32) * 2 - 1
    with torch.no_grad():
        whole = encode_moments(vae, x)
        encoder = WanCausalEncoder(vae)
        parts = [encoder(x[:, :, a:b]) for a, b in ((0, 5), (5, 13), (13, 21))]
        with pytest.raises(ValueError, match="a multiple of 4 frames, got 3"):
            encoder(x[:, :, :3])
    torch.testing.assert_close(torch.cat(parts, dim=2), whole, atol=1e-5, rtol=0)


@pytest.mark.parametrize("max_pixels", [32 * 32 * 4, 32 * 32 * 8, 2**30])
def test_bounded_pieces_give_the_same_values(max_pixels):
    vae = _tiny(patch=True)
    x = torch.rand(1, 3, 21, 32, 32) * 2 - 1
    with torch.no_grad():
        ref = vae.encode(x).latent_dist.parameters
        torch.testing.assert_close(encode_moments(vae, x, max_pixels=max_pixels), ref, atol=1e-5, rtol=0)
        z = ref[:, : vae.config.z_dim]
        torch.testing.assert_close(
            decode_latents(vae, z, max_pixels=max_pixels).clamp(-1, 1),
            vae.decode(z).sample,
            atol=1e-5,
            rtol=0,
        )
