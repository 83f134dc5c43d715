"""The model's backend seam (`sanavideo.model.ops`): a linear-attention kernel plugs in without touching the
model."""

from __future__ import annotations

import torch

from sanavideo.config import get_preset
from sanavideo.model import SanaVideoTransformer
from sanavideo.model.attention import rotary_linear_attention
from sanavideo.model.ops import use_linear_attention


def test_a_plugged_in_kernel_runs_every_block_and_can_be_taken_out():
    torch.manual_seed(0)
    model = SanaVideoTransformer(get_preset("tiny")).eval()
    x = torch.randn(1, 4, 4, 4, 4)
    emb, t = torch.randn(1, 5, 24), torch.tensor([500.0])
    calls = []

    def kernel(q, k, v, rotation, chunk_tokens, eps, history=None):
        calls.append((tuple(q.shape), tuple(chunk_tokens)))
        return rotary_linear_attention(q, k, v, rotation, chunk_tokens, eps, history)

    with torch.no_grad():
        reference = model(x, t, emb, chunk_frames=2)
        use_linear_attention(model, kernel)
        plugged = model(x, t, emb, chunk_frames=2)
        use_linear_attention(model, None)
        again = model(x, t, emb, chunk_frames=2)
    assert torch.equal(plugged, reference) and torch.equal(again, reference)
    # (B, N, H, d) features and token chunks, once per block: 4 frames of 2x2 tokens in two chunks
    assert calls == [((1, 16, 2, 16), (8, 8))] * 2
