"""Parity of SanaVideoTransformer with diffusers' SanaVideoTransformer3DModel on random tiny weights.

Where upstream and diffusers differ numerically (docs/reference.md §6.1) the model follows the numerics of the format it
was loaded from: a diffusers folder sets float timesteps, linear-attention eps 1e-15 and cross-attention
RMSNorm eps 1e-5, which is what these tests load. `test_upstream_numerics_*` check the upstream settings
(integer timesteps) separately.
"""

from __future__ import annotations

import pytest
import torch
from diffusers import SanaVideoTransformer3DModel

from sanavideo.config import ModelConfig, get_preset
from sanavideo.convert.io import config_to_diffusers, save_diffusers
from sanavideo.model import SanaVideoTransformer


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


# variants of the `tiny` presets (the one definition of a test-sized model), each changing what it names
TINY = get_preset("tiny")
CONFIGS = {
    "p122-2heads": TINY,
    "p111-4heads-d8": get_preset("tiny-p1").replace(in_channels=6, out_channels=6),
    "p122-3heads-d12-3layers": TINY.replace(
        num_layers=3,
        num_heads=3,
        head_dim=12,
        cross_num_heads=3,
        cross_head_dim=12,
        caption_channels=20,
        mlp_ratio=3.0,
    ),
}


def random_weights(model: torch.nn.Module, seed: int) -> None:
    """Non-trivial weights everywhere (the zero-initialised temporal conv included)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        for name, p in model.named_parameters():
            if "norm" in name:  # RMSNorm weights near one
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))


def pair(cfg: ModelConfig, tmp_path, seed=0) -> tuple[SanaVideoTransformer, SanaVideoTransformer3DModel]:
    ours = SanaVideoTransformer(cfg)
    random_weights(ours, seed)
    save_diffusers(ours.state_dict(), cfg, tmp_path / "transformer")
    ref = SanaVideoTransformer3DModel.from_pretrained(tmp_path / "transformer").eval()
    loaded = SanaVideoTransformer.from_pretrained(tmp_path / "transformer")
    return loaded, ref


def run_ref(ref, x, t, emb, mask, patch):
    if t.ndim == 2:  # per-frame -> per-token timesteps, as diffusers' image-to-video pipeline passes them
        _, _, f, h, w = x.shape
        t = t[:, :, None].expand(-1, -1, (h // patch[1]) * (w // patch[2])).reshape(t.shape[0], -1)
    return ref(x, encoder_hidden_states=emb, timestep=t, encoder_attention_mask=mask, return_dict=False)[0]


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("frames", [1, 3, 5])
def test_parity_with_diffusers(name, frames, tmp_path):
    cfg = CONFIGS[name]
    ours, ref = pair(cfg, tmp_path)
    assert ours.config.integer_timesteps is False and ours.config.linear_attn_eps == 1e-15
    g = torch.Generator().manual_seed(1)
    B, L = 2, 7
    x = torch.randn(B, cfg.in_channels, frames, 8, 12, generator=g)
    t = torch.tensor([999.0, 417.37])  # fractional: diffusers does not truncate
    emb = torch.randn(B, L, cfg.caption_channels, generator=g)
    mask = torch.ones(B, L)
    mask[1, 4:] = 0  # padded prompt
    with torch.no_grad():
        out = ours(x, t, emb, mask)
        expected = run_ref(ref, x, t, emb, mask, cfg.patch_size)
    assert out.shape == expected.shape == x.shape
    assert rel_err(out, expected) < 1e-4


@pytest.mark.parametrize("name", ["p122-2heads", "p111-4heads-d8"])
def test_parity_per_frame_timesteps(name, tmp_path):
    """Image-to-video: frame 0 at t=0, the others at a fractional t (frame-aware adaLN)."""
    cfg = CONFIGS[name]
    ours, ref = pair(cfg, tmp_path, seed=3)
    g = torch.Generator().manual_seed(2)
    B, F = 2, 5
    x = torch.randn(B, cfg.in_channels, F, 6, 8, generator=g)
    t = torch.tensor([[0.0, 731.5, 731.5, 731.5, 731.5], [0.0, 12.25, 12.25, 12.25, 12.25]])
    emb = torch.randn(B, 5, cfg.caption_channels, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.float32)
    with torch.no_grad():
        out = ours(x, t, emb, mask)
        expected = run_ref(ref, x, t, emb, mask, cfg.patch_size)
    assert rel_err(out, expected) < 1e-4


def test_padding_mask_matters(tmp_path):
    """The padded prompt tokens are really masked: changing them changes nothing, unmasking them does."""
    cfg = CONFIGS["p122-2heads"]
    ours, _ = pair(cfg, tmp_path)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 4, 3, 4, 4, generator=g)
    emb = torch.randn(1, 6, cfg.caption_channels, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0]], dtype=torch.float32)
    emb2 = emb.clone()
    emb2[:, 3:] = torch.randn(1, 3, cfg.caption_channels, generator=g)
    t = torch.tensor([500.0])
    with torch.no_grad():
        a, b = ours(x, t, emb, mask), ours(x, t, emb2, mask)
        c = ours(x, t, emb2, torch.ones(1, 6))
    assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(a, c, atol=1e-3)


def test_upstream_numerics_truncate_timesteps(tmp_path):
    """Upstream truncates t to an integer inside the model; diffusers does not (docs/reference.md §6.1 item 3)."""
    cfg = CONFIGS["p122-2heads"]
    ours, ref = pair(cfg, tmp_path)
    upstream = SanaVideoTransformer(
        ours.config.replace(integer_timesteps=True, linear_attn_eps=1e-15, cross_norm_eps=1e-5)
    )
    upstream.load_state_dict(ours.state_dict())
    g = torch.Generator().manual_seed(4)
    x = torch.randn(1, 4, 3, 4, 4, generator=g)
    emb = torch.randn(1, 5, cfg.caption_channels, generator=g)
    with torch.no_grad():
        truncated = upstream(x, torch.tensor([417.9]), emb)
        expected = run_ref(ref, x, torch.tensor([417.0]), emb, None, cfg.patch_size)
        fractional = run_ref(ref, x, torch.tensor([417.9]), emb, None, cfg.patch_size)
    assert rel_err(truncated, expected) < 1e-4
    assert rel_err(truncated, fractional) > 1e-5  # the truncation is visible


def test_diffusers_config_round_trip():
    for cfg in CONFIGS.values():
        from sanavideo.convert.io import config_from_diffusers

        back = config_from_diffusers(config_to_diffusers(cfg))
        assert (
            back.replace(
                integer_timesteps=True, linear_attn_eps=1e-8, cross_norm_eps=1e-6, sample_size=cfg.sample_size
            )
            == cfg
        )
