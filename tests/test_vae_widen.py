"""Widening a trained VAE's decoder (sanavideo.train.vae_widen): the wide decoder decodes as the narrow one did, the
encoder and latent statistics are untouched, and `train-vae --widen-decoder` trains the new channels."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from sanavideo.train.vae import VAETrainArgs, build_vae, render_pool, to_model_input, train_vae
from sanavideo.train.vae_widen import widen_decoder


def test_wider_decoder_decodes_as_the_narrow_one():
    torch.manual_seed(0)
    vae = build_vae("test", seed=0).eval()
    for p in vae.decoder.parameters():  # trained gains and q rows differ from the fresh init's ones
        p.data.mul_(1.0 + 0.3 * torch.rand_like(p))
    wide = widen_decoder(vae, 12).eval()
    assert wide.config.decoder_base_dim == 12 and vae.config.decoder_base_dim == 8
    n_old = sum(p.numel() for p in vae.decoder.parameters())
    assert sum(p.numel() for p in wide.decoder.parameters()) > 2 * n_old
    clips = torch.from_numpy(render_pool(2, 9, 32, seed=0))
    with torch.no_grad():
        z = vae.encode(to_model_input(clips, torch.device("cpu"))).latent_dist.mean  # (B, C, T', H', W')
        a, b = vae.decode(z).sample, wide.decode(z).sample
    assert (a.abs() < 0.99).float().mean() > 0.5  # mostly inside decode's clamp to [-1, 1]
    assert (a - b).abs().max() < 1e-5
    narrow, widened = vae.state_dict(), wide.state_dict()
    assert all(torch.equal(narrow[k], widened[k]) for k in narrow if not k.startswith("decoder."))
    with pytest.raises(ValueError, match=r"must exceed the old one \(8\), got 8"):
        widen_decoder(vae, 8)


def test_train_vae_widens_then_trains_the_decoder(tmp_path):
    base = dict(render=12, preset="test", batch=2, frames=9, size=32, warmup=1, eval_clips=2, stats_clips=4)
    train_vae(VAETrainArgs(out=str(tmp_path / "a"), steps=2, **base), log=lambda msg: None)
    init = str(tmp_path / "a")
    wide = VAETrainArgs(
        out=str(tmp_path / "b"), steps=3, lr=3e-3, init=init, decoder_only=True, widen_decoder=12, **base
    )
    train_vae(wide, log=lambda msg: None)
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["decoder_base_dim"] == 12
    a = load_file(tmp_path / "a" / "diffusion_pytorch_model.safetensors")
    b = load_file(tmp_path / "b" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith(("encoder.", "quant_conv.")))
    conv = "decoder.conv_in.weight"  # (out, in, t, h, w): rows 16.. are the new channels, zero at the start
    assert a[conv].shape[0] == 16 and b[conv].shape[0] == 24 and b[conv][16:].abs().max() > 0
    with pytest.raises(ValueError, match="give the VAE with --init"):
        train_vae(VAETrainArgs(out=str(tmp_path / "c"), steps=1, widen_decoder=12, **base))
