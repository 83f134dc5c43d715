"""Softening cross-attention heads (sanavideo.train.soften): a softened head averages the caption's values."""

from __future__ import annotations

import pytest
import torch

from sanavideo.config import get_preset
from sanavideo.model import SanaVideoTransformer
from sanavideo.train.soften import soften_cross_attention


def _sharp_heads_and_identity_proj(attn) -> None:
    with torch.no_grad():
        attn.proj.weight.copy_(torch.eye(attn.proj.weight.shape[0]))
        attn.proj.bias.zero_()
        attn.q_norm.weight.mul_(8.0)  # sharp trained-like attention, so that "uniform" is a visible change


def test_a_softened_head_attends_evenly_to_the_real_tokens_and_the_others_are_unchanged():
    torch.manual_seed(0)
    model = SanaVideoTransformer(get_preset("tiny"))
    attn = model.blocks[0].cross_attn
    _sharp_heads_and_identity_proj(attn)
    H, d = attn.heads, attn.head_dim
    x, y = torch.randn(2, 6, H * d), torch.randn(2, 5, H * d)
    real = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    bias = torch.where(real, 0.0, -10000.0)[:, None, None, :]  # (B, 1, 1, L)
    with torch.no_grad():
        before = attn(x, y, bias)
        soften_cross_attention(model, heads=[1], factor=0.0)
        after = attn(x, y, bias)
        v = attn.kv_linear(y).chunk(2, dim=-1)[1]  # (B, L, D)
    head = slice(d, 2 * d)
    mean_v = torch.stack([v[b, real[b], head].mean(0) for b in range(2)])  # (B, d)
    torch.testing.assert_close(after[:, :, head], mean_v[:, None].expand(-1, 6, -1), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(before[:, :, head], after[:, :, head], atol=1e-3)
    others = torch.ones(H * d, dtype=torch.bool)
    others[head] = False
    torch.testing.assert_close(after[:, :, others], before[:, :, others])


def test_factor_one_changes_nothing_and_bad_arguments_are_refused():
    torch.manual_seed(0)
    model = SanaVideoTransformer(get_preset("tiny"))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    soften_cross_attention(model, heads=[0], factor=1.0)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    heads = model.config.cross_num_heads
    with pytest.raises(ValueError, match=rf"\[0, {heads}\), got \[{heads}\]"):
        soften_cross_attention(model, heads=[heads], factor=0.1)
    with pytest.raises(ValueError, match="got 1.5"):
        soften_cross_attention(model, heads=[0], factor=1.5)
